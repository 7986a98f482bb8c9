"""Test images, made in code (never checked in)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw


def make_image(
    size: tuple[int, int] = (400, 300), mode: str = "RGB", color: object = None
) -> Image.Image:
    """A picture with structure: a gradient and a few shapes, so resizes are visible."""
    width, height = size
    base = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.merge(
        "RGB",
        (
            base.getchannel(0),
            base.getchannel(0).transpose(Image.Transpose.ROTATE_90).resize(size),
            Image.new("L", size, 128),
        ),
    )
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=(220, 40, 40))
    draw.rectangle((0, 0, max(1, width // 10), max(1, height // 10)), fill=(20, 20, 200))
    if color is not None:
        image = Image.new("RGB", size, color)  # type: ignore[arg-type]
    return image if mode == "RGB" else image.convert(mode)


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(size: tuple[int, int] = (400, 300), **options: object) -> bytes:
    return encode(make_image(size), "JPEG", quality=90, **options)


def png(size: tuple[int, int] = (400, 300), mode: str = "RGB") -> bytes:
    return encode(make_image(size, mode), "PNG")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but carries almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

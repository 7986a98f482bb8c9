"""Hostile and broken sources for the decode-bound tests, built in code and kept tiny."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from tests import images


def _patch_sof(data: bytes, marker: int, size: tuple[int, int]) -> bytes:
    """Rewrite the dimensions of the JPEG frame header ``FF <marker>``."""
    at = data.index(bytes([0xFF, marker]))
    width, height = size
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def progressive_jpeg(size: tuple[int, int], mode: str = "L") -> bytes:
    """A progressive JPEG whose header claims ``size``: a few hundred bytes of file."""
    small = images.encode(images.make_image((16, 16), mode), "JPEG", progressive=True)
    return _patch_sof(small, 0xC2, size)


def baseline_jpeg(size: tuple[int, int], mode: str = "L") -> bytes:
    """A baseline JPEG whose header claims ``size`` (its data covers 16x16 only)."""
    small = images.encode(images.make_image((16, 16), mode), "JPEG")
    return _patch_sof(small, 0xC0, size)


def multiscan_jpeg(size: tuple[int, int]) -> bytes:
    """A baseline (SOF0) RGB JPEG whose first scan holds one component of three: libjpeg
    then buffers the whole image's coefficients, like a progressive file."""
    data = baseline_jpeg(size, "RGB")
    at = data.index(b"\xff\xda")
    length = struct.unpack(">H", data[at + 2 : at + 4])[0]
    first = data[at + 5 : at + 7]  # component 1's selector and tables
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + first + b"\x00\x3f\x00"
    return data[:at] + sos + data[at + 2 + length :]


def tiff_pages(pages: int, broken_page: int | None = None) -> bytes:
    """A little-endian TIFF of ``pages`` 1x1 grey pages sharing one strip, written by hand
    (Pillow's writer takes minutes for 100,000 pages). ``broken_page`` (0-based) lacks its
    ImageWidth and ImageLength tags."""
    header = b"II*\x00" + struct.pack("<I", 10) + b"\x80\x00"  # the one pixel is at 8
    out = [header]
    offset = len(header)
    for page in range(pages):
        tags = [
            (256, 3, 1, 1),  # ImageWidth
            (257, 3, 1, 1),  # ImageLength
            (258, 3, 1, 8),  # BitsPerSample
            (259, 3, 1, 1),  # Compression: none
            (262, 3, 1, 1),  # PhotometricInterpretation: black is zero
            (273, 4, 1, 8),  # StripOffsets
            (277, 3, 1, 1),  # SamplesPerPixel
            (278, 3, 1, 1),  # RowsPerStrip
            (279, 4, 1, 1),  # StripByteCounts
        ]
        if page == broken_page:
            tags = tags[2:]
        size = 2 + 12 * len(tags) + 4
        following = offset + size if page + 1 < pages else 0
        ifd = struct.pack("<H", len(tags))
        ifd += b"".join(struct.pack("<HHII", *tag) for tag in tags)
        out.append(ifd + struct.pack("<I", following))
        offset += size
    return b"".join(out)


def animated(fmt: str, frames: int, size: tuple[int, int] = (12, 10)) -> bytes:
    """An animated GIF, WEBP, PNG (APNG) or TIFF of ``frames`` distinct frames."""
    shots = [Image.new("RGB", size, (i * 37 % 256, i * 11 % 256, 90)) for i in range(frames)]
    buffer = io.BytesIO()
    options: dict[str, object] = {"save_all": True, "append_images": shots[1:]}
    if fmt in ("GIF", "WEBP", "PNG"):
        options["duration"] = 40
    if fmt == "WEBP":
        options["lossless"] = True
    shots[0].save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of every chunk of a PNG."""
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        chunks.append((pos, data[pos + 4 : pos + 8]))
        pos += 12 + length
    return chunks


def noisy_png(size: tuple[int, int] = (300, 200)) -> bytes:
    return images.encode(Image.effect_noise(size, 60).convert("RGB"), "PNG")


def truncated_png() -> bytes:
    """Cut in the middle of its (only) IDAT chunk."""
    data = noisy_png()
    at = next(pos for pos, kind in png_chunks(data) if kind == b"IDAT")
    length = struct.unpack(">I", data[at : at + 4])[0]
    return data[: at + 8 + length // 2]


def bad_crc_png() -> bytes:
    """Its IDAT's CRC is wrong."""
    data = noisy_png()
    at = next(pos for pos, kind in png_chunks(data) if kind == b"IDAT")
    length = struct.unpack(">I", data[at : at + 4])[0]
    crc_at = at + 8 + length
    crc = struct.unpack(">I", data[crc_at : crc_at + 4])[0] ^ 0xFFFF
    return data[:crc_at] + struct.pack(">I", crc) + data[crc_at + 4 :]


def corrupt_idat_png() -> bytes:
    """A PNG whose IDAT holds garbage (valid CRC): the zlib stream cannot be inflated."""
    width, height = 64, 48

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    garbage = bytes((i * 97 + 13) % 256 for i in range(600))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", garbage) + chunk(b"IEND", b"")
    )


def corrupt_tiff(compression: str = "tiff_deflate") -> bytes:
    """A compressed RGB TIFF whose strips hold garbage from their middle on (IFD intact)."""
    image = Image.effect_noise((200, 150), 60).convert("RGB")
    data = bytearray(images.encode(image, "TIFF", compression=compression))
    with Image.open(io.BytesIO(bytes(data))) as parsed:
        offsets, counts = parsed.tag_v2[273], parsed.tag_v2[279]
    for offset, count in zip(offsets, counts, strict=True):
        for at in range(offset + count // 2, offset + count):
            data[at] = (at * 131 + 7) % 256
    return bytes(data)


def old_jpeg_tiff() -> bytes:
    """A JPEG-compressed TIFF relabelled as old-style JPEG (Compression=6), without the
    JPEGInterchangeFormat tags old-style files need."""
    data = images.encode(images.make_image((64, 48)), "TIFF", compression="jpeg")
    with Image.open(io.BytesIO(data)) as parsed:
        ifd = parsed.tag_v2.offset
    assert ifd is not None
    count = struct.unpack_from("<H", data, ifd)[0]
    out = bytearray(data)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == 259:
            struct.pack_into("<H", out, at + 8, 6)
    return bytes(out)


def planar_tiff(size: tuple[int, int] = (200, 150), truncated: bool = True) -> bytes:
    """An uncompressed planar (PlanarConfiguration=2) RGB TIFF, by hand: the header and IFD
    first, then one strip a band; ``truncated`` cuts it in the middle of the last band."""
    width, height = size
    bands = [band.tobytes() for band in images.make_image(size).split()]
    tags_count = 10
    ifd_at = 8
    bits_at = ifd_at + 2 + 12 * tags_count + 4
    offsets_at, counts_at = bits_at + 6, bits_at + 18
    pixels_at = bits_at + 30
    strips = [pixels_at + i * width * height for i in range(3)]
    tags = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, 3, bits_at),
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 3, offsets_at),
        (277, 3, 1, 3),
        (278, 3, 1, height),
        (279, 4, 3, counts_at),
        (284, 3, 1, 2),  # PlanarConfiguration: separate
    ]
    out = b"II*\x00" + struct.pack("<I", ifd_at)
    out += struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    out += struct.pack("<I", 0)
    out += struct.pack("<HHH", 8, 8, 8) + struct.pack("<III", *strips)
    out += struct.pack("<III", *[width * height] * 3)
    out += b"".join(bands)
    return out[: len(out) - width * height // 2] if truncated else out


def heif_branded(avif: bytes) -> bytes:
    """An AVIF relabelled as HEVC HEIF: its ftyp brands say heic and mif1, not avif."""
    size = struct.unpack(">I", avif[:4])[0]
    return avif[:8] + avif[8:size].replace(b"avif", b"heic").replace(b"avis", b"heix") + avif[size:]


def webp_canvas(size: tuple[int, int]) -> bytes:
    """A lossless WebP whose VP8L header claims ``size`` (its data is 16x16)."""
    data = images.encode(Image.new("RGB", (16, 16)), "WEBP", lossless=True)
    at = data.index(b"VP8L") + 8
    bits = int.from_bytes(data[at + 1 : at + 5], "little")
    bits = (bits & ~0xFFFFFFF) | (size[0] - 1) | ((size[1] - 1) << 14)
    return data[: at + 1] + bits.to_bytes(4, "little") + data[at + 5 :]


def picture(side: int, mode: str) -> Image.Image:
    """A gradient with some structure: compresses like a photo's smooth areas, not like noise."""
    ramp = Image.linear_gradient("L").resize((side, side))
    turned = ramp.transpose(Image.Transpose.ROTATE_90)
    rgb = Image.merge("RGB", (ramp, turned, Image.new("L", (side, side), 128)))
    if mode == "RGB":
        return rgb
    if mode == "RGBA":
        return Image.merge("RGBA", (*rgb.split(), turned))
    if mode == "I;16":
        return ramp.point(lambda v: v * 257, "I").convert("I;16")
    if mode == "P":
        return rgb.quantize(64)
    return rgb.convert(mode)

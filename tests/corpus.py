"""A corpus of broken and unusual images, made in code (deterministic; a few hundred files).

``build()`` returns :class:`Entry` values: every valid base image (JPEG, PNG, GIF, WebP,
TIFF, BMP, AVIF in unusual modes, with bad metadata, multi-frame) and, for the main bases,
their mutations: truncated at every chunk/segment/block/box boundary and at a few offsets
inside the data, wrong CRCs, huge and zero dimensions, seeded bit flips in the header. Plus
files that are no image at all. Each entry's ``recipe`` names it in reports, e.g.
``png-palette-trns/cut-2-PLTE`` is that PNG cut right after its PLTE chunk.

``write(directory)`` saves them as files (with a ``manifest.json``), for the replay test,
``benchmarks/corpus_replay.py`` and the fuzzer's seed corpus.
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms

from tests import corpus_formats as cf
from tests.images import make_image

SIZE = (96, 72)
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Entry:
    recipe: str  # "<base>/<mutation>", or "<base>" for the valid base itself
    fmt: str  # the family it is counted under: JPEG, PNG, GIF, WEBP, TIFF, BMP, AVIF, OTHER
    data: bytes


def save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def picture(mode: str = "RGB", size: tuple[int, int] = SIZE) -> Image.Image:
    image = make_image(size, mode)
    if mode in ("RGBA", "LA"):  # real transparency: a ramp from clear to opaque
        image.putalpha(Image.linear_gradient("L").resize(size))
    return image


def frames(count: int, mode: str = "RGB") -> list[Image.Image]:
    return [
        make_image(SIZE, color=(40 * i % 256, 90, 200 - 30 * i)).convert(mode) for i in range(count)
    ]


def exif(orientation: int) -> bytes:
    data = Image.Exif()
    data[0x0112] = orientation
    return data.tobytes()


def exif_raw(entry_type: int, count: int, value: bytes, ifd: int = 8) -> bytes:
    """A TIFF-structured EXIF block with one Orientation entry of any type (often wrong)."""
    body = b"II*\x00" + struct.pack("<I", ifd) + struct.pack("<H", 1)
    return (
        b"Exif\x00\x00" + body + struct.pack("<HHI", 0x0112, entry_type, count) + value + bytes(4)
    )


def srgb() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def noise(seed: int, length: int) -> bytes:
    return random.Random(seed).randbytes(length)


# --- valid bases ---------------------------------------------------------------------------


def jpeg_bases() -> Iterator[tuple[str, bytes]]:
    rgb = picture()
    yield "jpeg-baseline", save(rgb, "JPEG", quality=85)
    yield "jpeg-progressive", save(rgb, "JPEG", quality=85, progressive=True)
    yield "jpeg-grey", save(picture("L"), "JPEG")
    yield "jpeg-cmyk", save(picture("CMYK"), "JPEG")
    yield "jpeg-444-restart", save(rgb, "JPEG", subsampling=0, restart_marker_blocks=2)
    yield "jpeg-icc-srgb", save(rgb, "JPEG", icc_profile=srgb())
    yield "jpeg-icc-garbage", save(rgb, "JPEG", icc_profile=noise(1, 600))
    yield "jpeg-icc-truncated", save(rgb, "JPEG", icc_profile=srgb()[:200])
    yield "jpeg-icc-huge", save(rgb, "JPEG", icc_profile=srgb() + noise(2, 300_000))
    yield "jpeg-cmyk-icc-garbage", save(picture("CMYK"), "JPEG", icc_profile=noise(3, 600))
    yield "jpeg-exif-garbage", save(rgb, "JPEG", exif=b"Exif\x00\x00" + noise(4, 200))
    yield "jpeg-exif-huge", save(rgb, "JPEG", exif=exif(6)[:-1] + noise(5, 60_000))
    yield (
        "jpeg-exif-ifd-out-of-range",
        save(rgb, "JPEG", exif=exif_raw(3, 1, b"\x06\x00\x00\x00", 9_999)),
    )
    yield "jpeg-exif-orientation-ascii", save(rgb, "JPEG", exif=exif_raw(2, 4, b"six\x00"))
    yield (
        "jpeg-exif-orientation-rational",
        save(rgb, "JPEG", exif=exif_raw(5, 1, b"\x08\x00\x00\x00")),
    )
    for value in range(0, 10):
        yield f"jpeg-orientation-{value}", save(rgb, "JPEG", exif=exif(value))
    mpo = io.BytesIO()
    rgb.save(mpo, "MPO", save_all=True, append_images=[picture("RGB").rotate(90)])
    yield "jpeg-mpo", mpo.getvalue()


def png_bases() -> Iterator[tuple[str, bytes]]:
    rgb = picture()
    yield "png-rgb", save(rgb, "PNG")
    yield "png-rgba", save(picture("RGBA"), "PNG")
    yield "png-grey", save(picture("L"), "PNG")
    yield "png-la", save(picture("LA"), "PNG")
    yield "png-1bit", save(picture("1"), "PNG")
    yield "png-palette", save(picture("P"), "PNG")
    yield "png-palette-trns", save(picture("P"), "PNG", transparency=0)
    yield "png-rgb-trns", save(rgb, "PNG", transparency=(220, 40, 40))
    yield "png-grey16", save(picture("L").convert("I;16"), "PNG")
    yield "png-palette-4bit", save(picture("P").quantize(16), "PNG", bits=4)
    width, height = SIZE
    row = b"".join(struct.pack(">HHH", x * 600, 30_000, 65_535 - x * 600) for x in range(width))
    yield "png-rgb16", cf.png_raw(width, height, 16, 2, [row] * height)
    row_a = b"".join(struct.pack(">HHHH", x * 600, 30_000, 500, x * 680) for x in range(width))
    yield "png-rgba16", cf.png_raw(width, height, 16, 6, [row_a] * height)
    yield "png-exif-orientation-6", save(rgb, "PNG", exif=exif(6))
    yield "png-icc-garbage", save(rgb, "PNG", icc_profile=noise(6, 600))
    ztxt = cf.png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * 20_000_000, 9))
    plain = save(rgb, "PNG")
    yield "png-ztxt-bomb", plain[:33] + ztxt + plain[33:]
    yield "apng", save(frames(4)[0], "PNG", save_all=True, append_images=frames(4)[1:], duration=50)
    anim = frames(3, "RGBA")
    yield "apng-rgba", save(anim[0], "PNG", save_all=True, append_images=anim[1:], disposal=1)


def gif_bases() -> Iterator[tuple[str, bytes]]:
    yield "gif-single", save(picture("P"), "GIF")
    yield "gif-transparent", save(picture("P"), "GIF", transparency=0)
    anim = frames(5, "P")
    yield (
        "gif-animated",
        save(anim[0], "GIF", save_all=True, append_images=anim[1:], duration=40, loop=0),
    )
    yield (
        "gif-animated-transparent",
        save(anim[0], "GIF", save_all=True, append_images=anim[1:], transparency=0, disposal=2),
    )


def webp_bases() -> Iterator[tuple[str, bytes]]:
    yield "webp-lossy", save(picture(), "WEBP", quality=70)
    yield "webp-lossless", save(picture(), "WEBP", lossless=True)
    yield "webp-alpha", save(picture("RGBA"), "WEBP", quality=70)
    yield "webp-exif-orientation-8", save(picture(), "WEBP", exif=exif(8))
    yield "webp-icc-garbage", save(picture(), "WEBP", icc_profile=noise(7, 600))
    anim = frames(4)
    yield "webp-animated", save(anim[0], "WEBP", save_all=True, append_images=anim[1:], duration=60)


def tiff_bases() -> Iterator[tuple[str, bytes]]:
    rgb = picture()
    yield "tiff-rgb", save(rgb, "TIFF")
    yield "tiff-lzw", save(rgb, "TIFF", compression="tiff_lzw")
    yield "tiff-jpeg", save(rgb, "TIFF", compression="jpeg")
    yield "tiff-multipage", save(rgb, "TIFF", save_all=True, append_images=frames(3)[1:])
    yield "tiff-cmyk", save(picture("CMYK"), "TIFF")
    yield "tiff-lab", save(picture("LAB"), "TIFF")
    yield "tiff-grey16", save(picture("L").convert("I;16"), "TIFF")
    yield "tiff-float", save(picture("L").convert("F"), "TIFF")
    yield "tiff-1bit-g4", save(picture("1"), "TIFF", compression="group4")
    yield "tiff-orientation-6", save(rgb, "TIFF", tiffinfo={0x0112: 6})
    planes = [channel.tobytes() for channel in rgb.split()]
    yield "tiff-planar", cf.tiff_planar(rgb.width, rgb.height, planes)
    tiny = Image.new("L", (1, 1))
    yield "tiff-1000-pages", save(tiny, "TIFF", save_all=True, append_images=[tiny] * 999)


def bmp_bases() -> Iterator[tuple[str, bytes]]:
    yield "bmp-rgb", save(picture(), "BMP")
    yield "bmp-rgba", save(picture("RGBA"), "BMP")
    yield "bmp-palette", save(picture("P"), "BMP")
    yield "bmp-1bit", save(picture("1"), "BMP")


def avif_bases() -> Iterator[tuple[str, bytes]]:
    yield "avif-rgb", save(picture(), "AVIF", quality=50, speed=10)
    yield "avif-alpha", save(picture("RGBA"), "AVIF", quality=50, speed=10)


def other_bases() -> Iterator[tuple[str, bytes]]:
    yield "empty", b""
    yield "one-byte", b"\xff"
    yield "png-signature-only", cf.PNG_SIGNATURE
    yield "jpeg-soi-only", b"\xff\xd8"
    yield "gif-header-only", b"GIF89a"
    yield "riff-header-only", b"RIFF\x10\x00\x00\x00WEBP"
    yield "html", b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"
    yield "svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    yield "pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
    yield "zip", b"PK\x03\x04" + bytes(26) + b"x.jpg"
    yield "text-csv", b"name,size\nphoto.jpg,12\n"
    yield "psd", psd()
    yield "psd-huge", psd(100_000, 100_000)
    yield "ico", save(picture(), "ICO", sizes=[(32, 32)])
    yield "ico-header-only", b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x01\x00\x20\x00"


def psd(width: int = 8, height: int = 6) -> bytes:
    """A minimal RGB Photoshop file: header, empty sections, raw planar pixels."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    pixels = bytes(width * height * 3) if width * height < 10_000 else b""
    return header + bytes(12) + struct.pack(">H", 0) + pixels


FAMILIES: dict[str, Callable[[], Iterator[tuple[str, bytes]]]] = {
    "JPEG": jpeg_bases,
    "PNG": png_bases,
    "GIF": gif_bases,
    "WEBP": webp_bases,
    "TIFF": tiff_bases,
    "BMP": bmp_bases,
    "AVIF": avif_bases,
    "OTHER": other_bases,
}


# --- mutations -----------------------------------------------------------------------------

Mutation = tuple[str, bytes]
HUGE = ((65535, 65535), (100_000, 100_000))


def cuts(data: bytes, boundaries: list[tuple[str, int]]) -> Iterator[Mutation]:
    """Truncated at every boundary, then at a few offsets inside the data."""
    seen: set[int] = set()
    for name, offset in boundaries:
        if 0 < offset < len(data) and offset not in seen:
            seen.add(offset)
            yield f"cut-{name}", data[:offset]
    for name, offset in (("third", len(data) // 3), ("two-thirds", len(data) * 2 // 3)):
        if offset not in seen:
            yield f"cut-{name}", data[:offset]
    yield "cut-last-byte", data[:-1]


def damage(recipe: str, data: bytes) -> Iterator[Mutation]:
    """Seeded bit flips in the header, garbage in the middle, garbage after the end."""
    rng = random.Random(zlib.crc32(recipe.encode()))
    header = min(len(data), 64)
    for index in range(4):
        out = bytearray(data)
        for _ in range(index + 1):
            out[rng.randrange(header)] ^= 1 << rng.randrange(8)
        yield f"flip-{index}", bytes(out)
    middle = len(data) // 2
    yield "garbage-middle", data[:middle] + noise(middle, 32) + data[middle + 32 :]
    yield "garbage-after-end", data + noise(len(data), 1000)


def png_mutations(data: bytes) -> Iterator[Mutation]:
    yield from cuts(data, cf.png_boundaries(data))
    kinds = {kind for _, kind, _ in cf.png_chunks(data)}
    for kind in sorted(kinds & {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL"}):
        yield f"crc-{kind.decode()}", cf.png_bad_crc(data, kind)
    for width, height in (*HUGE, (0, 0), (0, SIZE[1])):
        yield f"ihdr-{width}x{height}", cf.png_ihdr(data, width, height)
    stale = cf.png_ihdr(data, 65535, 65535)
    yield "ihdr-65535x65535-stale-crc", stale[:29] + data[29:33] + stale[33:]
    ihdr = next(data[p + 8 : end - 4] for p, kind, end in cf.png_chunks(data) if kind == b"IHDR")
    yield "ihdr-depth-3", cf.png_replace(data, b"IHDR", ihdr[:8] + b"\x03" + ihdr[9:])
    yield "ihdr-colour-type-1", cf.png_replace(data, b"IHDR", ihdr[:9] + b"\x01" + ihdr[10:])
    idat = next(data[p + 8 : end - 4] for p, kind, end in cf.png_chunks(data) if kind == b"IDAT")
    yield "idat-bad-adler", cf.png_replace(data, b"IDAT", idat[:-4] + bytes(4))


# The progressive JPEG bombs of issue 9 (65500, 30000 and 13000 px a side) and the largest
# size a JPEG header can hold (libjpeg refuses more than 65500). A baseline JPEG is counted
# at its draft (1/8) size, so 65500 px a side passes the 100 MP cap and decodes 8188 x 8188
# (67 MP) per spec: the worst that LIMITS let through, seconds of CPU.
BOMBS = ((65535, 65535), (65500, 65500), (30000, 30000), (13000, 13000))
HEADER_ONLY = ((65535, 65535),)


def jpeg_mutations(
    data: bytes, sizes: tuple[tuple[int, int], ...] = HEADER_ONLY
) -> Iterator[Mutation]:
    yield from cuts(data, cf.jpeg_boundaries(data))
    for width, height in sizes:
        yield f"sof-{width}x{height}", cf.jpeg_sof(data, width, height)
    yield "sof-height-0", cf.jpeg_sof(data, SIZE[0], 0)
    yield "sof-width-0", cf.jpeg_sof(data, 0, SIZE[1])


def gif_mutations(data: bytes) -> Iterator[Mutation]:
    yield from cuts(data, cf.gif_boundaries(data))
    for width, height in ((65535, 65535), (0, 0)):
        yield f"dims-{width}x{height}", cf.gif_dimensions(data, width, height)


def webp_mutations(data: bytes) -> Iterator[Mutation]:
    yield from cuts(data, cf.riff_boundaries(data))
    first = next(kind for _, kind, _ in cf.riff_chunks(data))
    huge = (100_000, 100_000) if first == b"VP8X" else (16383, 16383)
    yield f"dims-{huge[0]}x{huge[1]}", cf.webp_dimensions(data, *huge)
    if first == b"VP8X":
        yield "dims-16777216x16777216", cf.webp_dimensions(data, 1 << 24, 1 << 24)
    if first == b"VP8 ":
        yield "dims-0x0", cf.webp_dimensions(data, 0, 0)
    yield "riff-size-huge", data[:4] + struct.pack("<I", 0xFFFFFFF0) + data[8:]


def tiff_mutations(data: bytes) -> Iterator[Mutation]:
    (ifd,) = struct.unpack("<I", data[4:8])
    yield from cuts(data, [("header", 8), ("ifd", ifd + 2), ("ifd-end", ifd + 100)])
    for width, height in (*HUGE, (0, 0)):
        yield f"dims-{width}x{height}", cf.tiff_tag(cf.tiff_tag(data, 256, width), 257, height)
    yield "ifd-loop", cf.tiff_next_ifd(data)
    yield "ifd-next-out-of-range", cf.tiff_next_ifd(data, 0x7FFFFFF0)
    yield "ifd-out-of-range", data[:4] + struct.pack("<I", 0x7FFFFFF0) + data[8:]
    yield "strips-out-of-range", cf.tiff_tag(data, 273, 0x7FFFFF00)
    yield "bits-per-sample-7", cf.tiff_tag(data, 258, 7)
    yield "rows-per-strip-0", cf.tiff_tag(data, 278, 0)


def bmp_mutations(data: bytes) -> Iterator[Mutation]:
    yield from cuts(data, cf.bmp_boundaries(data))
    for width, height in (*HUGE, (0, 0), (SIZE[0], -SIZE[1]), (100_000, -100_000)):
        yield f"dims-{width}x{height}", cf.bmp_dimensions(data, width, height)
    yield "bits-per-pixel-7", data[:28] + struct.pack("<H", 7) + data[30:]
    yield "pixels-out-of-range", data[:10] + struct.pack("<I", 0x7FFFFFF0) + data[14:]


def avif_mutations(data: bytes) -> Iterator[Mutation]:
    yield from cuts(data, cf.isobmff_boundaries(data))
    for width, height in (*HUGE, (0, 0)):
        yield f"ispe-{width}x{height}", cf.avif_dimensions(data, width, height)


MUTATED: dict[str, Callable[[bytes], Iterator[Mutation]]] = {
    "jpeg-progressive": lambda data: jpeg_mutations(data, BOMBS),
    "jpeg-baseline": lambda data: jpeg_mutations(data, BOMBS[:2]),
    "jpeg-cmyk": lambda data: jpeg_mutations(data, BOMBS[1:2]),
    "jpeg-orientation-6": jpeg_mutations,
    "png-rgb": png_mutations,
    "png-palette-trns": png_mutations,
    "png-rgb16": png_mutations,
    "apng": png_mutations,
    "gif-transparent": gif_mutations,
    "gif-animated": gif_mutations,
    "webp-lossy": webp_mutations,
    "webp-lossless": webp_mutations,
    "webp-animated": webp_mutations,
    "tiff-rgb": tiff_mutations,
    "tiff-multipage": tiff_mutations,
    "tiff-planar": tiff_mutations,
    "bmp-rgb": bmp_mutations,
    "bmp-palette": bmp_mutations,
    "avif-rgb": avif_mutations,
}


def build() -> list[Entry]:
    """Every base image, and every mutation of the bases in ``MUTATED``."""
    entries: list[Entry] = []
    for fmt, bases in FAMILIES.items():
        for name, data in bases():
            entries.append(Entry(name, fmt, data))
            mutate = MUTATED.get(name)
            if mutate is None:
                continue
            mutations = [*mutate(data), *damage(name, data)]
            entries.extend(Entry(f"{name}/{m}", fmt, mutated) for m, mutated in mutations)
    recipes = [entry.recipe for entry in entries]
    assert len(set(recipes)) == len(recipes), "two corpus entries share a recipe name"
    return entries


def file_name(index: int, recipe: str) -> str:
    return f"{index:04d}-{re.sub(r'[^a-z0-9]+', '-', recipe.lower()).strip('-')}.bin"


def write(directory: Path) -> list[tuple[Path, Entry]]:
    """The corpus as files in ``directory`` plus ``manifest.json`` (file -> recipe, format)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for index, entry in enumerate(build()):
        path = directory / file_name(index, entry.recipe)
        path.write_bytes(entry.data)
        written.append((path, entry))
    manifest = {path.name: [entry.recipe, entry.fmt] for path, entry in written}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return written

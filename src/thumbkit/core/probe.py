"""Header-only inspection of a source: format, size, orientation, frames, decode cost.

Both engines and the upload validator call this before any pixel is decoded, so the
format allow-list, the frame cap and the pixel rule are the same everywhere::

    info = probe(data, get_settings().limits)              # raises SourceTooLarge/Unreadable
    info = probe(data, limits, target=(300, 200))          # counted as decoded for 300x200

Pixels are counted as the decoder will allocate them. A baseline JPEG is counted after
draft (DCT) scaling; a progressive or multi-scan JPEG at its full header size, because
libjpeg then holds the whole image's DCT coefficients (2 to 6 bytes a pixel) whatever the
output scale. Frames are counted by walking the container up to ``MAX_FRAMES`` + 1 (TIFF
IFDs, GIF blocks, WebP chunks), never by decoding, so a 100,000-page TIFF is refused at once.

This module is part of the pixel core: it imports Pillow and ``thumbkit.conf``,
``thumbkit.exceptions`` and ``thumbkit.core.limits`` only.
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image, ImageFile

from ..conf import Limits
from ..exceptions import SourceTooLarge, SourceUnreadable
from . import limits as checks

__all__ = ["SourceInfo", "check_pixels", "open_image", "orientation", "probe"]

ORIENTATION_TAG = 0x0112
DRAFTABLE = frozenset({"JPEG", "MPO"})  # formats whose decoder can scale down while decoding
# Errors Pillow raises on bad input (per its own fuzzing contract) ...
DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    NotImplementedError,
    OverflowError,
    EOFError,
)
# ... and those its plugins raise on some corrupt files anyway (TIFF's "Missing dimensions"
# TypeError, struct.error on short reads): a source problem too, never a crash.
PLUGIN_ERRORS: tuple[type[Exception], ...] = (
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ZeroDivisionError,
    RuntimeError,
    struct.error,
)
SOURCE_ERRORS = DECODE_ERRORS + PLUGIN_ERRORS

# JPEG start-of-frame markers, and those libjpeg can decode at reduced scale with a
# single-scan buffer (baseline, extended sequential Huffman and arithmetic).
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_SEQUENTIAL = frozenset({0xC0, 0xC1, 0xC9})
AVIF_BRANDS = frozenset({b"avif", b"avis"})


@dataclass(frozen=True)
class SourceInfo:
    """What the header says about a source (sizes as stored, before EXIF rotation)."""

    format: str  # Pillow's format name, one of LIMITS["FORMATS"]
    width: int
    height: int
    orientation: int  # EXIF orientation 1..8; 1 when unknown or broken
    frames: int  # counted up to LIMITS["MAX_FRAMES"] + 1 only
    full_decode: bool  # the decoder holds the whole image whatever the output size

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def oriented_size(self) -> tuple[int, int]:
        """The size as displayed, after EXIF rotation."""
        swapped = self.orientation in (5, 6, 7, 8)
        return (self.height, self.width) if swapped else (self.width, self.height)

    def decoded_size(self, target: tuple[int, int] | None = None) -> tuple[int, int]:
        """The pixels the decoder allocates to serve ``target`` (stored orientation).

        ``None`` is the smallest a draftable JPEG can decode to (1/8 scale). This is
        Pillow's ``draft()`` arithmetic; the vips engine asks libjpeg for the same scale.
        """
        if self.full_decode:
            return self.size
        scale = 8 if target is None else _draft_scale(self.size, target)
        return -(-self.width // scale), -(-self.height // scale)


def _draft_scale(size: tuple[int, int], target: tuple[int, int]) -> int:
    ratio = min(size[0] // max(target[0], 1), size[1] // max(target[1], 1))
    return next((s for s in (8, 4, 2) if ratio >= s), 1)


def probe(data: bytes, limits: Limits, *, target: tuple[int, int] | None = None) -> SourceInfo:
    """Identify ``data`` among the allowed formats from its header and check LIMITS.

    Checks bytes, format, frames and pixels (as decoded for ``target``, the largest decode
    any requested output needs, in stored orientation; ``None``: the least a JPEG can be
    drafted to). Raises ``SourceTooLarge`` or ``SourceUnreadable`` saying which limit and
    by how much; nothing is decoded.
    """
    image, info = open_image(data, limits)
    with contextlib.closing(image):
        check_pixels(info, limits, target)
    return info


def check_pixels(info: SourceInfo, limits: Limits, target: tuple[int, int] | None) -> None:
    """The pixel cap on what the decoder will allocate for ``target``."""
    reason = ""
    if info.format in DRAFTABLE and info.full_decode:
        reason = " (a progressive or multi-scan JPEG is decoded at full size)"
    checks.check_source(info.decoded_size(target), 1, limits, reason)


def open_image(data: bytes, limits: Limits) -> tuple[ImageFile.ImageFile, SourceInfo]:
    """Open ``data`` (header only) and check bytes, format, frames and, for sources that
    cannot be decoded at reduced scale, pixels. The caller closes the image; a draftable
    JPEG's pixels are checked by the caller once it knows its target (``check_pixels``).
    """
    checks.check_bytes(len(data), limits)
    fmt = _identify(data, limits.formats)
    if fmt == "WEBP":
        # Pillow's WebP decoder allocates two canvases at open: check the RIFF header first.
        width, height, frames = _webp_header(data, limits.max_frames)
        checks.check_source((width, height), frames, limits)
    image = _open(data, fmt)
    try:
        info = _inspect(image, data, limits)
        checks.check_frames(info.frames, limits)
        if info.full_decode:
            check_pixels(info, limits, None)
    except BaseException:
        image.close()
        raise
    return image, info


def _identify(data: bytes, formats: tuple[str, ...]) -> str:
    """The first allowed format whose signature matches: no plugin has run yet."""
    Image.init()
    prefix = data[:16]
    for name in formats:
        _factory, accept = Image.OPEN.get(name, (None, None))
        if _factory is None or not _accepts(accept, prefix):
            continue
        if name == "AVIF" and not _is_avif(data):
            continue  # HEIF with HEVC (heic, heix, mif1 without avif): not an allowed format
        return name
    raise SourceUnreadable(
        f"The source is not an image in an allowed format ({', '.join(formats)})."
    )


def _accepts(accept: Callable[[bytes], bool | str] | None, prefix: bytes) -> bool:
    if accept is None:
        return True
    try:
        result = accept(prefix)
    except SOURCE_ERRORS:
        return False
    # A string is Pillow's "this is the format, but its codec is missing": not openable.
    return bool(result) and not isinstance(result, str)


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    """``Image.open`` for one format, without its check against Pillow's process-wide
    ``MAX_IMAGE_PIXELS``: LIMITS decide instead, counting JPEGs as they will be decoded."""
    factory, _accept = Image.OPEN[fmt]
    try:
        image = factory(io.BytesIO(data), "")
    except Image.DecompressionBombError as exc:  # raised by a plugin itself
        raise SourceTooLarge(f"The source is a decompression bomb: {exc}") from exc
    except MemoryError as exc:
        raise SourceTooLarge(f"The source is too large to open: {exc}") from exc
    except SOURCE_ERRORS as exc:
        raise SourceUnreadable(f"The {fmt} source cannot be read: {_describe(exc)}") from exc
    assert isinstance(image, ImageFile.ImageFile)
    return image


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def _read_errors(what: str) -> Iterator[None]:
    try:
        yield
    except SOURCE_ERRORS as exc:
        raise SourceUnreadable(f"The source's {what} cannot be read: {_describe(exc)}") from exc


def _inspect(image: ImageFile.ImageFile, data: bytes, limits: Limits) -> SourceInfo:
    fmt = str(image.format)
    with _read_errors("header"):
        width, height = image.size
    if width <= 0 or height <= 0:
        raise SourceUnreadable(f"The source's header says it is {width}x{height} pixels.")
    frames = _frames(image, data, limits.max_frames)
    full = fmt not in DRAFTABLE or _jpeg_needs_full_buffer(data)
    return SourceInfo(fmt, width, height, orientation(image), frames, full)


def orientation(image: ImageFile.ImageFile) -> int:
    """EXIF orientation from the header; 1 when missing or broken."""
    if image.format == "PNG" and image.tile and "exif" not in image.info:
        return 1  # getexif() would decode the pixels to look for a late eXIf chunk
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except SOURCE_ERRORS:
        return 1  # broken EXIF is common; treat it as "no orientation"
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


# --- frames: walk the container, never decode --------------------------------------------------


def _frames(image: ImageFile.ImageFile, data: bytes, cap: int | None) -> int:
    fmt = image.format
    with _read_errors("frames"):
        if fmt == "TIFF":
            return _tiff_pages(data, cap)
        if fmt == "GIF":
            return _gif_frames(data, cap)
        if fmt == "WEBP":
            return _webp_header(data, cap)[2]
        # PNG (acTL), MPO (its index) and AVIF (its track) state their count in the header.
        return max(1, int(getattr(image, "n_frames", 1)))


def _over(count: int, cap: int | None) -> bool:
    return cap is not None and count > cap


def _tiff_pages(data: bytes, cap: int | None) -> int:
    """Pages in the main IFD chain, counted up to ``cap`` + 1 (Pillow's ``n_frames`` walks
    every page, with a list lookup per page: quadratic)."""
    order = "<" if data[:2] == b"II" else ">"
    (version,) = struct.unpack_from(order + "H", data, 2)
    big = version == 43
    count_fmt, entry_size, offset_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
    (offset,) = struct.unpack_from(order + offset_fmt, data, 8 if big else 4)
    count_size, offset_size = struct.calcsize(count_fmt), struct.calcsize(offset_fmt)
    seen: set[int] = set()
    pages = 0
    while offset and offset not in seen and not _over(pages, cap):
        if offset + count_size > len(data):
            break  # a dangling pointer ends the chain, as in Pillow
        seen.add(offset)
        pages += 1
        (entries,) = struct.unpack_from(order + count_fmt, data, offset)
        next_at = offset + count_size + entries * entry_size
        if next_at + offset_size > len(data):
            break
        (offset,) = struct.unpack_from(order + offset_fmt, data, next_at)
    return max(pages, 1)


def _gif_frames(data: bytes, cap: int | None) -> int:
    """Image descriptors, counted up to ``cap`` + 1 by skipping sub-blocks unread (Pillow's
    ``seek`` decodes every frame before the one asked for)."""
    pos = 13 + _color_table(data[10])
    frames = 0
    while pos < len(data) and not _over(frames, cap):
        block = data[pos]
        if block == 0x2C:  # image descriptor: 10 bytes, a local table, LZW size, data
            frames += 1
            if pos + 10 > len(data):
                break
            pos = _skip_sub_blocks(data, pos + 11 + _color_table(data[pos + 9]))
        elif block == 0x21:  # extension: label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        else:
            break  # the trailer, or garbage after the last frame
    return max(frames, 1)


def _color_table(flags: int) -> int:
    return 3 * (2 << (flags & 7)) if flags & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def _webp_header(data: bytes, cap: int | None) -> tuple[int, int, int]:
    """Canvas size and ANMF frames (up to ``cap`` + 1) from the RIFF chunks."""
    pos, end = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    size: tuple[int, int] | None = None
    frames = 0
    while pos + 8 <= end and not _over(frames, cap):
        kind, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + min(length, 16)]
        if kind == b"ANMF":
            frames += 1
        elif size is None:
            size = _webp_chunk_size(kind, body)
        pos += 8 + length + (length & 1)
    if size is None:
        raise SourceUnreadable("The WebP source has no readable size in its header.")
    return size[0], size[1], max(frames, 1)


def _webp_chunk_size(kind: bytes, body: bytes) -> tuple[int, int] | None:
    if kind == b"VP8X" and len(body) >= 10:
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if kind == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", body, 6)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


# --- JPEG: will libjpeg hold the whole image? --------------------------------------------------


def _jpeg_needs_full_buffer(data: bytes) -> bool:
    """True for a progressive, lossless or hierarchical JPEG, or one whose first scan does not
    hold every component (multi-scan): libjpeg then allocates a coefficient buffer for the
    full image even when asked for 1/8 scale. This is libjpeg's own test
    (``has_multiple_scans``), read from the markers before the first scan; anything that
    cannot be read is counted at full size.
    """
    pos, sof, components = 2, 0, 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            # Junk between segments: libjpeg and Pillow skip to the next 0xFF, so do we.
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return True
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            pos += 2
            continue
        if marker == 0xD9:
            return True
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in JPEG_SOF and not sof and pos + 9 < len(data):
            sof, components = marker, data[pos + 9]
        elif marker == 0xDA:
            scan = data[pos + 4] if pos + 4 < len(data) else 0
            return sof not in JPEG_SEQUENTIAL or scan < components
        if length < 2:
            return True
        pos += 2 + length
    return True


def _is_avif(data: bytes) -> bool:
    """An ISO-BMFF file whose ftyp lists an AVIF brand (not only HEIF's heic/heix/mif1)."""
    if data[4:8] != b"ftyp":
        return False
    length = int.from_bytes(data[0:4], "big")
    box = data[8 : min(max(length, 16), 4096)]
    brands = {box[i : i + 4] for i in range(0, len(box) - 3, 4) if i != 4}
    return bool(brands & AVIF_BRANDS)

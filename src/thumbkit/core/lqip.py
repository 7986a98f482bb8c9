"""Low-quality image placeholders: a source's dominant colour and its ThumbHash.

Both are computed once per source and generation, from the pixels the engine has already
decoded (``compute``), and stored with every record of that source, so a page reads them
with the records it reads anyway. ``preview_uri`` turns a ThumbHash back into a small PNG
``data:`` URI at render time: pure CPU, no I/O, remembered per hash.

The ThumbHash comes from ``thash`` (pure Python; NumPy, when installed, speeds it up, with
the same output by its documentation). Its encoder takes up to 100 px a side and its cost
grows with the pixel count, while the hash keeps at most 7 coefficients a side: an image of
``HASH_SIDE`` px a side gives nearly the hash of a 100 px one (a nibble or two apart, on the
pictures tried) at a tenth of the cost.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import logging
from dataclasses import dataclass

from PIL import Image

logger = logging.getLogger("thumbkit")

HASH_SIDE = 32  # the longer side of the image the hash and colour are computed from
PREVIEW_SIDE = 16  # the decoded preview's longer side: ~650 bytes of URI, scaled up smoothly
OPAQUE = 128  # pixels at least this opaque count for the dominant colour
_RESIZABLE = frozenset({"RGB", "RGBA", "L", "LA"})
_BIN_SHIFT = 5  # 8 levels a channel: 512 colour bins for the dominant colour


@dataclass(frozen=True)
class Lqip:
    """A source's placeholder: ``color`` is CSS hex (``"#a1b2c3"``), ``thumbhash`` base64.

    Either may be ``""``: a fully transparent source has no colour, and the hash is left
    out when ``thash`` is not installed.
    """

    color: str = ""
    thumbhash: str = ""


EMPTY = Lqip()


def compute(image: Image.Image, extent: tuple[float, float] | None = None) -> Lqip:
    """The placeholder of a decoded source (any mode, EXIF-oriented).

    ``extent`` is the whole source in ``image`` coordinates when the image holds a reduction
    with partial edge blocks (``shrink.Decoded.extent``). A failure here never fails the
    generation: the thumbnails matter more than their placeholder.
    """
    try:
        small = _small(image, extent)
        return Lqip(color=dominant_color(small), thumbhash=_thumbhash(small))
    except Exception:  # Pillow or thash on odd pixels: log it, make the thumbnails anyway
        logger.warning("No placeholder for this source", exc_info=True)
        return EMPTY


def _small(image: Image.Image, extent: tuple[float, float] | None) -> Image.Image:
    """The image fitted in ``HASH_SIDE`` px (never upscaled), as RGBA."""
    width, height = extent or image.size
    scale = min(1.0, HASH_SIDE / max(width, height, 1))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image.mode not in _RESIZABLE:
        image = image.convert("RGBA")
    box = (0.0, 0.0, float(width), float(height))
    # BOX averages every source pixel (alpha-weighted); shrinking before converting keeps
    # the full-size image from being copied.
    small = image.resize(size, Image.Resampling.BOX, box=box, reducing_gap=2.0)
    return small if small.mode == "RGBA" else small.convert("RGBA")


def dominant_color(rgba: Image.Image) -> str:
    """The colour most of the (mostly) opaque pixels are close to, as CSS hex.

    Pixels fall in 512 colour bins (8 levels a channel); each bin scores the pixels of its
    own and its 26 neighbours, and the answer is the mean of the best neighbourhood's pixels.
    A mean of all pixels would make a red picture with a blue corner purple; counting bins
    alone would let a small flat patch beat a large area of close, noisy shades. Ties go to
    the lower bin, so the answer is deterministic.
    """
    data = rgba.tobytes()
    opaque = [data[i : i + 4] for i in range(0, len(data), 4) if data[i + 3] >= OPAQUE]
    if not opaque:
        return ""
    cells = [_cell(p) for p in opaque]
    counts = [0] * 1000
    for cell in cells:
        counts[cell] += 1
    scores = {cell: sum(counts[cell + o] for o in _AROUND) for cell in set(cells)}
    best = max(sorted(scores), key=scores.__getitem__)
    near = {best + o for o in _AROUND}
    members = [p for p, cell in zip(opaque, cells, strict=True) if cell in near]
    mean = [round(sum(p[c] for p in members) / len(members)) for c in range(3)]
    return "#{:02x}{:02x}{:02x}".format(*mean)


def _cell(pixel: bytes) -> int:
    # The bin in a 10x10x10 grid whose border is empty, so a neighbour never wraps around.
    return (
        ((pixel[0] >> _BIN_SHIFT) + 1) * 100
        + ((pixel[1] >> _BIN_SHIFT) + 1) * 10
        + (pixel[2] >> _BIN_SHIFT)
        + 1
    )


_AROUND = tuple(r * 100 + g * 10 + b for r in (-1, 0, 1) for g in (-1, 0, 1) for b in (-1, 0, 1))


def _thumbhash(rgba: Image.Image) -> str:
    try:
        import thash
    except ImportError:  # a core dependency, but a stripped install still makes thumbnails
        return ""
    digest = thash.rgba_to_thumb_hash(rgba.width, rgba.height, list(rgba.tobytes()))
    return base64.b64encode(bytes(digest)).decode("ascii")


def hash_bytes(thumbhash: str) -> bytes | None:
    """The bytes of a base64 ThumbHash, or None when it is not one (empty, or damaged)."""
    if not thumbhash:
        return None
    try:
        raw = base64.b64decode(thumbhash, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) >= 5 else None


def has_alpha(thumbhash: str) -> bool:
    """Whether the hashed source had transparency (the header's alpha bit)."""
    raw = hash_bytes(thumbhash)
    return raw is not None and bool(raw[2] & 0x80)


@functools.lru_cache(maxsize=2048)
def preview_uri(thumbhash: str) -> str:
    """A ``data:image/png;base64,...`` preview decoded from ``thumbhash``; ``""`` if none.

    Remembered per hash (a pure function of it): a page rendered again costs a dict lookup
    per thumbnail, not a decode.
    """
    raw = hash_bytes(thumbhash)
    if raw is None:
        return ""
    try:
        import thash

        width, height, pixels = thash.thumb_hash_to_rgba(raw, base_size=PREVIEW_SIDE)
        image = Image.frombytes("RGBA", (width, height), pixels)
    except (ImportError, ValueError, IndexError):  # no decoder, or a hash it cannot read
        return ""
    if not raw[2] & 0x80:
        image = image.convert("RGB")  # opaque: a smaller PNG
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

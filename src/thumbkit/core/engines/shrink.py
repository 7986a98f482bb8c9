"""From a loaded source to 8-bit RGB, RGBA, L or LA pixels, with as few full-size copies as
the output allows.

A decoded 100 MP source is 100 to 400 MB; every full-size copy made on the way to a
thumbnail costs as much again. So:

- EXIF rotation is applied in place (``ImageOps.exif_transpose`` otherwise copies the whole
  image even when there is nothing to do); only a rotated source pays one transient copy.
- A source whose mode must be converted (palette, 16-bit, CMYK, keyed transparency) or whose
  alpha must be premultiplied for resampling (RGBA, LA) is converted strip by strip, and
  reduced by the same integer factor the resize's ``reducing_gap`` would use, so only a strip
  is ever copied at full resolution. Converting pixel by pixel and then box-averaging is what
  Pillow's own ``resize(..., reducing_gap=3)`` does on the whole image, so the pixels match.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

GAP = 3.0  # the resize's reducing_gap: reduce while at least 3x the target remains
STRIP_PIXELS = 1 << 22  # about 4 MP a strip: 16 MB of RGBA
READY = frozenset({"RGB", "RGBA", "L", "LA"})


@dataclass(frozen=True)
class Decoded:
    pixels: Image.Image  # RGB, RGBA, L or LA, EXIF-oriented
    extent: tuple[float, float]  # the whole source's size in ``pixels`` coordinates


def decode(image: Image.Image, targets: Sequence[tuple[int, int]] | None) -> Decoded:
    """``targets``: every output's scaled size (oriented); None when a spec needs all pixels."""
    ImageOps.exif_transpose(image, in_place=True)
    factor = _factor(image.size, targets) if targets else (1, 1)
    if _copies(image) or (factor != (1, 1) and image.mode in ("RGBA", "LA")):
        pixels = _in_strips(image, factor)
    else:
        pixels, factor = normalise(image), (1, 1)
    return Decoded(pixels, (image.width / factor[0], image.height / factor[1]))


def _factor(size: tuple[int, int], targets: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The integer reduction every target still allows (``resize``'s reducing_gap rule)."""
    fx = min(int(size[0] / max(t[0], 1) / GAP) or 1 for t in targets)
    fy = min(int(size[1] / max(t[1], 1) / GAP) or 1 for t in targets)
    return fx, fy


def _copies(image: Image.Image) -> bool:
    """Would ``normalise`` make a new full-size image?"""
    transparent = "transparency" in image.info and image.mode in ("RGB", "L")
    return image.mode not in READY or transparent


def _in_strips(image: Image.Image, factor: tuple[int, int]) -> Image.Image:
    """``normalise`` then ``reduce(factor)``, a strip of rows at a time."""
    fx, fy = factor
    width, height = image.size
    rows = max(fy, STRIP_PIXELS // max(width, 1) // fy * fy)
    out: Image.Image | None = None
    for top in range(0, height, rows):
        strip = normalise(image.crop((0, top, width, min(height, top + rows))))
        small = strip.reduce(factor) if factor != (1, 1) else strip
        if out is None:
            out = Image.new(small.mode, (-(-width // fx), -(-height // fy)))
            out.info = dict(strip.info)
        out.paste(small, (0, top // fy))
    assert out is not None
    return out


def normalise(image: Image.Image) -> Image.Image:
    """Bring any source mode to RGB, RGBA, L or LA (8 bits a channel)."""
    mode = image.mode
    transparent = "transparency" in image.info
    if mode in READY:
        if transparent and mode in ("RGB", "L"):
            return image.convert(mode + "A" if mode == "L" else "RGBA")
        return image
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey: scale to 8 bits instead of clipping everything above 255 to white.
        wide = image if mode == "I" else image.convert("I")
        return wide.point(lambda v: v * (1 / 256)).convert("L")
    if mode in ("P", "PA"):
        return image.convert("RGBA" if transparent or mode == "PA" else "RGB")
    if mode in ("1", "F"):
        return image.convert("L")
    if mode == "La":
        return image.convert("LA")
    return image.convert("RGBA" if "A" in mode or transparent else "RGB")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
            if converted is not None:
                converted.info.pop("icc_profile", None)
                return converted
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: fall back to the plain conversion
    rgb = image.convert("RGB")
    rgb.info.pop("icc_profile", None)  # a CMYK profile must not describe RGB pixels
    return rgb

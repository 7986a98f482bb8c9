"""Colour, orientation and filter processors, and image overlays (watermarks)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from typing import IO, Any

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from .base import (
    Anchor,
    Processor,
    Size,
    _flat,
    _fraction,
    _free,
    _offset,
    _rgb,
    _SameSize,
    _split_alpha,
    _with_alpha,
)

# --- colour and filters -------------------------------------------------------------------


class Adjust(_SameSize):
    """Colour (saturation), brightness, contrast and sharpness; 1.0 leaves each as it is."""

    def __init__(
        self,
        color: float = 1.0,
        brightness: float = 1.0,
        contrast: float = 1.0,
        sharpness: float = 1.0,
    ) -> None:
        self.color, self.brightness = float(color), float(brightness)
        self.contrast, self.sharpness = float(contrast), float(sharpness)

    def process(self, image: Image.Image) -> Image.Image:
        # Enhancers would also blend the alpha channel: adjust the colours alone.
        base, alpha = _split_alpha(image)
        steps = (
            (ImageEnhance.Color, self.color),
            (ImageEnhance.Brightness, self.brightness),
            (ImageEnhance.Contrast, self.contrast),
            (ImageEnhance.Sharpness, self.sharpness),
        )
        for enhancer, factor in steps:
            if factor != 1.0:
                base = enhancer(base).enhance(factor)
        return _with_alpha(base, alpha)


T = Image.Transpose
_TRANSPOSE_NAMES: dict[str, T | None] = {
    "auto": None,
    "flip_horizontal": T.FLIP_LEFT_RIGHT,
    "flip_vertical": T.FLIP_TOP_BOTTOM,
    **{member.name.lower(): member for member in T},
}
_SWAPS = {T.ROTATE_90, T.ROTATE_270, T.TRANSPOSE, T.TRANSVERSE}


class Transpose(Processor):
    """Flip or rotate, in the order given; ``Transpose.AUTO`` (the default) follows EXIF.

    The engines already turn sources upright by their EXIF orientation, so ``AUTO`` matters
    only for images given straight to ``process()``. Methods are these constants, Pillow's
    ``Image.Transpose`` members, or their names ("rotate_90"); settings may pass ``methods``.
    """

    AUTO = "auto"
    FLIP_HORIZONTAL = T.FLIP_LEFT_RIGHT
    FLIP_VERTICAL = T.FLIP_TOP_BOTTOM
    ROTATE_90 = T.ROTATE_90
    ROTATE_180 = T.ROTATE_180
    ROTATE_270 = T.ROTATE_270

    def __init__(self, *args: str | T, methods: Sequence[str | T] = ()) -> None:
        names = tuple(_transpose_name(m) for m in (*args, *methods)) or (self.AUTO,)
        self.methods = (self.AUTO,) if self.AUTO in names else names

    def output_size(self, size: Size) -> Size | None:
        if self.methods == (self.AUTO,):
            return None  # depends on the image's EXIF
        swaps = sum(_TRANSPOSE_NAMES[m] in _SWAPS for m in self.methods)
        return (size[1], size[0]) if swaps % 2 else size

    def process(self, image: Image.Image) -> Image.Image:
        if self.methods == (self.AUTO,):
            return ImageOps.exif_transpose(image)
        for name in self.methods:
            method = _TRANSPOSE_NAMES[name]
            assert method is not None
            image = image.transpose(method)
        return image


def _transpose_name(method: str | T) -> str:
    name = method.name.lower() if isinstance(method, T) else str(method).lower()
    if name not in _TRANSPOSE_NAMES:
        raise ValueError(f"unknown transpose method {method!r}; use {sorted(_TRANSPOSE_NAMES)}")
    return name


class MakeOpaque(_SameSize):
    """Flatten transparency onto ``background_color``; the result is RGB."""

    def __init__(self, background_color: Any = (255, 255, 255)) -> None:
        self.background_color = _rgb(background_color)

    def process(self, image: Image.Image) -> Image.Image:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, self.background_color)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas


class Convert(_SameSize):
    """``image.convert(target, **options)``: a mode ("L", "RGB", "P"...) and Pillow's options."""

    def __init__(self, target: str, **options: Any) -> None:
        self.target, self.options = str(target), dict(options)

    def process(self, image: Image.Image) -> Image.Image:
        return image.convert(self.target, **self.options)


class GaussianBlur(_SameSize):
    """A Gaussian blur of ``radius`` pixels."""

    def __init__(self, radius: float) -> None:
        self.radius = float(radius)

    def process(self, image: Image.Image) -> Image.Image:
        return _flat(image).filter(ImageFilter.GaussianBlur(self.radius))


class ColorOverlay(_SameSize):
    """Tint with ``color`` at ``overlay_opacity`` (0: no change, 1: solid colour); keeps alpha."""

    def __init__(self, color: Any, overlay_opacity: float = 0.5) -> None:
        self.color = _rgb(color)
        self.overlay_opacity = _fraction(overlay_opacity, "overlay_opacity")

    def process(self, image: Image.Image) -> Image.Image:
        base, alpha = _split_alpha(image)
        base = base.convert("RGB")
        tint = Image.new("RGB", base.size, self.color)
        return _with_alpha(Image.blend(base, tint, self.overlay_opacity), alpha)


OverlaySource = Image.Image | str | os.PathLike[str] | bytes | IO[bytes]


class ImageOverlay(_SameSize):
    """Draw ``overlay_image`` (a watermark) over the picture.

    ``overlay_image`` is a Pillow image, a file path, encoded bytes or a binary file; it is
    read once, here. It goes at ``x``, ``y`` (its top left corner; 0, 0 by default) or by
    ``anchor`` (``Anchor.BOTTOM_RIGHT``...), its own alpha scaled by ``opacity``. Its
    canonical text carries a hash of its pixels, so changing the watermark makes new files.
    """

    def __init__(
        self,
        overlay_image: OverlaySource,
        x: int | None = None,
        y: int | None = None,
        anchor: Any = None,
        opacity: float = 1.0,
    ) -> None:
        if anchor is not None and (x is not None or y is not None):
            raise ValueError("give an anchor or x and y, not both")
        self.anchor = None if anchor is None else Anchor.get_tuple(anchor)
        self.x, self.y = int(x or 0), int(y or 0)
        self.opacity = _fraction(opacity, "opacity")
        overlay = _open_overlay(overlay_image).convert("RGBA")
        self.overlay_digest = _pixel_digest(overlay)
        if self.opacity < 1:
            overlay.putalpha(overlay.getchannel("A").point(lambda a: round(a * self.opacity)))
        self._overlay = overlay

    def process(self, image: Image.Image) -> Image.Image:
        base = _flat(image)
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        layer.paste(self._overlay, self._at(base.size))
        merged = Image.alpha_composite(base.convert("RGBA"), layer)
        return merged if "A" in base.getbands() else merged.convert("RGB")

    def _at(self, size: Size) -> Size:
        if self.anchor is None:
            return self.x, self.y
        return _offset(_free(self._overlay.size, size), self.anchor)


def _open_overlay(value: OverlaySource) -> Image.Image:
    if isinstance(value, Image.Image):
        return value
    try:
        if isinstance(value, str | os.PathLike):
            with open(value, "rb") as handle:
                data = handle.read()
        else:
            data = value if isinstance(value, bytes) else value.read()
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            return opened.copy()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"the overlay image cannot be read: {exc}") from exc


def _pixel_digest(image: Image.Image) -> str:
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()[:32]

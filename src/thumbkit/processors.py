"""Image processors: objects with ``process(image) -> image`` that work on Pillow images.

They take the constructor arguments of django-imagekit's (pilkit's) processors, so specs move
over unchanged, and pilkit's own processors work in their place. Put them in a spec's
``processors``; they run after the spec's geometry::

    get_thumbnail(photo.image, "1000x1000", processors=[ResizeToFill(100, 50), Adjust(color=0)])
    "SPECS": {"avatar": {"size": "400x400",
                         "processors": [{"PATH": "thumbkit.processors.ResizeToFill",
                                         "width": 100, "height": 100}]}}

A processor's attributes are plain values (numbers, strings, tuples): they make its canonical
text, which is part of the thumbnail's key (see ``thumbkit.pipeline.step_text``). Colours are
stored as RGB(A) tuples and anchors as (x, y) fractions, so equal settings written
differently ("white", "#fff", (255, 255, 255)) make one file.

Size hints. Each processor can say, from the size of its input alone:

- ``target_size(size)``: the size it resamples the whole picture to, or None when it does not
  resample it. A decoder may reduce the source to any size at least this large in both
  directions before running it (a JPEG ``draft()`` fast path when a resizer comes first).
- ``output_size(size)``: the size of its result, or None when that depends on the pixels
  (TrimBorderColor). ``thumbkit.pipeline.run`` checks it against LIMITS before running.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from typing import IO, Any

from PIL import Image, ImageChops, ImageColor, ImageEnhance, ImageFilter, ImageOps, ImageStat

from . import pipeline
from .engines.smartcrop import entropy_box

Size = tuple[int, int]
RGBA = tuple[int, ...]
Fraction = tuple[float, float]
LANCZOS = Image.Resampling.LANCZOS
CLEAR = (255, 255, 255, 0)  # what uncovered canvas shows when no colour is given


class Processor:
    """Base class of thumbkit's processors. Any object with ``process(image)`` works too."""

    def process(self, image: Image.Image) -> Image.Image:
        raise NotImplementedError

    def target_size(self, size: Size) -> Size | None:
        return None

    def output_size(self, size: Size) -> Size | None:
        return None


class _SameSize(Processor):
    def output_size(self, size: Size) -> Size | None:
        return size


# --- helpers ------------------------------------------------------------------------------


def to_color(value: Any) -> RGBA | None:
    """A colour as an RGB(A) tuple: names, "#hex", tuples, or Pillow's packed ints."""
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(ImageColor.getrgb(value))
    if isinstance(value, int):
        return (value & 255, (value >> 8) & 255, (value >> 16) & 255)
    rgba = tuple(int(c) for c in value)
    if len(rgba) not in (3, 4) or not all(0 <= c <= 255 for c in rgba):
        raise ValueError(f"{value!r} is not an RGB or RGBA colour")
    return rgba


def _rgb(value: Any) -> RGBA:
    rgba = to_color(value)
    if rgba is None:
        raise ValueError("a colour is needed")
    return rgba[:3]


def _fraction(value: float, name: str) -> float:
    value = float(value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")
    return value


def _flat(image: Image.Image) -> Image.Image:
    """Palette and unusual modes to RGB(A) or L(A), which every filter and resize accepts."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def _resized(image: Image.Image, size: Size) -> Image.Image:
    return image if image.size == size else _flat(image).resize(size, LANCZOS)


def _split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    image = _flat(image)
    if image.mode in ("RGBA", "LA"):
        return image.convert(image.mode[:-1]), image.getchannel("A")
    return image, None


def _with_alpha(image: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is not None:
        image.putalpha(alpha)
    return image


def _place(image: Image.Image, size: Size, offset: Size, fill: RGBA | None) -> Image.Image:
    """``image`` with its top left corner at ``offset`` on a ``size`` canvas.

    What the image leaves uncovered shows ``fill`` (transparent white when None). A canvas
    the image covers entirely is a plain crop, which keeps the image's mode.
    """
    left, top = offset
    covered = left <= 0 and top <= 0
    covered = covered and left + image.width >= size[0] and top + image.height >= size[1]
    if covered:
        return image.crop((-left, -top, size[0] - left, size[1] - top))
    paint = fill if fill is not None else CLEAR
    clear = len(paint) == 4 and paint[3] < 255
    mode = "RGBA" if clear or "A" in image.getbands() or image.has_transparency_data else "RGB"
    canvas = Image.new(mode, size, paint)
    canvas.paste(image.convert(mode), (left, top))
    return canvas


def _cover(size: Size, width: int, height: int) -> Size:
    ratio = max(width / size[0], height / size[1])
    return max(1, round(size[0] * ratio)), max(1, round(size[1] * ratio))


def _within(size: Size, width: int | None, height: int | None) -> Size:
    return min(size[0], width or size[0]), min(size[1], height or size[1])


# --- anchors ------------------------------------------------------------------------------


class Anchor:
    """Where to keep (or place) a picture: a named point, or an (x, y) pair of fractions."""

    TOP_LEFT = "tl"
    TOP = "t"
    TOP_RIGHT = "tr"
    LEFT = "l"
    CENTER = "c"
    RIGHT = "r"
    BOTTOM_LEFT = "bl"
    BOTTOM = "b"
    BOTTOM_RIGHT = "br"
    POINTS: dict[str, Fraction] = {
        "tl": (0.0, 0.0), "t": (0.5, 0.0), "tr": (1.0, 0.0),
        "l": (0.0, 0.5), "c": (0.5, 0.5), "r": (1.0, 0.5),
        "bl": (0.0, 1.0), "b": (0.5, 1.0), "br": (1.0, 1.0),
    }  # fmt: skip

    @staticmethod
    def get_tuple(anchor: str | Sequence[float] | None) -> Fraction:
        """The anchor as (x, y) fractions of the free space; None is the centre."""
        if anchor is None:
            return Anchor.POINTS[Anchor.CENTER]
        if isinstance(anchor, str):
            if anchor not in Anchor.POINTS:
                raise ValueError(f"unknown anchor {anchor!r}; use one of {sorted(Anchor.POINTS)}")
            return Anchor.POINTS[anchor]
        x, y = anchor
        return _fraction(x, "an anchor's x"), _fraction(y, "an anchor's y")


def _offset(free: Size, anchor: Fraction) -> Size:
    # Truncated toward zero, like pilkit, so both place pictures on the same pixel.
    return int(free[0] * anchor[0]), int(free[1] * anchor[1])


class _Positioned(Processor):
    """Shared by Crop and ResizeCanvas: the picture placed by anchor, or at x and y."""

    anchor: Fraction | None
    x: int | None
    y: int | None

    def _position(self, anchor: Any, x: int | None, y: int | None) -> None:
        if x is not None or y is not None:
            if anchor is not None:
                raise ValueError("give an anchor or x and y, not both")
            self.anchor, self.x, self.y = None, int(x or 0), int(y or 0)
        else:
            self.anchor, self.x, self.y = Anchor.get_tuple(anchor), None, None

    def _at(self, image: Size, canvas: Size) -> Size:
        if self.anchor is None:
            return self.x or 0, self.y or 0
        return _offset((canvas[0] - image[0], canvas[1] - image[1]), self.anchor)


# --- resizing -----------------------------------------------------------------------------


class Resize(Processor):
    """Resize to exactly ``width`` x ``height`` (without ``upscale``, only when shrinking)."""

    def __init__(self, width: int, height: int, upscale: bool = True) -> None:
        self.width, self.height, self.upscale = int(width), int(height), bool(upscale)

    def _applies(self, size: Size) -> bool:
        return self.upscale or (self.width < size[0] and self.height < size[1])

    def target_size(self, size: Size) -> Size | None:
        return (self.width, self.height) if self._applies(size) else None

    def output_size(self, size: Size) -> Size | None:
        return self.target_size(size) or size

    def process(self, image: Image.Image) -> Image.Image:
        target = self.target_size(image.size)
        return _resized(image, target) if target else image


class ResizeToCover(Processor):
    """Resize, keeping the aspect ratio, to the smallest size covering ``width`` x ``height``."""

    def __init__(self, width: int, height: int, upscale: bool = True) -> None:
        self.width, self.height, self.upscale = int(width), int(height), bool(upscale)

    def _step(self, size: Size) -> Resize:
        return Resize(*_cover(size, self.width, self.height), upscale=self.upscale)

    def target_size(self, size: Size) -> Size | None:
        return self._step(size).target_size(size)

    def output_size(self, size: Size) -> Size | None:
        return self._step(size).output_size(size)

    def process(self, image: Image.Image) -> Image.Image:
        return self._step(image.size).process(image)


class ResizeToFit(Processor):
    """Resize, keeping the aspect ratio, to fit inside ``width`` x ``height``.

    One side may be None (only the other bounds the picture). With ``mat_color`` the result
    is exactly the box, the picture placed by ``anchor`` on a mat of that colour.
    """

    def __init__(
        self,
        width: int | None = None,
        height: int | None = None,
        upscale: bool = True,
        mat_color: Any = None,
        anchor: Any = Anchor.CENTER,
    ) -> None:
        if width is None and height is None:
            raise ValueError("ResizeToFit needs a width, a height or both")
        self.width = None if width is None else int(width)
        self.height = None if height is None else int(height)
        self.upscale, self.mat_color = bool(upscale), to_color(mat_color)
        self.anchor = Anchor.get_tuple(anchor)

    def _step(self, size: Size) -> Resize:
        ratios = [b / s for b, s in ((self.width, size[0]), (self.height, size[1])) if b]
        ratio = min(ratios)
        fitted = max(1, round(size[0] * ratio)), max(1, round(size[1] * ratio))
        return Resize(*fitted, upscale=self.upscale)

    def target_size(self, size: Size) -> Size | None:
        return self._step(size).target_size(size)

    def output_size(self, size: Size) -> Size | None:
        fitted = self._step(size).output_size(size) or size
        if self.mat_color is None:
            return fitted
        return self.width or fitted[0], self.height or fitted[1]

    def process(self, image: Image.Image) -> Image.Image:
        image = self._step(image.size).process(image)
        if self.mat_color is None:
            return image
        box = self.output_size(image.size) or image.size
        return _place(image, box, _offset(_free(image.size, box), self.anchor), self.mat_color)


def _free(image: Size, box: Size) -> Size:
    return box[0] - image[0], box[1] - image[1]


class ResizeToFill(Processor):
    """Resize to cover ``width`` x ``height``, then crop to exactly that, keeping ``anchor``."""

    def __init__(self, width: int, height: int, anchor: Any = None, upscale: bool = True) -> None:
        self.width, self.height, self.upscale = int(width), int(height), bool(upscale)
        self.anchor = Anchor.get_tuple(anchor)

    def _steps(self) -> tuple[ResizeToCover, Processor]:
        cover = ResizeToCover(self.width, self.height, upscale=self.upscale)
        return cover, Crop(self.width, self.height, anchor=self.anchor)

    def target_size(self, size: Size) -> Size | None:
        return self._steps()[0].target_size(size)

    def output_size(self, size: Size) -> Size | None:
        cover, crop = self._steps()
        return crop.output_size(cover.output_size(size) or size)

    def process(self, image: Image.Image) -> Image.Image:
        cover, crop = self._steps()
        return crop.process(cover.process(image))


class SmartResize(ResizeToFill):
    """ResizeToFill that keeps the busiest part of the picture (by entropy) instead of an anchor."""

    def __init__(self, width: int, height: int, upscale: bool = True) -> None:
        self.width, self.height, self.upscale = int(width), int(height), bool(upscale)

    def _steps(self) -> tuple[ResizeToCover, Processor]:
        cover = ResizeToCover(self.width, self.height, upscale=self.upscale)
        return cover, SmartCrop(self.width, self.height)


class Thumbnail(Processor):
    """ResizeToFill (both sides given), SmartResize (``anchor="auto"``) or ResizeToFit.

    ``crop`` defaults to True when both sides are given; an ``anchor`` implies it.
    """

    def __init__(
        self,
        width: int | None = None,
        height: int | None = None,
        anchor: Any = None,
        crop: bool | None = None,
        upscale: bool | None = None,
    ) -> None:
        if anchor is not None and crop is False:
            raise ValueError("Thumbnail cannot take an anchor when crop is False")
        # As in pilkit: an inferred crop finds the busy part; crop=True alone keeps the centre.
        auto = anchor == "auto" or (anchor is None and crop is None)
        if crop is None:
            crop = anchor is not None or (width is not None and height is not None)
        if crop and (width is None or height is None):
            raise ValueError("Thumbnail needs a width and a height to crop")
        self.width = None if width is None else int(width)
        self.height = None if height is None else int(height)
        self.crop, self.upscale = bool(crop), bool(upscale)
        self.anchor: Fraction | str | None = None
        if crop:
            self.anchor = "auto" if auto else Anchor.get_tuple(anchor)

    def _step(self) -> Processor:
        if not self.crop:
            return ResizeToFit(self.width, self.height, upscale=self.upscale)
        width, height = int(self.width or 0), int(self.height or 0)  # both set when cropping
        if self.anchor == "auto":
            return SmartResize(width, height, upscale=self.upscale)
        return ResizeToFill(width, height, anchor=self.anchor, upscale=self.upscale)

    def target_size(self, size: Size) -> Size | None:
        return self._step().target_size(size)

    def output_size(self, size: Size) -> Size | None:
        return self._step().output_size(size)

    def process(self, image: Image.Image) -> Image.Image:
        return self._step().process(image)


# --- cropping and canvas ------------------------------------------------------------------


class Crop(_Positioned):
    """Crop to at most ``width`` x ``height``, keeping ``anchor`` (the centre by default).

    As in pilkit, ``x`` and ``y`` instead say where the source's top left corner lands on
    the cropped canvas: ``Crop(100, 100, x=-20, y=-10)`` keeps the box from (20, 10).
    """

    def __init__(
        self,
        width: int | None = None,
        height: int | None = None,
        anchor: Any = None,
        x: int | None = None,
        y: int | None = None,
    ) -> None:
        self.width = None if width is None else int(width)
        self.height = None if height is None else int(height)
        self._position(anchor, x, y)

    def output_size(self, size: Size) -> Size | None:
        return _within(size, self.width, self.height)

    def process(self, image: Image.Image) -> Image.Image:
        box = _within(image.size, self.width, self.height)
        return _place(image, box, self._at(image.size, box), None)


class SmartCrop(Processor):
    """Crop to at most ``width`` x ``height``, shaving the edges that carry least entropy."""

    def __init__(self, width: int | None = None, height: int | None = None) -> None:
        self.width = None if width is None else int(width)
        self.height = None if height is None else int(height)

    def output_size(self, size: Size) -> Size | None:
        return _within(size, self.width, self.height)

    def process(self, image: Image.Image) -> Image.Image:
        box = _within(image.size, self.width, self.height)
        return image if box == image.size else image.crop(entropy_box(image, box))


class ResizeCanvas(_Positioned):
    """Put the picture on a ``width`` x ``height`` canvas of ``color`` (transparent if None)."""

    def __init__(
        self,
        width: int,
        height: int,
        color: Any = None,
        anchor: Any = None,
        x: int | None = None,
        y: int | None = None,
    ) -> None:
        self.width, self.height, self.color = int(width), int(height), to_color(color)
        self._position(anchor, x, y)

    def output_size(self, size: Size) -> Size | None:
        return self.width, self.height

    def process(self, image: Image.Image) -> Image.Image:
        box = (self.width, self.height)
        return _place(image, box, self._at(image.size, box), self.color)


class AddBorder(Processor):
    """A border of ``thickness`` (an int, or (top, right, bottom, left)) in ``color``."""

    def __init__(self, thickness: int | Sequence[int], color: Any = None) -> None:
        sides = [thickness] * 4 if isinstance(thickness, int) else list(thickness)
        if len(sides) != 4 or any(int(s) < 0 for s in sides):
            raise ValueError("thickness is an int or (top, right, bottom, left), not negative")
        self.top, self.right, self.bottom, self.left = (int(s) for s in sides)
        self.color = to_color(color)

    def output_size(self, size: Size) -> Size | None:
        return size[0] + self.left + self.right, size[1] + self.top + self.bottom

    def process(self, image: Image.Image) -> Image.Image:
        box = self.output_size(image.size) or image.size
        return _place(image, box, (self.left, self.top), self.color)


class Side:
    """The sides TrimBorderColor may trim."""

    TOP = "t"
    RIGHT = "r"
    BOTTOM = "b"
    LEFT = "l"
    ALL = (TOP, RIGHT, BOTTOM, LEFT)


class TrimBorderColor(Processor):
    """Trim a border of one colour (found from the edge pixels when not given).

    ``tolerance`` (0 to 1) is how far, per channel, a pixel may be from the colour and still
    count as border. Unlike pilkit 3.0's on current Pillow, this trims opaque pictures too.
    """

    def __init__(
        self, color: Any = None, tolerance: float = 0.3, sides: Sequence[str] = Side.ALL
    ) -> None:
        unknown = set(sides) - set(Side.ALL)
        if unknown:
            raise ValueError(f"unknown sides {sorted(unknown)}; use {Side.ALL}")
        self.color = to_color(color)
        self.tolerance = _fraction(tolerance, "tolerance")
        self.sides = tuple(s for s in Side.ALL if s in sides)

    def process(self, image: Image.Image) -> Image.Image:
        rgba = image.convert("RGBA")
        border = self.color or _edge_color(rgba)
        solid = Image.new("RGBA", rgba.size, border + (255,) * (4 - len(border)))
        threshold = int(self.tolerance * 255)
        diff = ImageChops.difference(rgba, solid).point(lambda v: 255 if v > threshold else 0)
        found = diff.getbbox(alpha_only=False)
        if found is None:
            return image  # all border: nothing would be left, so leave it alone
        keep = dict(zip(("l", "t", "r", "b"), found, strict=True))
        full = {"l": 0, "t": 0, "r": image.width, "b": image.height}
        left, top, right, bottom = (keep[s] if s in self.sides else full[s] for s in "ltrb")
        return image.crop((left, top, right, bottom))


def _edge_color(rgba: Image.Image) -> RGBA:
    """The median colour of the outermost pixels."""
    w, h = rgba.size
    edges = [(0, 0, w, 1), (0, h - 1, w, h), (0, 0, 1, h), (w - 1, 0, w, h)]
    histograms = [rgba.crop(box).histogram() for box in edges]
    total = [sum(counts) for counts in zip(*histograms, strict=True)]
    return tuple(int(v) for v in ImageStat.Stat(total).median)


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


class ProcessorPipeline(list[Any]):
    """A list of processors that is itself a processor (as in pilkit)."""

    def process(self, image: Image.Image) -> Image.Image:
        result: Image.Image = pipeline.run(image, self)
        return result

    def output_size(self, size: Size) -> Size | None:
        return pipeline.output_size(self, size)

    def thumbkit_text(self) -> str:
        return "thumbkit.processors.ProcessorPipeline" + pipeline.steps_text(self)


__all__ = [
    "AddBorder",
    "Adjust",
    "Anchor",
    "ColorOverlay",
    "Convert",
    "Crop",
    "GaussianBlur",
    "ImageOverlay",
    "MakeOpaque",
    "Processor",
    "ProcessorPipeline",
    "Resize",
    "ResizeCanvas",
    "ResizeToCover",
    "ResizeToFill",
    "ResizeToFit",
    "Side",
    "SmartCrop",
    "SmartResize",
    "Thumbnail",
    "Transpose",
    "TrimBorderColor",
]

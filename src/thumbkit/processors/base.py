"""The base class, size hints' types, colour and canvas helpers, and anchors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageColor

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


def _free(image: Size, box: Size) -> Size:
    return box[0] - image[0], box[1] - image[1]


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

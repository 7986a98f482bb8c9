"""Cropping, canvas and border processors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageChops, ImageStat

from ..core.engines.smartcrop import entropy_box
from .base import (
    RGBA,
    Processor,
    Size,
    _fraction,
    _place,
    _Positioned,
    _within,
    to_color,
)

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

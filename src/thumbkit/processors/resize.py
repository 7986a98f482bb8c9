"""Resizing processors: the ones whose ``target_size`` lets a JPEG be drafted."""

from __future__ import annotations

from typing import Any

from PIL import Image

from .base import (
    Anchor,
    Fraction,
    Processor,
    Size,
    _cover,
    _free,
    _offset,
    _place,
    _resized,
    to_color,
)
from .crop import Crop, SmartCrop

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

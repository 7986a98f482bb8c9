"""Entropy-based ("smart") crop box search, shared by engines that work on Pillow images."""

from __future__ import annotations

from PIL import Image

STEP = 10


def entropy_box(image: Image.Image, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The ``size`` window that keeps the busiest part of ``image``.

    Strips of at most STEP pixels are shaved from whichever edge carries less information
    (histogram entropy), until the window has the requested size.
    """
    left, top, right, bottom = 0, 0, image.width, image.height
    width, height = size
    while right - left > width:
        step = min(STEP, right - left - width)
        first = image.crop((left, top, left + step, bottom)).entropy()
        last = image.crop((right - step, top, right, bottom)).entropy()
        if first < last:
            left += step
        else:
            right -= step
    while bottom - top > height:
        step = min(STEP, bottom - top - height)
        first = image.crop((left, top, right, top + step)).entropy()
        last = image.crop((left, bottom - step, right, bottom)).entropy()
        if last < first:
            bottom -= step
        else:
            top += step
    return left, top, right, bottom

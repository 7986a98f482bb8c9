"""Found by thumbkit's autodiscovery when ``tests.genapp`` is installed."""

from __future__ import annotations

from thumbkit import ImageSpec, register
from thumbkit.processors import ResizeToFill, ResizeToFit


class Thumbnail(ImageSpec):
    processors = [ResizeToFill(100, 50)]
    format = "JPEG"
    options = {"quality": 60}


@register.generator("genapp:banner")
class Banner(ImageSpec):
    processors = [ResizeToFit(300, 100)]


register.generator("genapp:thumbnail", Thumbnail)

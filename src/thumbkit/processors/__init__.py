"""Image processors: objects with ``process(image) -> image`` that work on Pillow images.

They take the constructor arguments of django-imagekit's (pilkit's) processors, so specs move
over unchanged, and pilkit's own processors work in their place. Put them in a spec's
``processors``; they run after the spec's geometry::

    get_thumbnail(photo.image, "1000x1000", processors=[ResizeToFill(100, 50), Adjust(color=0)])
    "SPECS": {"avatar": {"size": "400x400",
                         "processors": [{"PATH": "thumbkit.processors.ResizeToFill",
                                         "width": 100, "height": 100}]}}

A processor's attributes are plain values (numbers, strings, tuples): they make its canonical
text, which is part of the thumbnail's key (see ``thumbkit.core.pipeline.step_text``). Colours are
stored as RGB(A) tuples and anchors as (x, y) fractions, so equal settings written
differently ("white", "#fff", (255, 255, 255)) make one file.

Size hints. Each processor can say, from the size of its input alone:

- ``target_size(size)``: the size it resamples the whole picture to, or None when it does not
  resample it. A decoder may reduce the source to any size at least this large in both
  directions before running it (a JPEG ``draft()`` fast path when a resizer comes first).
- ``output_size(size)``: the size of its result, or None when that depends on the pixels
  (TrimBorderColor). ``thumbkit.core.pipeline.run`` checks it against LIMITS before running.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from ..core import pipeline
from .base import Anchor, Processor, Size
from .color import (
    Adjust,
    ColorOverlay,
    Convert,
    GaussianBlur,
    ImageOverlay,
    MakeOpaque,
    Transpose,
)
from .crop import AddBorder, Crop, ResizeCanvas, Side, SmartCrop, TrimBorderColor
from .resize import Resize, ResizeToCover, ResizeToFill, ResizeToFit, SmartResize, Thumbnail


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

# A processor's canonical text starts with its class path, and that text is part of every
# thumbnail key: the classes keep the path they are imported by, so moving one between the
# modules of this package never renames a file.
for _name in __all__:
    globals()[_name].__module__ = __name__

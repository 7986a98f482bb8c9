"""Pure geometry: from a source size and a spec to the sizes and boxes of the output.

No pixels are touched here, so the output size is known (and checked against LIMITS)
before anything is decoded. The arithmetic follows sorl-thumbnail's engine exactly,
including its rounding, so outputs have the sizes sorl-thumbnail users expect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .focal import crop_start
from .spec import Spec

Size = tuple[int, int]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Plan:
    """What the engine does to a source of ``source`` size (already EXIF-oriented)."""

    source: Size
    scaled: Size  # after scaling; equal to ``source`` when no scaling happens
    crop: Box | None  # in scaled coordinates; None: no crop (or smart: see ``smart``)
    smart: bool  # entropy crop to ``cropped`` size, box found on pixels
    cropped: Size  # after cropping
    canvas: Size | None  # padding canvas, when padding applies
    # The smallest decode that serves this plan: ``scaled``, or for a spec without geometry
    # the size its first resizing processor asks for (so a JPEG can still be drafted).
    need: Size | None = None

    @property
    def decode(self) -> Size:
        return self.need or self.scaled

    @property
    def output(self) -> Size:
        return self.canvas or self.cropped


def toint(number: float) -> int:
    """sorl-thumbnail's rounding: round half to even above 1, ceil at or below 1."""
    if number > 1:
        return int(round(number, 0))
    return math.ceil(number)


def box_size(spec: Spec, source: Size) -> Size:
    """The geometry box, with a missing side derived from the source ratio."""
    x, y = source
    ratio = x / y
    width, height = spec.width, spec.height
    if width is None:
        assert height is not None
        width = toint(height * ratio)
    elif height is None:
        height = toint(width / ratio)
    return width, height


def plan(spec: Spec, source: Size) -> Plan:
    if not spec.has_geometry:
        return _original(spec, source)
    box = box_size(spec, source)
    scaled = _scaled(spec, source, box)
    crop, smart, cropped = _crop(spec, scaled, box)
    canvas = box if spec.padding and cropped != box else None
    return Plan(
        source=source, scaled=scaled, crop=crop, smart=smart, cropped=cropped, canvas=canvas
    )


def _original(spec: Spec, source: Size) -> Plan:
    """Keep the source size; only a first processor that resizes may lower the decode."""
    need = None
    hint = getattr(spec.processors[0], "target_size", None) if spec.processors else None
    target = hint(source) if callable(hint) else None
    if target is not None and target[0] <= source[0] and target[1] <= source[1]:
        need = (max(1, target[0]), max(1, target[1]))
    return Plan(source, source, None, False, source, None, need)


def _scaled(spec: Spec, source: Size, box: Size) -> Size:
    x, y = float(source[0]), float(source[1])
    factors = (box[0] / x, box[1] / y)
    factor = max(factors) if spec.crop else min(factors)
    if factor < 1 or spec.upscale:
        return toint(x * factor), toint(y * factor)
    return source


def _crop(spec: Spec, scaled: Size, box: Size) -> tuple[Box | None, bool, Size]:
    if spec.crop is None:
        return None, False, scaled
    x, y = scaled
    if spec.crop == "smart":
        ratio = box[0] / box[1]
        width = max(min(x, round(y * ratio)), 1)
        height = max(min(y, round(x / ratio)), 1)
        return None, True, (width, height)
    window = (min(x, box[0]), min(y, box[1]))
    if spec.focal is not None:
        # Fractions of the source are fractions of the scaled image: scaling is uniform.
        left, top = crop_start(spec.focal, scaled, window)
    else:
        offsets = spec.crop_offsets()
        assert offsets is not None
        left = _offset(offsets[0], x - window[0])
        top = _offset(offsets[1], y - window[1])
    return (left, top, left + window[0], top + window[1]), False, window


def _offset(text: str, room: int) -> int:
    value = room * int(text[:-1]) / 100.0 if text.endswith("%") else float(int(text[:-2]))
    return int(max(0, min(value, room)))

"""Focal points: where a source's subject is, as fractions of its width and height.

A point ``(x, y)`` runs from ``(0, 0)``, the top left corner, to ``(1, 1)``, the bottom
right one, in the source as it is shown (EXIF orientation applied). An optional box
``(left, top, right, bottom)`` in the same fractions is the region a crop keeps whole when
its window is large enough. Values are kept to four decimals (a tenth of a pixel on a
1000 px side), so a point read back from JSON gives the same key.

Text form (the spec option ``focal=``, a CharField column)::

    0.9,0.1                  a point
    0.9,0.1,0.8,0,1,0.25     a point, then its box
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import InvalidFocalPoint

Box = tuple[float, float, float, float]

DECIMALS = 4
EXPECTED = (
    'a focal point is "x,y" or "x,y,left,top,right,bottom", (x, y), or {"x": .., "y": .., '
    '"box": [left, top, right, bottom]}, with every number from 0 to 1'
)


def _fraction(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidFocalPoint(f"{what} must be a number from 0 to 1, not {value!r}; {EXPECTED}.")
    try:
        number = float(value)
    except ValueError:
        raise InvalidFocalPoint(f"{what} must be a number, not {value!r}; {EXPECTED}.") from None
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise InvalidFocalPoint(f"{what} must be from 0 to 1, not {value!r}; {EXPECTED}.")
    return round(number, DECIMALS) + 0.0  # + 0.0: -0.0 prints as "-0"


def _number_text(value: float) -> str:
    return f"{value:.{DECIMALS}f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class FocalPoint:
    """A validated focal point; building one out of range raises InvalidFocalPoint."""

    x: float
    y: float
    box: Box | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _fraction(self.x, "x"))
        object.__setattr__(self, "y", _fraction(self.y, "y"))
        if self.box is not None:
            object.__setattr__(self, "box", _box(self.box))

    @property
    def text(self) -> str:
        """The canonical text: ``0.9,0.1`` or ``0.9,0.1,left,top,right,bottom``."""
        numbers = (self.x, self.y, *(self.box or ()))
        return ",".join(_number_text(n) for n in numbers)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"x": 0.9, "y": 0.1}``, plus ``"box"`` when there is one."""
        out: dict[str, Any] = {"x": self.x, "y": self.y}
        if self.box is not None:
            out["box"] = list(self.box)
        return out

    def __str__(self) -> str:
        return self.text


def _box(value: Any) -> Box:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 4:
        raise InvalidFocalPoint(
            f"a focal box is (left, top, right, bottom), not {value!r}; {EXPECTED}."
        )
    left, top, right, bottom = (
        _fraction(v, f"the box's {side}")
        for v, side in zip(value, ("left", "top", "right", "bottom"), strict=True)
    )
    if left >= right or top >= bottom:
        raise InvalidFocalPoint(
            f"a focal box needs left < right and top < bottom, not {value!r}; {EXPECTED}."
        )
    return left, top, right, bottom


def to_focal(value: Any, box: Any = None) -> FocalPoint | None:
    """A :class:`FocalPoint` from any form it is written in; None for no point.

    ``value`` is a FocalPoint, text (``"0.9,0.1"``, six numbers with a box), a pair or six
    numbers, or a mapping with ``x``, ``y`` and an optional ``box``; ``box`` (four numbers)
    replaces the value's own. None, ``""`` and ``{}`` mean no point.
    """
    if value is None or value == "" or (isinstance(value, Mapping) and not value):
        if box is not None:
            raise InvalidFocalPoint(f"a focal box needs a point; {EXPECTED}.")
        return None
    point = _point(value)
    if box is not None:
        return FocalPoint(point.x, point.y, box)
    return point


def _point(value: Any) -> FocalPoint:
    if isinstance(value, FocalPoint):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"x", "y", "box"}
        if unknown or "x" not in value or "y" not in value:
            raise InvalidFocalPoint(f"not a focal point: {value!r}; {EXPECTED}.")
        return FocalPoint(value["x"], value["y"], value.get("box"))
    if isinstance(value, str):
        numbers: Sequence[Any] = value.replace(",", " ").split()
    elif isinstance(value, Sequence):
        numbers = value
    else:
        raise InvalidFocalPoint(f"not a focal point: {value!r}; {EXPECTED}.")
    if len(numbers) == 2:
        return FocalPoint(numbers[0], numbers[1])
    if len(numbers) == 6:
        return FocalPoint(numbers[0], numbers[1], tuple(numbers[2:]))
    raise InvalidFocalPoint(f"not a focal point: {value!r}; {EXPECTED}.")


def window_start(center: float, span: tuple[float, float] | None, size: int, window: int) -> int:
    """Where a ``window`` px long crop starts on a ``size`` px side, for one axis.

    Centred on ``center`` (a fraction of the side); moved, when ``span`` (the box's two
    fractions) fits in the window, just enough to hold all of it; then kept inside the image.
    """
    room = size - window
    if room <= 0:
        return 0
    start = center * size - window / 2
    if span is not None:
        low, high = span[0] * size, span[1] * size
        if high - low <= window:
            start = min(max(start, high - window), low)
    return round(max(0.0, min(start, float(room))))


def crop_start(
    point: FocalPoint, size: tuple[int, int], window: tuple[int, int]
) -> tuple[int, int]:
    """The top left corner of a ``window`` crop of an image of ``size``, following ``point``."""
    box = point.box
    left = window_start(point.x, (box[0], box[2]) if box else None, size[0], window[0])
    top = window_start(point.y, (box[1], box[3]) if box else None, size[1], window[1])
    return left, top


__all__ = ["FocalPoint", "crop_start", "to_focal", "window_start"]

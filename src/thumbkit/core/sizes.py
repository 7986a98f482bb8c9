"""``THUMBKIT["SIZES_ALLOWED"]``: the geometries the on-demand endpoint may make.

A signed URL names one spec, but a page that builds specs from a request (a width in a
query string, a ``{% picture %}`` with computed widths) could still sign any number of
sizes, each a file, a record and an encode. With an allow-list the endpoint refuses (400,
before anything is read, locked or written) a spec whose geometry is not on it, the
on-demand strategy refuses to sign one, and ``{% picture %}`` snaps its widths to it.

An entry is an int or a digit string (a width: any spec of that width, whatever its
height, so one entry covers a width in every aspect ratio), ``"WxH"`` (exactly that box) or
``"xH"`` (a height). ``None`` (the default) allows every size within LIMITS. Specs without
a geometry (processors only, imagekit's style) are allowed: their code fixes their size.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from ..conf import get_settings, on_reset
from ..exceptions import InvalidSpec, SizeNotAllowed
from .spec import MAX_DIGITS, Spec, number

# (width, height); None on one side: any value there.
Size = tuple[int | None, int | None]


def parse_sizes(value: Iterable[Any]) -> tuple[Size, ...]:
    """The entries of SIZES_ALLOWED; ValueError naming the first bad one."""
    entries = list(value)
    if not entries:
        raise ValueError("an empty list would refuse every size; use None to allow all")
    return tuple(_entry(item) for item in entries)


def _entry(item: Any) -> Size:
    if isinstance(item, bool) or not isinstance(item, int | str):
        raise ValueError(f"{item!r} is not a width or a 'WxH' string")
    if isinstance(item, int):
        if not 0 < item < 10**MAX_DIGITS:
            raise ValueError(f"{item!r} is not a positive width")
        return item, None
    text = item.strip()
    width, sep, height = text.partition("x")
    try:
        w = number(width, "a width") if width else None
        h = number(height, "a height") if sep and height else None
    except ValueError:
        raise ValueError(f"{item!r} is not a width, 'WxH' or 'xH'") from None
    if (sep and not height) or (w is None and h is None) or 0 in (w, h):
        raise ValueError(f"{item!r} is not a width, 'WxH' or 'xH'")
    return w, h


@on_reset
@functools.cache
def configured() -> tuple[Size, ...] | None:
    """The parsed SIZES_ALLOWED (None: any size); bad entries are the system check's to
    report, and raise InvalidSpec here rather than allow everything."""
    raw = get_settings().sizes_allowed
    if raw is None:
        return None
    try:
        return parse_sizes(raw)
    except ValueError as exc:
        raise InvalidSpec(f"THUMBKIT['SIZES_ALLOWED'] is invalid: {exc}.") from None


def allowed(spec: Spec, sizes: Sequence[Size] | None = None) -> bool:
    """Whether ``spec``'s geometry is on the list (``configured()`` unless given)."""
    sizes = configured() if sizes is None else sizes
    if sizes is None or not spec.has_geometry:
        return True
    return any(_matches(entry, spec.width, spec.height) for entry in sizes)


def _matches(entry: Size, width: int | None, height: int | None) -> bool:
    w, h = entry
    if w is not None and h is not None:
        return (w, h) == (width, height)
    return width == w if w is not None else height == h


def check(spec: Spec) -> None:
    """Raise SizeNotAllowed for a spec whose geometry is not on the list."""
    if not allowed(spec):
        raise SizeNotAllowed(
            f"The size {spec.geometry!r} of {spec.canonical!r} is not in "
            "THUMBKIT['SIZES_ALLOWED']; add it there or ask for an allowed size."
        )


def widths(sizes: Sequence[Size]) -> list[int]:
    """Every width an entry names, sorted (the candidates ``{% picture %}`` snaps to)."""
    return sorted({w for w, _ in sizes if w is not None})


def snap(width: int, candidates: Sequence[int]) -> int:
    """The candidate nearest ``width`` (the larger on a tie); ``width`` if there is none."""
    if not candidates:
        return width
    return min(candidates, key=lambda c: (abs(c - width), -c))

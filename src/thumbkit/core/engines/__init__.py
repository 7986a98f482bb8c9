"""Engines turn source bytes and specs into encoded thumbnails.

Pick one with ``THUMBKIT["ENGINE"]``: ``"pillow"`` (default) or ``"vips"``
(``pip install django-thumbkit[vips]``), or the dotted path of an :class:`Engine`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.utils.module_loading import import_string

from ...conf import Settings, get_settings, on_reset
from ...exceptions import ConfigurationError
from ..lqip import Lqip
from ..spec import Spec

ENGINES = {
    "pillow": "thumbkit.core.engines.pillow.PillowEngine",
    "vips": "thumbkit.core.engines.vips.VipsEngine",
}


@dataclass(frozen=True)
class Rendered:
    """One encoded thumbnail, and its source's placeholder (the same for every spec of one
    render; None from an engine that does not compute it, and the records then have none)."""

    data: bytes
    width: int
    height: int
    format: str  # JPEG, PNG, WEBP, AVIF or GIF
    lqip: Lqip | None = None


class Engine(Protocol):
    """Decode a source once and encode one output per spec.

    An engine must check LIMITS from the header before decoding (``thumbkit.core.probe.probe``
    does it as the built-in engines do), raise only ``thumbkit.exceptions`` errors, and
    produce the sizes ``thumbkit.core.limits.planned`` plans (``thumbkit.core.geometry``'s, clamped
    to the output caps when the source's shape exceeds them). Example::

        class MyEngine:
            def render(self, data, specs, settings):
                ...  # open, check limits, decode once, then for each spec:
                return [Rendered(data=b"...", width=100, height=80, format="JPEG")]

    Give each ``Rendered`` the source's ``lqip`` (``thumbkit.core.lqip.compute`` on the
    decoded pixels, once per render) for the records to carry a placeholder.
    """

    def render(self, data: bytes, specs: Sequence[Spec], settings: Settings) -> list[Rendered]: ...


def engine_class(name: str) -> type[Engine]:
    path = ENGINES.get(name, name)
    try:
        cls: type[Engine] = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(
            f"THUMBKIT['ENGINE'] = {name!r} cannot be imported: {exc}"
        ) from exc
    return cls


@on_reset
@functools.cache
def get_engine() -> Engine:
    return engine_class(get_settings().engine)()

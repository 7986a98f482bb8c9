"""``{% picture %}``: a responsive ``<picture>`` of one spec in several formats and widths.

::

    {% picture p.photo "card" formats="avif,webp,jpeg" widths="320,640,960"
       sizes="(max-width: 600px) 100vw, 320px" -- alt="..." class="..." %}

renders one ``<source type=... srcset=... sizes=...>`` per format but the last, and an
``<img src srcset sizes width height loading="lazy" decoding="async" ...>`` in the last
format (through ``img_tag``); ``priority=True`` (the page's main image) makes it
``loading="eager" fetchpriority="high"`` instead, and attributes after ``--`` win. Each
width is the spec with its width replaced (the aspect ratio and crop kept); widths the
source cannot fill are clamped by the engine (no upscaling unless the spec says so), and
clamped duplicates are left out of ``srcset``. Every thumbnail of the picture is looked up
in one store round trip (``api.resolve``); missing ones are made from one read of the source.
With ``THUMBKIT["SIZES_ALLOWED"]`` set, each width is snapped to the nearest allowed one
(``thumbkit.core.sizes``), so every ``srcset`` entry is a size the on-demand endpoint serves.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from django import template
from django.template.base import FilterExpression, Parser, Token
from django.template.context import Context

from ...conf import on_reset
from ...core import sizes
from ...core.spec import FORMAT_ALIASES, Spec
from ...exceptions import InvalidSpec
from ...lookup import resolver
from ...lookup.api import get_spec, resolve
from ...lookup.source import coerce
from ...lookup.thumbnail import secured
from ..html import img_tag, picture, source_tag
from .common import (
    Kwargs,
    Result,
    lookup,
    pop_https,
    resolve_kwargs,
    resolve_placeholder,
    split_bits,
    take_placeholder,
)

MIME_TYPES = {
    "AVIF": "image/avif",
    "WEBP": "image/webp",
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
}
# The tag's own options; any other name=value is a spec option (crop, quality, ...).
_OWN = ("formats", "widths", "sizes", "priority")
LAZY = {"loading": "lazy", "decoding": "async"}
PRIORITY = {"loading": "eager", "fetchpriority": "high", "decoding": "async"}
_TRUE = ("1", "true", "yes", "on")

Variant = tuple[int, str | None]


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def formats_of(value: Any) -> list[str | None]:
    names: list[str | None] = []
    for item in _split(value):
        name = FORMAT_ALIASES.get(item.upper(), item.upper())
        if name not in MIME_TYPES:
            raise InvalidSpec(f"picture formats are {', '.join(MIME_TYPES)}; got {item!r}.")
        names.append(name)
    return names or [None]


def widths_of(value: Any, spec: Spec) -> list[int]:
    try:
        widths = sorted({int(item) for item in _split(value)})
    except ValueError:
        raise InvalidSpec(f"picture widths must be integers, got {value!r}.") from None
    if any(width <= 0 for width in widths):
        raise InvalidSpec(f"picture widths must be positive, got {value!r}.")
    if not widths and spec.width is None:
        raise InvalidSpec(f"picture needs widths= for the spec {spec.canonical!r} (no width).")
    return snapped(tuple(widths or [spec.width]), spec)


@on_reset
@functools.lru_cache(maxsize=1024)
def snapped(widths: tuple[int, ...], spec: Spec) -> list[int]:
    """``widths`` snapped to the SIZES_ALLOWED widths that ``spec``'s variants may take
    (unchanged without the setting, or when none fits this spec's aspect)."""
    allowed = sizes.configured()
    if allowed is None:
        return list(widths)
    fits = [w for w in sizes.widths(allowed) if sizes.allowed(_sized(spec, w), allowed)]
    return sorted({sizes.snap(width, fits) for width in widths})


def _sized(spec: Spec, width: int) -> Spec:
    height = None
    if spec.width is not None and spec.height is not None:
        height = max(1, round(width * spec.height / spec.width))
    return replace(spec, width=width, height=height)


def priority_of(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


@on_reset
@functools.lru_cache(maxsize=4096)
def variant(spec: Spec, width: int, fmt: str | None) -> Spec:
    """``spec`` at ``width`` (height scaled to keep its aspect) in ``fmt``; limits checked."""
    if not spec.has_geometry:
        raise InvalidSpec(
            f"picture needs a spec with a geometry, not {spec.canonical!r} (processors only)."
        )
    changed = replace(_sized(spec, width), format=fmt or spec.format)
    return get_spec(changed)


class PictureNode(template.Node):
    def __init__(
        self,
        source: FilterExpression,
        spec: FilterExpression,
        options: Kwargs,
        attrs: Kwargs,
        placeholder: FilterExpression | None = None,
    ) -> None:
        self.source, self.spec, self.options, self.attrs = source, spec, options, attrs
        self.placeholder = placeholder

    def render(self, context: Context) -> str:
        mode = resolve_placeholder(self.placeholder, context, "picture")  # raises before I/O
        source = self.source.resolve(context)
        options = resolve_kwargs(self.options, context)
        secure = pop_https(context, options)
        own = {name: options.pop(name, None) for name in _OWN}
        # Resolved for the source (a name declared on its field first); invalid specs raise.
        base = resolver.resolve(self.spec.resolve(context), source, options)
        formats = formats_of(own["formats"])
        widths = widths_of(own["widths"], base)
        variants = [(width, fmt) for fmt in formats for width in widths]
        specs = [variant(base, width, fmt) for width, fmt in variants]
        found = lookup(source, base, lambda: self._resolve(source, specs))
        if found is None:
            return ""
        thumbs = dict(zip(variants, found, strict=True))
        if secure:
            thumbs = {k: secured(t) for k, t in thumbs.items()}
        loading = PRIORITY if priority_of(own["priority"]) else LAZY
        attrs = {**loading, **resolve_kwargs(self.attrs, context)}
        return picture_html(thumbs, formats, widths, base, own["sizes"], attrs, mode)

    @staticmethod
    def _resolve(source: Any, specs: list[Spec]) -> list[Result]:
        src = coerce(source)
        found: list[Result] = list(resolve([(src, spec) for spec in specs]))
        return found


def srcset(thumbs: dict[Variant, Result], fmt: str | None, widths: list[int]) -> str:
    """``url 320w, url 640w``: made thumbnails only, one entry per distinct output width."""
    seen: set[int] = set()
    entries = []
    for width in widths:
        thumb = thumbs[width, fmt]
        # A predicted thumbnail of unknown size is described by the width it was asked for.
        real = thumb.width or width
        if thumb and real not in seen:
            seen.add(real)
            entries.append(f"{thumb.url} {real}w")
    return ", ".join(entries)


def picture_html(
    thumbs: dict[Variant, Result],
    formats: list[str | None],
    widths: list[int],
    base: Spec,
    sizes: Any,
    attrs: dict[str, Any],
    placeholder: str | None = None,
) -> str:
    *modern, last = formats
    main = thumbs[_closest(widths, base.width), last]
    if not main:  # deferred or unreachable: what the inline thumbnail tag would render
        return img_tag(main, attrs)
    sources = []
    for fmt in modern:
        entries = srcset(thumbs, fmt, widths)
        if entries:
            sources.append(source_tag(MIME_TYPES[str(fmt)], entries, sizes))
    img = img_tag(
        main, {"srcset": srcset(thumbs, last, widths), "sizes": sizes, **attrs}, placeholder
    )
    return picture(sources, img)


def _closest(widths: list[int], width: int | None) -> int:
    """The ``<img src>`` width: the spec's own, else the nearest (the larger on a tie)."""
    if width is None:
        return widths[-1]
    return min(widths, key=lambda w: (abs(w - width), -w))


def picture_tag(parser: Parser, token: Token) -> PictureNode:
    bits = split_bits(parser, token.split_contents())
    placeholder = take_placeholder(bits) if bits.var is None else None
    if len(bits.args) != 2 or bits.var is not None:
        raise template.TemplateSyntaxError(
            f'{bits.tag} takes a source and a spec: {{% {bits.tag} src "card" widths="320,640" '
            'formats="avif,webp,jpeg" sizes="..." priority=True -- alt="..." %}'
        )
    return PictureNode(bits.args[0], bits.args[1], bits.options, bits.attrs, placeholder)

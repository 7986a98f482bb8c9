"""The one place that renders thumbnails as HTML."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..lookup.thumbnail import Placeholder, Thumbnail


def img_tag(
    thumbnail: Thumbnail | Placeholder, attrs: Mapping[str, Any] | None = None
) -> SafeString:
    """``<img src width height ...attrs>``; attrs given by the caller win, except ``src``.

    Sizes that are not known (``UNKNOWN``, 0 or None: a placeholder, a predicted record whose
    source size is unknown) are left out; a placeholder without a URL renders nothing.
    """
    if not thumbnail.url:
        return SafeString("")
    merged: dict[str, Any] = {}
    if thumbnail.width and thumbnail.height:
        merged = {"width": thumbnail.width, "height": thumbnail.height}
    for name, value in (attrs or {}).items():
        if name != "src" and value is not None and value is not False:
            merged[name] = value
    return format_html('<img src="{}"{}>', thumbnail.url, flatatt(merged))


def source_tag(mime_type: str, srcset: str, sizes: str | None = None) -> SafeString:
    """``<source type srcset sizes>`` for one format of a ``<picture>``."""
    attrs = {"type": mime_type, "srcset": srcset, "sizes": sizes or None}
    return format_html("<source{}>", flatatt({k: v for k, v in attrs.items() if v}))


def picture(sources: Iterable[SafeString], img: SafeString) -> SafeString:
    """``<picture>`` around its ``<source>`` tags and the fallback ``<img>``."""
    inner = format_html_join("", "{}", ((source,) for source in sources))
    return format_html("<picture>{}{}</picture>", inner, img)

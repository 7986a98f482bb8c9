"""The one place that renders thumbnails as HTML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..core import lqip
from ..lookup.thumbnail import Placeholder, Thumbnail

_COLOR = re.compile(r"#[0-9a-f]{6}")
# Formats whose files keep a transparent source's transparency.
_ALPHA = frozenset({"PNG", "WEBP", "AVIF", "GIF"})


def img_tag(
    thumbnail: Thumbnail | Placeholder,
    attrs: Mapping[str, Any] | None = None,
    placeholder: str | None = None,
) -> SafeString:
    """``<img src width height ...attrs>``; attrs given by the caller win, except ``src``.

    Sizes that are not known (``UNKNOWN``, 0 or None: a placeholder, a predicted record whose
    source size is unknown) are left out; a placeholder without a URL renders nothing.
    ``placeholder`` (``"color"`` or ``"thumbhash"``) puts the record's LQIP in ``style``,
    before the caller's own style (which wins where both set a property).
    """
    if not thumbnail.url:
        return SafeString("")
    merged: dict[str, Any] = {}
    if thumbnail.width and thumbnail.height:
        merged = {"width": thumbnail.width, "height": thumbnail.height}
    for name, value in (attrs or {}).items():
        if name != "src" and value is not None and value is not False:
            merged[name] = value
    style = placeholder_style(thumbnail, placeholder) if placeholder else ""
    if style:
        own = merged.get("style")
        merged["style"] = f"{style};{own}" if own else style
    return format_html('<img src="{}"{}>', thumbnail.url, flatatt(merged))


def placeholder_style(thumbnail: Thumbnail | Placeholder, mode: str) -> str:
    """The inline CSS that shows ``thumbnail``'s LQIP until the image paints over it.

    ``"color"``: the dominant colour as ``background-color``; ``"thumbhash"``: that, and
    the decoded preview as a covering ``background-image``. ``""`` when the record has no
    placeholder (a falsy Placeholder, a record made before thumbkit kept them), and when
    the source is transparent and the file keeps its transparency: the background would
    show through it. Only a well-formed colour is written (records are data, not markup).
    """
    color = thumbnail.placeholder_color
    if color and not _COLOR.fullmatch(color):
        color = ""
    uri = thumbnail.placeholder_uri if mode == "thumbhash" else ""
    if not (color or uri):
        return ""
    if lqip.has_alpha(thumbnail.thumbhash) and getattr(thumbnail, "format", "") in _ALPHA:
        return ""
    rules = [f"background-color:{color}"] if color else []
    if uri:
        rules += [f"background-image:url({uri})", "background-size:cover"]
        rules.append("background-position:center")
    return ";".join(rules)


def source_tag(mime_type: str, srcset: str, sizes: str | None = None) -> SafeString:
    """``<source type srcset sizes>`` for one format of a ``<picture>``."""
    attrs = {"type": mime_type, "srcset": srcset, "sizes": sizes or None}
    return format_html("<source{}>", flatatt({k: v for k, v in attrs.items() if v}))


def picture(sources: Iterable[SafeString], img: SafeString) -> SafeString:
    """``<picture>`` around its ``<source>`` tags and the fallback ``<img>``."""
    inner = format_html_join("", "{}", ((source,) for source in sources))
    return format_html("<picture>{}{}</picture>", inner, img)

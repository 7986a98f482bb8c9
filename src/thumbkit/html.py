"""The one place that renders thumbnails as HTML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .thumbnail import Thumbnail


def img_tag(thumbnail: Thumbnail, attrs: Mapping[str, Any] | None = None) -> SafeString:
    """``<img src width height ...attrs>``; attrs given by the caller win, except ``src``."""
    merged: dict[str, Any] = {"width": thumbnail.width, "height": thumbnail.height}
    for name, value in (attrs or {}).items():
        if name != "src" and value is not None and value is not False:
            merged[name] = value
    return format_html('<img src="{}"{}>', thumbnail.url, flatatt(merged))

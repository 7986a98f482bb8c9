"""``{% load thumbkit %}``: every thumbkit tag and filter, from one library.

- ``{% thumbnail %}``: sorl's block and inline forms, and imagekit's order
  (``{% thumbnail "100x50" src %}``); see :mod:`thumbkit.adapters.tags.thumbnail` for the rule.
- ``{% generateimage "app:spec" source=... %}``: imagekit's generic tag.
- ``{% thumbnail_url src "small" %}`` and ``{{ src|thumbnail_url:"small" }}``: a URL.
- ``{% picture src "card" formats=... widths=... sizes=... %}``: a responsive ``<picture>``.

Only a missing or unreadable source degrades (``{% empty %}``, or nothing inline) with one
logged warning; an invalid spec or a configuration error raises.
"""

from __future__ import annotations

from django import template

from ..adapters.tags.common import parse_kwargs, resolve_kwargs
from ..adapters.tags.generate import generateimage_tag
from ..adapters.tags.picture import picture_tag
from ..adapters.tags.thumbnail import ThumbnailNode, thumbnail_tag
from ..adapters.tags.urls import thumbnail_url_filter, thumbnail_url_tag

register = template.Library()

register.tag("thumbnail", thumbnail_tag)
register.tag("generateimage", generateimage_tag)
register.tag("picture", picture_tag)
register.simple_tag(thumbnail_url_tag, takes_context=True, name="thumbnail_url")
register.filter("thumbnail_url", thumbnail_url_filter)

__all__ = ["ThumbnailNode", "parse_kwargs", "register", "resolve_kwargs"]

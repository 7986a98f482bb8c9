"""``thumbnail_url``: a named size's URL, as django-athumb's tag gives it.

::

    {{ obj.image|thumbnail_url:"small" }}
    {% thumbnail_url obj.image "small" force_ssl=True %}
    {% thumbnail_url obj.image "small" force_ssl=True as url %}

``"small"`` is a thumbnail declared on the image's thumbkit ImageField, or any spec (a
geometry string or a named spec). The tag also takes spec options and turns URLs https
on secure requests (``request`` in the context); the filter cannot see the request, so it
applies the THUMBKIT settings only. A missing or unusable source gives ``""``, logged once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.template.context import Context

from ..api import get_thumbnail
from ..spec import Spec
from .common import lookup, pop_https, with_https


def named_spec(source: Any, name: Any) -> str | Spec:
    """A thumbnail declared on ``source``'s field under ``name``, else ``name`` itself."""
    field = getattr(source, "field", None)
    declared = getattr(field, "thumbnails", None)
    if isinstance(name, str) and isinstance(declared, Mapping) and name in declared:
        spec: Spec = field.declared_spec(name)  # type: ignore[union-attr]
        return spec
    return name  # type: ignore[no-any-return]


def url_of(source: Any, name: Any, secure: bool = False, **options: Any) -> str:
    spec = named_spec(source, name)
    thumb = with_https(lookup(source, name, lambda: get_thumbnail(source, spec, **options)), secure)
    return thumb.url if thumb is not None else ""


def thumbnail_url_filter(source: Any, name: Any) -> str:
    return url_of(source, name)


def thumbnail_url_tag(context: Context, source: Any, name: Any, **options: Any) -> str:
    secure = pop_https(context, options)
    return url_of(source, name, secure, **options)

"""``thumbnail_url``: a named size's URL, as django-athumb's tag gives it.

::

    {{ obj.image|thumbnail_url:"small" }}
    {% thumbnail_url obj.image "small" force_ssl=True %}
    {% thumbnail_url obj.image "small" force_ssl=True as url %}

``"small"`` is resolved as everywhere (``thumbkit.lookup.resolver``): a thumbnail declared on the
image's field, else ``THUMBKIT["SPECS"]``, else a generator id, else a geometry string. The
tag also takes spec options and turns URLs https on secure requests (``request`` in the
context); the filter cannot see the request, so it applies the THUMBKIT settings only. A
missing or unusable source gives ``""``, logged once.
"""

from __future__ import annotations

from typing import Any

from django.template.context import Context

from ...lookup.api import get_thumbnail
from .common import lookup, pop_https, with_https


def url_of(source: Any, name: Any, secure: bool = False, **options: Any) -> str:
    # The resolver takes a name declared on the source's field first, as everywhere else.
    thumb = with_https(lookup(source, name, lambda: get_thumbnail(source, name, **options)), secure)
    return thumb.url if thumb is not None else ""


def thumbnail_url_filter(source: Any, name: Any) -> str:
    return url_of(source, name)


def thumbnail_url_tag(context: Context, source: Any, name: Any, **options: Any) -> str:
    secure = pop_https(context, options)
    return url_of(source, name, secure, **options)

"""What to show for a thumbnail that cannot be served from the store right now.

Used by the strategies that do not generate during the request (optimistic, deferred) and
when the metadata store cannot be reached. A *mode* says what to render:

``"predict"``
    the name the thumbnail has once made (names are a pure function of source, spec and
    version), as a truthy :class:`~thumbkit.thumbnail.Thumbnail`: imagekit's optimistic
    assumption that the file exists;
``"source"``
    the source image itself, as a falsy :class:`~thumbkit.thumbnail.Placeholder`;
``"none"``
    nothing: a falsy placeholder without a URL;
any other string
    the URL of a placeholder image (``"/static/img/wait.svg"``), as a falsy placeholder.

None of them knows the output's size: ``<img>`` tags rendered from them carry no width and
height.
"""

from __future__ import annotations

import posixpath

from .conf import get_settings
from .keys import get_namer, source_key
from .source import Source
from .spec import Spec
from .thumbnail import Placeholder, Thumbnail

PREDICT, SOURCE, NONE = "predict", "source", "none"

# Source extensions and the format their thumbnails get when the spec names none; the
# engine keeps web formats and turns the rest into JPEG (PNG when there is alpha).
_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".avif": "AVIF",
}


def fallback(source: Source, spec: Spec, key: str, mode: str) -> Thumbnail | Placeholder:
    """The stand-in for the thumbnail ``key`` of ``source`` under ``spec``."""
    if mode == PREDICT:
        return predicted(source, spec, key)
    if mode == SOURCE:
        return Placeholder(_source_url(source), name=source.name, key=key)
    if mode == NONE:
        return Placeholder("", key=key)
    return Placeholder(mode, key=key)


def predicted(source: Source, spec: Spec, key: str) -> Thumbnail:
    """The record the thumbnail will have once made, built without any I/O.

    Its width and height are 0 (unknown): the source's size is not known without reading
    it (Django's width_field ignores EXIF rotation), and a guessed size could distort.
    """
    settings = get_settings()
    fmt = predicted_format(source, spec)
    namer = get_namer(spec.namer or settings.namer)
    return Thumbnail(
        key=key,
        name=namer(source, spec, key, fmt, settings.prefix),
        width=0,
        height=0,
        format=fmt,
        storage_alias=spec.storage or settings.storage,
        source_key=source_key(source),
        spec=spec.canonical,
        source_name=source.name,
    )


def predicted_format(source: Source, spec: Spec) -> str:
    if spec.format:
        return spec.format
    ext = posixpath.splitext(source.name)[1].lower()
    return _FORMATS.get(ext, "JPEG")


def _source_url(source: Source) -> str:
    try:
        return str(source.storage.url(source.name))
    except Exception:  # a storage that cannot make URLs: show nothing rather than fail
        return ""

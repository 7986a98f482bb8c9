"""What to show for a thumbnail that cannot be served from the store right now.

Used by the strategies that do not generate during the request (optimistic, deferred) and
when the metadata store cannot be reached. A *mode* says what to render:

``"predict"``
    the name the thumbnail has once made (names are a pure function of source, spec and
    version), as a truthy :class:`~thumbkit.lookup.thumbnail.PredictedThumbnail`: imagekit's
    optimistic assumption that the file exists;
``"source"``
    the source image itself, as a falsy :class:`~thumbkit.lookup.thumbnail.Placeholder`;
``"none"``
    nothing: a falsy placeholder without a URL;
any other string
    the URL of a placeholder image (``"/static/img/wait.svg"``), as a falsy placeholder.

The predicted record carries the size the engine will make when the source's size is known
without I/O (``thumbkit.lookup.sourcesize``): the spec's geometry is planned on it with the engines'
own arithmetic and LIMITS clamping. Otherwise its width and height are
:data:`~thumbkit.lookup.thumbnail.UNKNOWN` (0, rendered as ""), and ``<img>`` tags leave them out.
Placeholders never know the output's size.
"""

from __future__ import annotations

import posixpath

from ..conf import get_settings
from ..core import limits, pipeline
from ..core.spec import AUTO, UNIVERSAL_FORMATS, Spec
from ..exceptions import ThumbkitError
from .keys import get_namer, source_key
from .source import Source
from .sourcesize import Known, Size, known_size
from .thumbnail import UNKNOWN, Placeholder, PredictedThumbnail, Thumbnail

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


def predicted(source: Source, spec: Spec, key: str) -> PredictedThumbnail:
    """The record the thumbnail will have once made, built without any I/O.

    Its size is :func:`predicted_size`, or UNKNOWN (0) when that is not known.
    """
    settings = get_settings()
    fmt = predicted_format(source, spec)
    namer = get_namer(spec.namer or settings.namer)
    width, height = predicted_size(spec, known_size(source)) or (UNKNOWN, UNKNOWN)
    return PredictedThumbnail(
        key=key,
        name=namer(source, spec, key, fmt, settings.prefix),
        width=width,
        height=height,
        format=fmt,
        storage_alias=spec.storage or settings.storage,
        source_key=source_key(source),
        spec=spec.canonical,
        source_name=source.name,
    )


def predicted_size(spec: Spec, known: Known | None) -> Size | None:
    """The size the engine makes of a source of ``known`` size, or None when not sure.

    A stored size that may be unrotated (Django's width_field) counts only when both
    orientations give the same output: a square source, a crop both ways covered.
    """
    if known is None:
        return None
    size = planned_output(spec, known.size)
    if known.oriented or size is None:
        return size
    turned = planned_output(spec, (known.size[1], known.size[0]))
    return size if turned == size else None


def planned_output(spec: Spec, source: Size) -> Size | None:
    """What the engines make of an (oriented) ``source`` under ``spec``: their plan (sorl's
    geometry, clamped to LIMITS when the source's shape takes it over), then the processors'
    own size predictions; None when the engine would refuse the output or a processor
    cannot tell its size."""
    try:
        made = limits.planned(spec, source, get_settings().limits)
    except ThumbkitError:
        return None  # the engine refuses it too: no such thumbnail will exist
    if not spec.processors:
        return made.output
    if spec.has_geometry or made.need is None:
        # Processors run on the planned output, made at exactly that size.
        return pipeline.output_size(spec.processors, made.output)
    # Processors only, the first one resizing: a JPEG is decoded at 1/2, 1/4 or 1/8 scale
    # when that still covers what it asks for (more when other specs share the decode), and
    # its result depends on the decoded size. Known only if every such decode agrees.
    outputs = {pipeline.output_size(spec.processors, size) for size in _decodes(source, made.need)}
    return outputs.pop() if len(outputs) == 1 else None


def _decodes(source: Size, need: Size) -> list[Size]:
    """The sizes a JPEG decoder's DCT scaling may give for ``source`` that still cover ``need``."""
    sizes = [(-(-source[0] // scale), -(-source[1] // scale)) for scale in (1, 2, 4, 8)]
    return [size for size in sizes if size[0] >= need[0] and size[1] >= need[1]]


def predicted_format(source: Source, spec: Spec) -> str:
    if spec.format and spec.format != AUTO:
        return spec.format
    ext = posixpath.splitext(source.name)[1].lower()
    fmt = _FORMATS.get(ext, "JPEG")
    # AUTO keeps only what every browser shows (the engines' UNIVERSAL_FORMATS).
    return UNIVERSAL_FORMATS.get(fmt, "JPEG") if spec.format == AUTO else fmt


def _source_url(source: Source) -> str:
    try:
        return str(source.storage.url(source.name))
    except Exception:  # a storage that cannot make URLs: show nothing rather than fail
        return ""

"""Generation, the only writer: read the source once, render every spec, write, record."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.core.files.storage import storages

from . import files, pipeline
from .conf import get_settings
from .engines import get_engine
from .exceptions import GenerationError, ThumbkitError
from .keys import default_name, source_key
from .signals import thumbnails_generated
from .source import Source
from .spec import Spec
from .stores import get_store
from .thumbnail import Thumbnail

logger = logging.getLogger("thumbkit")


def generate(source: Source, items: Sequence[tuple[Spec, str]]) -> dict[str, Thumbnail]:
    """Make the thumbnails ``items`` ((spec, key) pairs) of one source; return them by key.

    Files are written before records, and removed again if anything after them fails, so a
    record never points to a missing file and a failure leaves nothing behind.
    """
    settings = get_settings()
    data = source.read()
    rendered = get_engine().render(data, [spec for spec, _ in items], settings)
    alias = settings.storage
    storage = storages[alias]
    src_key = source_key(source)
    written: list[str] = []
    thumbs: list[Thumbnail] = []
    try:
        for (spec, key), out in zip(items, rendered, strict=True):
            name = default_name(source, spec, key, out.format, settings.prefix)
            data = _post_processed(out.data, out.format, spec)
            written.append(files.write(storage, name, data))
            thumbs.append(
                Thumbnail(
                    key=key,
                    name=written[-1],
                    width=out.width,
                    height=out.height,
                    format=out.format,
                    storage_alias=alias,
                    source_key=src_key,
                    spec=spec.canonical,
                    source_name=source.name,
                )
            )
        get_store().set_many(thumbs)
    except BaseException:
        _remove(storage, written)
        raise
    thumbnails_generated.send(sender=Thumbnail, source=source, thumbnails=thumbs)
    return {t.key: t for t in thumbs}


def _post_processed(data: bytes, fmt: str, spec: Spec) -> bytes:
    try:
        return pipeline.run_post(data, fmt, spec.post_processors)
    except ThumbkitError:
        raise
    except Exception as exc:  # an optimizer is user code or a tool: report, never leak
        raise GenerationError(f"A post-processor of {spec.canonical!r} failed: {exc!r}") from exc


def _remove(storage: object, names: list[str]) -> None:
    for name in names:
        try:
            files.delete(storage, name)  # type: ignore[arg-type]
        except ThumbkitError:
            logger.warning("Could not remove %s after a failed generation", name, exc_info=True)

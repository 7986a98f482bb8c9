"""Generation, the only writer: read the source once, render every spec, write, record."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Sequence

from django.core.files.storage import Storage, storages

from ..conf import get_settings
from ..core import lqip, pipeline
from ..core.engines import get_engine
from ..core.spec import Spec
from ..exceptions import GenerationError, ThumbkitError
from ..signals import thumbnail_error, thumbnails_generated
from . import files
from .keys import get_namer, source_key
from .source import Source
from .stores import get_store
from .thumbnail import Thumbnail

logger = logging.getLogger("thumbkit")


def generate(source: Source, items: Sequence[tuple[Spec, str]]) -> dict[str, Thumbnail]:
    """Make the thumbnails ``items`` ((spec, key) pairs) of one source; return them by key.

    Files are written before records, and removed again if anything after them fails, so a
    record never points to a missing file and a failure leaves nothing behind. Records the db
    store writes inside an atomic block that is later rolled back take their files with them.
    Sends ``thumbnails_generated`` (with the time taken and the bytes written), or
    ``thumbnail_error`` when it fails.
    """
    started = time.perf_counter()  # generation takes milliseconds: the clock is free here
    try:
        thumbs, size = _make(source, items)
    except Exception as exc:
        if thumbnail_error.receivers:
            specs = [spec.canonical for spec, _ in items]
            thumbnail_error.send(sender=Thumbnail, source=source, specs=specs, error=exc)
        raise
    seconds = time.perf_counter() - started
    thumbnails_generated.send(
        sender=Thumbnail, source=source, thumbnails=thumbs, seconds=seconds, bytes=size
    )
    return {t.key: t for t in thumbs}


def _make(source: Source, items: Sequence[tuple[Spec, str]]) -> tuple[list[Thumbnail], int]:
    """Render, write and record; the records and the bytes written."""
    settings = get_settings()
    data = source.read()
    rendered = get_engine().render(data, [spec for spec, _ in items], settings)
    # One placeholder per source: every record of this render carries it.
    placeholder = next((out.lqip for out in rendered if out.lqip is not None), lqip.EMPTY)
    src_key = source_key(source)
    written: list[tuple[Storage, str]] = []
    uploads: list[files.Upload] = []
    thumbs: list[Thumbnail] = []
    try:
        for (spec, key), out in zip(items, rendered, strict=True):
            alias = spec.storage or settings.storage
            storage = storages[alias]
            namer = get_namer(spec.namer or settings.namer)
            name = namer(source, spec, key, out.format, settings.prefix)
            data = post_processed(out.data, out.format, spec)
            uploads.append(files.Upload(storage, name, data, out.format))
            thumbs.append(
                Thumbnail(
                    key=key,
                    name=name,
                    width=out.width,
                    height=out.height,
                    format=out.format,
                    storage_alias=alias,
                    source_key=src_key,
                    spec=spec.canonical,
                    source_name=source.name,
                    placeholder_color=placeholder.color,
                    thumbhash=placeholder.thumbhash,
                )
            )
        # Everything is rendered before anything is written; uploads to a remote storage
        # go at once. A storage may store a file under another name than asked: keep that.
        stored = files.write_many(uploads, written)
        thumbs = [_stored_as(thumb, name) for thumb, name in zip(thumbs, stored, strict=True)]
        store = get_store()
        store.set_many(thumbs)
    except BaseException:
        _remove(written)
        raise
    _undo_on_rollback(store, written)
    return thumbs, sum(len(upload.data) for upload in uploads)


def post_processed(data: bytes, fmt: str, spec: Spec) -> bytes:
    try:
        return pipeline.run_post(data, fmt, spec.post_processors)
    except ThumbkitError:
        raise
    except Exception as exc:  # an optimizer is user code or a tool: report, never leak
        raise GenerationError(f"A post-processor of {spec.canonical!r} failed: {exc!r}") from exc


def _stored_as(thumb: Thumbnail, name: str) -> Thumbnail:
    return thumb if thumb.name == name else dataclasses.replace(thumb, name=name)


def _undo_on_rollback(store: object, written: list[tuple[Storage, str]]) -> None:
    """Let a transactional store remove the files again if their records are rolled back
    (the db store inside an atomic block). Stores outside the database commit at once."""
    hook = getattr(store, "on_rollback", None)
    if hook is None or not written:
        return
    marks = [(storage, name, files.fingerprint(storage, name)) for storage, name in written]
    hook(functools.partial(_remove_unchanged, marks))


def _remove_unchanged(marks: list[tuple[Storage, str, tuple[int, int] | None]]) -> None:
    # Runs from a finalizer: it must never raise. A local file that changed since it was
    # written (another process made it again after the rollback released the lock) is theirs.
    try:
        _remove([(s, name) for s, name, mark in marks if files.fingerprint(s, name) == mark])
    except Exception:
        logger.warning("Could not remove the files of a rolled-back generation", exc_info=True)


def _remove(written: list[tuple[Storage, str]]) -> None:
    for name, error in files.delete_many(written):
        logger.warning("Could not remove %s after a failed generation", name, exc_info=error)

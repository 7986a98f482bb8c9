"""The low-level API: get_thumbnail, prefetch_thumbnails, delete, and their async twins.

Every lookup goes through :func:`resolve`: memo (per source object) -> one store round trip
for everything still unknown -> the strategy for what the store does not have.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Model

from . import files, limits
from .conf import get_settings, on_reset
from .exceptions import SourceMissing, ThumbkitError
from .keys import source_key, thumbnail_key
from .signals import thumbnails_deleted
from .source import Source, coerce
from .spec import Spec, parse
from .stores import get_store
from .strategies import get_strategy
from .thumbnail import Thumbnail

# Marks a thumbnail that a prefetch found missing, so a later lookup goes straight to the
# strategy instead of asking the store again.
MISSING = object()

Request = tuple[Source, Spec]


def get_thumbnail(source: Any, geometry_or_name: str | Spec, **options: Any) -> Thumbnail:
    """The thumbnail of ``source`` for a geometry string or named spec, made if missing.

    ``source`` is a FieldFile, a Django File or a name on the default storage.
    """
    spec = get_spec(geometry_or_name, **options)
    src = coerce(source)
    return resolve([(src, spec)])[0]


def get_spec(spec: str | Spec, **options: Any) -> Spec:
    """Parse (and cache) a spec, refusing request sizes above LIMITS at once."""
    if isinstance(spec, Spec) and not options:
        parsed = spec
    else:
        try:
            parsed = _parse_cached(spec, tuple(sorted(options.items())))
        except TypeError:  # an unhashable option value: parse without the cache
            parsed = parse(spec, **options)
    limits.check_request(parsed, get_settings().limits)
    return parsed


@on_reset
@functools.lru_cache(maxsize=1024)
def _parse_cached(spec: str | Spec, options: tuple[tuple[str, Any], ...]) -> Spec:
    return parse(spec, **dict(options))


def resolve(requests: Sequence[Request]) -> list[Thumbnail]:
    """Thumbnails for (source, spec) pairs: memo, then one store read, then the strategy."""
    keys = [thumbnail_key(src, spec) for src, spec in requests]
    found: dict[str, Any] = {}
    unknown: list[str] = []
    for (src, _), key in zip(requests, keys, strict=True):
        hit = _memo_get(src, key)
        if hit is None:
            unknown.append(key)
        else:
            found[key] = hit
    if unknown:
        found.update(get_store().get_many(unknown))
    missing: dict[str, tuple[Source, list[tuple[Spec, str]]]] = {}
    for (src, spec), key in zip(requests, keys, strict=True):
        if not isinstance(found.get(key), Thumbnail):
            group = missing.setdefault(src.identity, (src, []))
            if all(k != key for _, k in group[1]):
                group[1].append((spec, key))
    strategy = get_strategy()
    for src, items in missing.values():
        found.update(strategy.on_missing(src, items))
    for (src, _), key in zip(requests, keys, strict=True):
        _memo_set(src, key, found[key])
    return [found[key] for key in keys]


def prefetch_thumbnails(
    objects_or_sources: Iterable[Any], field: str | None, specs: str | Spec | Sequence[str | Spec]
) -> dict[tuple[str, str], Thumbnail | None]:
    """Look up every (source, spec) in one store round trip and remember the answers.

    ``objects_or_sources`` are model instances (with ``field`` naming their file field) or
    sources (FieldFile, File, storage name) with ``field=None``. Later ``get_thumbnail`` calls
    and template tags on the same FieldFile/File objects cost nothing. Missing thumbnails are
    not generated here; they are made when first asked for. Returns
    ``{(source name, spec text): thumbnail or None}``.
    """
    spec_list = [specs] if isinstance(specs, str | Spec) else list(specs)
    parsed = [(str(s), get_spec(s)) for s in spec_list]
    sources = list(_sources(objects_or_sources, field))
    pairs = [(src, text, spec, thumbnail_key(src, spec)) for src in sources for text, spec in parsed]
    records = get_store().get_many(list({key for *_, key in pairs})) if pairs else {}
    result: dict[tuple[str, str], Thumbnail | None] = {}
    for src, text, _, key in pairs:
        record = records.get(key)
        _memo_set(src, key, record if record is not None else MISSING)
        result[(src.name, text)] = record
    return result


def delete(source: Any, delete_file: bool = True) -> None:
    """Forget and delete every thumbnail of ``source``; delete the source too if asked.

    As in sorl-thumbnail: ``delete(f, delete_file=False)`` after the source changed;
    ``delete(f)`` when the source itself goes away.
    """
    src = coerce(source)
    store = get_store()
    keys = store.source_keys(source_key(src))
    records = store.get_many(keys) if keys else {}
    for record in records.values():
        files.delete(record.storage, record.name)
    store.delete_many(keys)
    memo = src.memo()
    if memo is not None:
        memo.clear()
    if delete_file:
        files.delete(src.storage, src.name)
    thumbnails_deleted.send(sender=Thumbnail, source=src, keys=keys)


aget_thumbnail = sync_to_async(get_thumbnail)
aprefetch_thumbnails = sync_to_async(prefetch_thumbnails)
adelete = sync_to_async(delete)


def _sources(objects: Iterable[Any], field: str | None) -> Iterable[Source]:
    for obj in objects:
        value = getattr(obj, field) if field and isinstance(obj, Model) else obj
        try:
            yield coerce(value)
        except SourceMissing:
            continue  # an empty field has nothing to prefetch


def _memo_get(src: Source, key: str) -> Any:
    memo = src.memo()
    return None if memo is None else memo.get(key)


def _memo_set(src: Source, key: str, value: Any) -> None:
    memo = src.memo()
    if memo is not None:
        memo[key] = value


__all__ = [
    "ThumbkitError",
    "adelete",
    "aget_thumbnail",
    "aprefetch_thumbnails",
    "delete",
    "get_spec",
    "get_thumbnail",
    "prefetch_thumbnails",
    "resolve",
]

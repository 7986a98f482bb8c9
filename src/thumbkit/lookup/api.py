"""The low-level API: get_thumbnail, prefetch_thumbnails, delete, and their async twins.

Every lookup goes through :func:`resolve`: the records already memoised on the source
object, else one store round trip for every source still unknown (``batch.load_records``), then the
strategy of each spec for what the store does not have (``thumbkit.lookup.strategies``): lazy
generates, the others return stand-ins (a predicted record, a signed on-demand record, or
a falsy :class:`~thumbkit.lookup.thumbnail.Placeholder`). Stand-ins are never memoised as made.
A source whose generation failed with a source error raises that error again from its
failure record, read in the same round trip (``thumbkit.lookup.failures``), whatever the strategy.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Model

from ..core.spec import AUTO, Spec
from ..exceptions import SourceMissing, StoreUnavailable
from ..signals import thumbnail_hit, thumbnail_miss, thumbnails_deleted
from . import batch, failures, files, resolver
from .keys import key_for, source_key, thumbnail_key
from .memo import ATTRIBUTE as MEMO_ATTRIBUTE
from .memo import Memo
from .source import Source, coerce
from .stores import get_store
from .strategies import generate_locked, get_strategy, is_stored, negotiated, strategy_name
from .thumbnail import Placeholder, Thumbnail

Request = tuple[Source, Spec]
Result = Thumbnail | Placeholder


def get_thumbnail(source: Any, geometry_or_name: str | Spec, **options: Any) -> Result:
    """The thumbnail of ``source`` for a geometry string or named spec.

    ``source`` is a FieldFile, a Django File or a name on the default storage. A name means
    what ``thumbkit.lookup.resolver`` says: a thumbnail declared on the source's field, else
    ``THUMBKIT["SPECS"]``, else a generator id, else a geometry string. A thumbnail
    missing from the store is served by the spec's strategy: made now (lazy, the default),
    or a stand-in (optimistic, deferred, on_demand; see ``thumbkit.lookup.strategies``).
    """
    spec = resolver.resolve(geometry_or_name, source, options)
    if spec.format == AUTO and negotiated(spec):
        # Negotiated per request by the endpoint: a page always renders the signed URL.
        return resolve([(coerce(source), spec)])[0]
    memo: Memo | None = getattr(source, MEMO_ATTRIBUTE, None)
    if memo is not None and _holds(memo, source):
        # Every thumbnail of a warm list page after the page's one store read: no Source
        # is made and no batch machinery runs (``batch.memo_hit`` says the same, slower).
        hit = memo.records.get(key_for(memo.identity, spec))
        if hit is not None:
            if thumbnail_hit.receivers:  # one attribute read when nothing listens
                thumbnail_hit.send(sender=Thumbnail, thumbnails=[hit])
            return hit
    src = coerce(source)
    known = batch.memo_hit(src, spec)
    if known is None and not batch.is_complete(src) and batch.read_manifest(src):
        # The row's manifest column describes the file (each row has its own, so there is
        # nothing to batch): its records answer without the batch machinery.
        known = batch.memo_hit(src, spec)
    if known is not None and thumbnail_hit.receivers:
        thumbnail_hit.send(sender=Thumbnail, thumbnails=[known])
    return known or resolve([(src, spec)])[0]


def _holds(memo: Memo, file: Any) -> bool:
    """Whether the memo is complete for the file its object holds now: the name and
    storage its Source was made from (a reassigned name or storage must miss)."""
    src = memo.source
    return (
        memo.location is not None
        and src is not None
        and src.name == file.name
        and src.storage is file.storage
        and memo.location == src.location
    )


def get_spec(spec: str | Spec, **options: Any) -> Spec:
    """The spec a name or geometry string means without a source (``thumbkit.lookup.resolver``:
    ``THUMBKIT["SPECS"]``, then a generator id, then the geometry), cached; request sizes
    above LIMITS are refused at once."""
    return resolver.resolve(spec, None, options)


def resolve(requests: Sequence[Request]) -> list[Result]:
    """:func:`_resolve`; while the store is unavailable, ``STORE_FALLBACK`` for each request
    (nothing generated), or StoreUnavailable with ``ON_STORE_ERROR = "raise"``."""
    try:
        return _resolve(requests)
    except StoreUnavailable as exc:
        return batch.fallbacks(requests, exc)


def _resolve(requests: Sequence[Request]) -> list[Result]:
    """Thumbnails for (source, spec) pairs: memo, one store read, then each spec's strategy.

    Misses of one source are handed to each strategy in one call (lazy generation reads
    the source once for all its specs).
    """
    hits, missing, keys = _lookup(requests)
    if hits and thumbnail_hit.receivers:
        thumbnail_hit.send(sender=Thumbnail, thumbnails=list(hits.values()))
    found: dict[str, Result] = dict(hits)
    for src, items in missing.values():
        by_strategy: dict[str, list[tuple[Spec, str]]] = {}
        for spec, key in items:
            by_strategy.setdefault(strategy_name(spec), []).append((spec, key))
        for name, group in by_strategy.items():
            if thumbnail_miss.receivers:
                keys_missed = [key for _, key in group]
                thumbnail_miss.send(sender=Thumbnail, source=src, keys=keys_missed, strategy=name)
            served = get_strategy(name).on_missing(src, group)
            found.update(served)
            _remember(src, {k: v for k, v in served.items() if is_stored(v)})
    return [found[key] for key in keys]


def get_or_generate(source: Any, spec: Spec) -> Thumbnail:
    """The stored thumbnail, generated now (under the store lock) if missing, whatever the
    strategy: what the on-demand endpoint and the deferred task serve."""
    src = coerce(source)
    found, missing, keys = _lookup([(src, spec)], peers=False, serving=False)
    for group_src, items in missing.values():
        found.update(generate_locked(group_src, items))
    return found[keys[0]]


def ensure(source: Any, specs: Sequence[Spec]) -> int:
    """Generate whichever of ``specs`` the source lacks, whatever the strategy; return how many."""
    src = coerce(source)
    # Only this source: its row's peers may be other objects (the instance that just saved)
    # whose memo must not learn "nothing generated" a moment before generation.
    _, missing, _ = _lookup([(src, spec) for spec in specs], peers=False, serving=False)
    count = 0
    for group_src, items in missing.values():
        _remember(group_src, generate_locked(group_src, items))
        count += len(items)
    return count


def _lookup(
    requests: Sequence[Request], peers: bool = True, serving: bool = True
) -> tuple[dict[str, Thumbnail], dict[str, tuple[Source, list[tuple[Spec, str]]]], list[str]]:
    """Hits by key, misses grouped by source, and each request's key (versions applied).

    ``serving``: for a page, where a negotiated spec is a miss even when stored (its
    signed URL is served); False for the callers that make files.
    """
    loaded = batch.load_records((src for src, _ in requests), peers=peers, strict=True)
    found: dict[str, Thumbnail] = {}
    missing: dict[str, tuple[Source, list[tuple[Spec, str]]]] = {}
    keys: list[str] = []
    for src, spec in requests:
        records = _records(src, loaded)
        version = batch.version_of(records)
        if version != src.version:
            src = replace(src, version=version)
        key = thumbnail_key(src, spec)
        keys.append(key)
        hit = None if serving and negotiated(spec) else records.get(key)
        if hit is not None:
            found[key] = hit
            continue
        # Read with the records: a source that failed answers with its error, no I/O.
        failures.check(src, records, (spec,))
        group = missing.setdefault(src.identity, (src, []))
        if all(k != key for _, k in group[1]):
            group[1].append((spec, key))
    return found, missing, keys


def prefetch_thumbnails(
    objects_or_sources: Iterable[Any], field: str | None, specs: str | Spec | Sequence[str | Spec]
) -> dict[tuple[str, str], Thumbnail | None]:
    """Read what the store knows about every source in one round trip, and remember it.

    ``objects_or_sources`` are model instances (with ``field`` naming their file field) or
    sources (FieldFile, File, storage name) with ``field=None``. Later ``get_thumbnail`` calls
    and template tags on the same FieldFile/File objects cost nothing, for any spec. Missing
    thumbnails are not generated here; they are made when first asked for. Returns
    ``{(source name, spec text): thumbnail or None}`` for the ``specs`` given.
    """
    spec_list = [specs] if isinstance(specs, str | Spec) else list(specs)
    pairs = list(_sources(objects_or_sources, field))
    first = pairs[0][0] if pairs else None
    for spec in spec_list:
        resolver.resolve(spec, first)  # an invalid spec raises before any store read
    return _prefetched(pairs, spec_list)


def _prefetched(
    pairs: Sequence[tuple[Any, Source]], specs: Sequence[str | Spec]
) -> dict[tuple[str, str], Thumbnail | None]:
    """One store read for every source; each spec resolved for its source (``resolver``)."""
    loaded = batch.load_records((src for _, src in pairs), peers=False)
    result: dict[tuple[str, str], Thumbnail | None] = {}
    for value, src in pairs:
        records = _records(src, loaded)
        versioned = replace(src, version=batch.version_of(records))
        for spec in specs:
            # Per source (its field may declare the name); a dict lookup after the first row.
            key = thumbnail_key(versioned, resolver.resolve(spec, value))
            result[(src.name, str(spec))] = records.get(key)
    return result


def fetch_thumbnails(
    images: Iterable[Any], sizes: Sequence[str | Spec]
) -> dict[tuple[str, str], Thumbnail | None]:
    """django-thumbnails' batch call: ``prefetch_thumbnails`` for a list of FieldFiles.

    A size names a thumbnail declared on the image's field, or is any spec; empty files are
    skipped. One store round trip for all images; returns what ``prefetch_thumbnails`` does.
    """
    return _prefetched([(image, coerce(image)) for image in images if image], list(sizes))


def delete(source: Any, delete_file: bool = True) -> None:
    """Delete every thumbnail of ``source`` (files and records); delete the source too if asked.

    As in sorl-thumbnail: ``delete(f)`` when the source itself goes away, and
    ``delete(f, delete_file=False)`` after the source changed: the source then gets a new
    version, so thumbnails made from now on have new names and URLs (no CDN serves the old).
    """
    src = coerce(source)
    keys = _purge(src)
    if delete_file:
        files.delete(src.storage, src.name)
    else:
        get_store().set_many([batch.version_record(src, secrets.token_hex(4))])
    thumbnails_deleted.send(sender=Thumbnail, source=src, keys=keys)


def forget(source: Any) -> list[str]:
    """Remove every thumbnail file and record of a source, its version included.

    For sources that are gone (deleted, replaced by another name); returns the removed keys.
    """
    src = coerce(source)
    keys = _purge(src)
    thumbnails_deleted.send(sender=Thumbnail, source=src, keys=keys)
    return keys


def _purge(src: Source) -> list[str]:
    store = get_store()
    key = source_key(src)
    records = store.get_sources([key]).get(key, {})
    for record in records.values():
        if record.spec not in batch.PSEUDO_SPECS:  # the version and a failure have no file
            files.delete(record.storage, record.name)
    store.delete_many(list(records))
    batch.forget(src)
    return list(records)


aget_thumbnail = sync_to_async(get_thumbnail)
aprefetch_thumbnails = sync_to_async(prefetch_thumbnails)
adelete = sync_to_async(delete)


def _sources(objects: Iterable[Any], field: str | None) -> Iterable[tuple[Any, Source]]:
    """(the value, its source): the value's field may declare the specs asked for."""
    for obj in objects:
        value = getattr(obj, field) if field and isinstance(obj, Model) else obj
        try:
            yield value, coerce(value)
        except SourceMissing:
            continue  # an empty field has nothing to prefetch


def _records(src: Source, loaded: dict[str, dict[str, Thumbnail]]) -> dict[str, Thumbnail]:
    if batch.is_complete(src):
        return batch.memo_records(src)
    return loaded.get(source_key(src), {})


def _remember(src: Source, made: dict[str, Thumbnail]) -> None:
    batch.remember(src, made)


__all__ = [
    "adelete",
    "aget_thumbnail",
    "aprefetch_thumbnails",
    "delete",
    "ensure",
    "fetch_thumbnails",
    "forget",
    "get_or_generate",
    "get_spec",
    "get_thumbnail",
    "prefetch_thumbnails",
    "resolve",
]

"""Source-level loading: every record of many sources in one store round trip, memoised.

A source's records answer every spec at once: after :func:`load_records`, a lookup of any spec on
that source is a dict lookup (hit, or known miss) with no further I/O. A source's *version*
(bumped when its file is overwritten under the same name) travels with its records, as a
record whose spec is ``VERSION_SPEC``; the version is part of every thumbnail key, so an
overwritten source gets new keys, names and URLs. A remembered failure of the source
travels the same way, as a record whose spec is ``FAILED_SPEC`` (``thumbkit.lookup.failures``).

When the store cannot be reached, a read fails once (bounded by the store's timeouts), the
outage is logged once, and for ``STORE_RETRY_AFTER`` seconds later reads fail at once (see
``stores.outage``); lookups then answer with :func:`fallbacks` unless
``ON_STORE_ERROR = "raise"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from time import perf_counter
from typing import Any

from ..conf import get_settings
from ..core.spec import Spec
from ..exceptions import StoreUnavailable
from ..signals import store_read
from . import hooks, metrics
from .fallback import fallback
from .keys import key_for, source_key, thumbnail_key
from .manifest import MANIFEST_VERSION as MANIFEST_VERSION  # these four stay importable here
from .manifest import from_manifest as from_manifest
from .manifest import manifest_size as manifest_size
from .manifest import to_manifest as to_manifest
from .source import Source
from .stores import get_store
from .stores.outage import OUTAGE
from .thumbnail import Placeholder, Thumbnail

VERSION_SPEC = "@version"
FAILED_SPEC = "@failed"  # a remembered failure of the source (see thumbkit.lookup.failures)
PSEUDO_SPECS = frozenset({VERSION_SPEC, FAILED_SPEC})  # records that are not thumbnails


def version_record(src: Source, version: str) -> Thumbnail:
    key = source_key(src)
    return Thumbnail(
        key=key,
        name=version,
        width=0,
        height=0,
        format="",
        storage_alias="",
        source_key=key,
        spec=VERSION_SPEC,
        source_name=src.name,
    )


def is_complete(src: Source) -> bool:
    memo = src.memo()
    # The location (storage and name), compared as text: no hashing on the hot path.
    return memo is not None and memo.location == src.location


def load_records(
    sources: Iterable[Source], *, peers: bool = True, strict: bool = False
) -> dict[str, dict[str, Thumbnail]]:
    """Make sure every source's records are known; one store round trip for all of them.

    A source that is the file of a thumbkit field whose row carries a manifest column is
    read from the manifest, with no I/O. With ``peers`` (a lookup), the sources of the model
    instances loaded together with the ones asked for are read in the same round trip, as
    each instance's fetch mode says (``FETCH_RAISE`` raises ``FieldFetchBlocked``); an
    explicit prefetch passes ``peers=False``: exactly its sources, whatever the fetch mode.

    Returns the records by source key for the sources read from the store. If the store is
    unavailable, a prefetch (not ``strict``) learns nothing and returns ``{}`` (its sources
    stay unknown, so their lookups fall back), unless ``ON_STORE_ERROR = "raise"``; a
    ``strict`` load (a lookup) raises :class:`StoreUnavailable` for the caller to handle.
    """
    todo = _unresolved(sources)
    if not todo:
        return {}
    try:
        found, groups = _read(todo, peers)
    except StoreUnavailable:
        if strict or get_settings().on_store_error == "raise":
            raise
        return {}
    for key, group in groups.items():
        for src in group:
            fill(src, found.get(key, {}))
    return found


def _read(
    todo: list[Source], peers: bool
) -> tuple[dict[str, dict[str, Thumbnail]], dict[str, list[Source]]]:
    OUTAGE.check()  # known to be down: fail before gathering the peers for nothing
    if peers:
        # The peers come from the adapters (thumbkit.adapters.peers), set at AppConfig.ready().
        todo = _unresolved([*todo, *hooks.peer_sources(todo)])
    groups: dict[str, list[Source]] = {}
    for src in todo:
        groups.setdefault(source_key(src), []).append(src)
    return read_sources(list(groups)), groups


def read_sources(keys: list[str]) -> dict[str, dict[str, Thumbnail]]:
    """``store.get_sources``, unless a recent failure says the store is down (then at once
    StoreUnavailable, without waiting for the store's timeout again)."""
    OUTAGE.check()
    started = perf_counter() if store_read.receivers else None  # no clock unless listened to
    try:
        found: dict[str, dict[str, Thumbnail]] = get_store().get_sources(keys)
    except StoreUnavailable as exc:
        OUTAGE.failed(exc, get_settings().store_retry_after)
        if started is not None:
            metrics.send_read(keys, {}, started, exc)
        raise
    OUTAGE.succeeded()
    if started is not None:
        metrics.send_read(keys, found, started, None)
    return found


def fallbacks(
    requests: Sequence[tuple[Source, Spec]], exc: StoreUnavailable
) -> list[Thumbnail | Placeholder]:
    """What lookups render while the store is unavailable: ``STORE_FALLBACK`` for each.

    Nothing is generated (no lock, no write: the store is down). With
    ``ON_STORE_ERROR = "raise"`` the error is raised instead.
    """
    settings = get_settings()
    OUTAGE.failed(exc, settings.store_retry_after)  # a write that failed counts too
    if settings.on_store_error == "raise":
        raise exc
    mode = settings.store_fallback
    return [fallback(src, spec, thumbnail_key(src, spec), mode) for src, spec in requests]


def _unresolved(sources: Iterable[Source]) -> list[Source]:
    """The sources neither memoised nor described by their row's manifest (one per object)."""
    todo: dict[int, Source] = {}
    for src in sources:
        mark = id(src.origin) if src.origin is not None else id(src)
        if mark not in todo and not is_complete(src) and not read_manifest(src):
            todo[mark] = src
    return list(todo.values())


def read_manifest(src: Source) -> bool:
    """Fill the memo from the manifest column on the source's own row, if it describes it.

    Only a value already on the instance counts: a deferred column would cost a query.
    """
    column = getattr(getattr(src.origin, "field", None), "manifest_field", None)
    instance = getattr(src.origin, "instance", None)
    if not column or instance is None or column not in instance.__dict__:
        return False
    records = from_manifest(instance.__dict__[column], source_key(src))
    if records is None:
        return False
    fill(src, records)
    return True


def fill(src: Source, records: Mapping[str, Thumbnail]) -> None:
    """Memoise a complete record set on the source's object."""
    memo = src.memo()
    if memo is not None:
        memo.fill(src.location, records, version_of(records))


def remember(src: Source, records: Mapping[str, Thumbnail]) -> None:
    """Add records made or learnt for the source to its object's memo (complete or not)."""
    memo = src.memo()
    if memo is not None and records:
        memo.add(records)


def forget(src: Source) -> None:
    """Clear the memo on the source's object: its next lookup reads the store again."""
    memo = src.memo()
    if memo is not None:
        memo.clear()


def memo_hit(src: Source, spec: Any) -> Thumbnail | None:
    """The thumbnail for ``spec`` from a complete memo, with no I/O (None: not known here)."""
    memo = src.memo()
    location = src.location
    if memo is None or memo.location != location:
        return None
    return memo.records.get(key_for(memo.identity, spec))


def version_of(records: Mapping[str, Thumbnail]) -> str:
    return next((r.name for r in records.values() if r.spec == VERSION_SPEC), "")


def memo_records(src: Source) -> dict[str, Thumbnail]:
    """Every record memoised on the source's object, by key (a copy; complete or not)."""
    memo = src.memo()
    return dict(memo.records) if memo is not None else {}

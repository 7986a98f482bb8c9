"""The ``cache`` store: records in any Django cache alias (RedisCache, Memcached, locmem).

Reads are one ``get_many`` (one MGET on Django's RedisCache). Records are JSON text, not
pickles of thumbkit classes, so a release that changes the classes can still read them.
The per-source index is a JSON object holding the source's records (so ``get_sources`` is
one ``get_many`` too), updated under a short cache lock.

The store cannot bound a call itself: the cache backend's client does. Give the alias a
timeout in its ``OPTIONS`` (RedisCache: ``socket_timeout`` and ``socket_connect_timeout``,
redis-py waits 5 s otherwise; PyMemcacheCache: ``connect_timeout`` and ``timeout``). Any
error the backend raises is :class:`~thumbkit.exceptions.StoreUnavailable`: the records are
JSON text thumbkit wrote itself, so an error means the cache server failed, not the data.

Locks are ``cache.add``; a lock whose holder is dead (see :mod:`thumbkit.lookup.stores.locks`) is
taken over at once, through a one-time claim key, since caches have no compare-and-set.
"""

from __future__ import annotations

import functools
import json
import math
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from django.core.cache import caches

from ...exceptions import StoreError, StoreUnavailable
from ..thumbnail import Thumbnail, decoded
from . import locks


def _index_records(raw: str) -> dict[str, Thumbnail]:
    # A source's index is one JSON object of its records, by key.
    return {key: Thumbnail.from_dict(value) for key, value in json.loads(raw).items()}


def _token_of(value: object) -> str | None:
    held = locks.decode(value)
    return held.token if held else None


def _beat_of(value: object, held: locks.Held) -> float:
    """The holder's latest heartbeat: its ``name:hb`` entry (``token:time``) or the lock's."""
    if isinstance(value, str) and value.startswith(f"{held.token}:"):
        try:
            return max(held.beat, float(value.partition(":")[2]))
        except ValueError:
            pass
    return held.beat


def _shareable(cache: Any) -> bool:
    # Django's Redis and locmem backends are safe to call from another thread; others
    # (memcached clients, the database cache) are per thread: their locks get no heartbeat,
    # so a holder on another host is taken over only at expiry.
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache

    return isinstance(cache, LocMemCache | RedisCache)


class CacheStore:
    def __init__(self, cache: str = "default", prefix: str = "thumbkit:", timeout: Any = None):
        self.alias = cache
        self.prefix = prefix
        self.timeout = timeout

    @property
    def cache(self) -> Any:
        return caches[self.alias]

    def _record(self, key: str) -> str:
        return f"{self.prefix}r:{key}"

    def _index(self, source_key: str) -> str:
        return f"{self.prefix}s:{source_key}"

    def get_many(self, keys: Sequence[str]) -> dict[str, Thumbnail]:
        if not keys:
            return {}
        names = {self._record(k): k for k in keys}
        try:
            found = self.cache.get_many(list(names))
        except Exception as exc:  # cache backends raise their client's errors
            raise StoreUnavailable(
                f"Reading thumbnail records from the cache failed: {exc}"
            ) from exc
        return {names[n]: Thumbnail.from_json(v) for n, v in found.items()}

    def set_many(self, thumbnails: Sequence[Thumbnail]) -> None:
        if not thumbnails:
            return
        try:
            records = {self._record(t.key): t.to_json() for t in thumbnails}
            self.cache.set_many(records, self.timeout)
            by_source: dict[str, dict[str, Thumbnail]] = {}
            for t in thumbnails:
                by_source.setdefault(t.source_key, {})[t.key] = t
            for source_key, added in by_source.items():
                self._update_index(source_key, add=added)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"Writing thumbnail records to the cache failed: {exc}") from exc

    def delete_many(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        try:
            records = self.get_many(keys)
            self.cache.delete_many([self._record(k) for k in keys])
            by_source: dict[str, set[str]] = {}
            for t in records.values():
                by_source.setdefault(t.source_key, set()).add(t.key)
            for source_key, gone in by_source.items():
                self._update_index(source_key, remove=gone)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreUnavailable(
                f"Deleting thumbnail records from the cache failed: {exc}"
            ) from exc

    def source_keys(self, source_key: str) -> list[str]:
        return sorted(self.get_sources([source_key]).get(source_key, {}))

    def get_sources(self, source_keys: Sequence[str]) -> dict[str, dict[str, Thumbnail]]:
        if not source_keys:
            return {}
        names = {self._index(k): k for k in source_keys}
        try:
            found = self.cache.get_many(list(names))
        except Exception as exc:
            raise StoreUnavailable(f"Reading the source index failed: {exc}") from exc
        # A copy of the decoded index: decoded() keeps one value per stored text.
        return {
            names[name]: dict(decoded(raw, functools.partial(_index_records, raw)))
            for name, raw in found.items()
        }

    def iter_all(self) -> Iterator[Thumbnail]:
        raise NotImplementedError(
            "The cache store cannot list its records; use the db or redis store for commands "
            "that scan every thumbnail."
        )

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        return self._lock(f"{self.prefix}l:{key}", timeout)

    @contextmanager
    def _lock(self, name: str, timeout: float, beat: bool = True) -> Iterator[bool]:
        token, owner = secrets.token_hex(16), locks.me()
        # Whole seconds, rounded up: RedisCache and Memcached truncate fractions, and a lock
        # that lapses before its timeout lets a second worker in.
        seconds = max(1, math.ceil(timeout))
        cache = self.cache
        try:
            won = self._try_lock(cache, name, locks.encode(token, owner, time.time()), seconds)
        except Exception as exc:
            raise StoreUnavailable(f"Taking a lock in the cache failed: {exc}") from exc
        if not won:
            yield False
            return
        # The heartbeat thread uses this thread's cache object, only where that is safe.
        refresh = functools.partial(self._refresh, cache, name, token)
        beating = locks.HEARTBEATS.add(refresh) if beat and _shareable(cache) else 0

        def release() -> None:
            locks.HEARTBEATS.remove(beating)
            self._release(name, token)

        with locks.released(release):
            yield True

    def _try_lock(self, cache: Any, name: str, mine: str, seconds: int) -> bool:
        if cache.add(name, mine, seconds):
            return True
        found = cache.get_many([name, f"{name}:hb"])
        held = locks.decode(found.get(name))
        if held is None:
            return False
        beat = _beat_of(found.get(f"{name}:hb"), held)
        if not locks.is_dead(held.owner, beat):
            return False
        # The cache API has no compare-and-set: one claim per dead holder (add() succeeds
        # once), then the dead value is replaced only if it is still the one found dead.
        if not cache.add(f"{name}:claim:{held.token}", mine, seconds):
            return False
        if cache.get(name) != found.get(name):
            return False
        cache.delete(name)
        return bool(cache.add(name, mine, seconds))

    def _refresh(self, cache: Any, name: str, token: str, now: float) -> None:
        if _token_of(cache.get(name)) == token:
            cache.set(f"{name}:hb", f"{token}:{now:.3f}", math.ceil(locks.STALE_AFTER) + 1)

    def _release(self, name: str, token: str) -> None:
        # Delete only our own lock: it may have expired and been taken by someone else.
        try:
            if _token_of(self.cache.get(name)) == token:
                self.cache.delete_many([name, f"{name}:hb"])
        except Exception as exc:
            raise StoreUnavailable(f"Releasing a lock in the cache failed: {exc}") from exc

    def _update_index(
        self,
        source_key: str,
        add: dict[str, Thumbnail] | None = None,
        remove: set[str] | None = None,
    ) -> None:
        name = self._index(source_key)
        with self._wait_for(f"{self.prefix}il:{source_key}"):
            current = json.loads(self.cache.get(name) or "{}")
            updated = {**current, **{k: t.to_dict() for k, t in (add or {}).items()}}
            for key in remove or ():
                updated.pop(key, None)
            if not updated:
                self.cache.delete(name)
            elif updated != current:
                self.cache.set(name, json.dumps(updated, sort_keys=True), self.timeout)

    @contextmanager
    def _wait_for(self, name: str) -> Iterator[None]:
        # The index is read-modify-write; a short lock keeps two writers from losing keys.
        deadline = time.monotonic() + 5.0
        while True:
            with self._lock(name, 10, beat=False) as won:
                if won or time.monotonic() > deadline:
                    yield
                    return
            time.sleep(0.005)

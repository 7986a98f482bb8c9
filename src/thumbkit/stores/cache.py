"""The ``cache`` store: records in any Django cache alias (RedisCache, Memcached, locmem).

Reads are one ``get_many`` (one MGET on Django's RedisCache). Records are JSON text, not
pickles of thumbkit classes, so a release that changes the classes can still read them.
The per-source index is a JSON list updated under a short cache lock.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from django.core.cache import caches

from ..exceptions import StoreError
from ..thumbnail import Thumbnail


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
            raise StoreError(f"Reading thumbnail records from the cache failed: {exc}") from exc
        return {names[n]: Thumbnail.from_json(v) for n, v in found.items()}

    def set_many(self, thumbnails: Sequence[Thumbnail]) -> None:
        if not thumbnails:
            return
        try:
            self.cache.set_many({self._record(t.key): t.to_json() for t in thumbnails}, self.timeout)
            by_source: dict[str, set[str]] = {}
            for t in thumbnails:
                by_source.setdefault(t.source_key, set()).add(t.key)
            for source_key, keys in by_source.items():
                self._update_index(source_key, add=keys)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"Writing thumbnail records to the cache failed: {exc}") from exc

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
            raise StoreError(f"Deleting thumbnail records from the cache failed: {exc}") from exc

    def source_keys(self, source_key: str) -> list[str]:
        try:
            raw = self.cache.get(self._index(source_key))
        except Exception as exc:
            raise StoreError(f"Reading the source index failed: {exc}") from exc
        return sorted(json.loads(raw)) if raw else []

    def iter_all(self) -> Iterator[Thumbnail]:
        raise NotImplementedError(
            "The cache store cannot list its records; use the db or redis store for commands "
            "that scan every thumbnail."
        )

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        return self._lock(f"{self.prefix}l:{key}", timeout)

    @contextmanager
    def _lock(self, name: str, timeout: float) -> Iterator[bool]:
        token = secrets.token_hex(16)
        won = bool(self.cache.add(name, token, max(1, round(timeout))))
        try:
            yield won
        finally:
            if won and self.cache.get(name) == token:
                self.cache.delete(name)

    def _update_index(
        self, source_key: str, add: set[str] | None = None, remove: set[str] | None = None
    ) -> None:
        name = self._index(source_key)
        with self._wait_for(f"{self.prefix}il:{source_key}"):
            current = set(json.loads(self.cache.get(name) or "[]"))
            updated = (current | (add or set())) - (remove or set())
            if updated != current:
                self.cache.set(name, json.dumps(sorted(updated)), self.timeout)

    @contextmanager
    def _wait_for(self, name: str) -> Iterator[None]:
        # The index is read-modify-write; a short lock keeps two writers from losing keys.
        deadline = time.monotonic() + 5.0
        while True:
            with self._lock(name, 10) as won:
                if won or time.monotonic() > deadline:
                    yield
                    return
            time.sleep(0.005)

"""What one render costs: SQL queries, metadata-store round trips, storage calls.

The counters live in a context variable that ``footer.RenderCostMiddleware`` sets for each
request (runserver serves each request in its own thread, so requests never mix). Outside
a request (management commands) nothing is counted.

Everything here is the example's own: thumbkit's ``db`` store and Django's
``FileSystemStorage`` are subclassed through their public extension points
(``THUMBKIT["STORE"]`` as a dotted path, ``STORAGES``), and each counted method calls the
original unchanged.
"""

from __future__ import annotations

import contextvars
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import FileSystemStorage

from thumbkit.lookup.stores.db import DatabaseStore
from thumbkit.lookup.thumbnail import Thumbnail

STORE_READS = ("get_many", "get_sources", "source_keys")
STORE_WRITES = ("set_many", "delete_many")
STORAGE_IO = ("open", "save", "exists", "delete", "size", "listdir", "get_modified_time")


@dataclass
class Costs:
    """One request's counts."""

    sql: list[str] = field(default_factory=list)
    store: Counter[str] = field(default_factory=Counter)
    storage: Counter[str] = field(default_factory=Counter)
    urls: int = 0  # storage.url(): a string computed from the name, no I/O

    @property
    def store_reads(self) -> int:
        return sum(self.store[name] for name in STORE_READS)

    @property
    def store_writes(self) -> int:
        return sum(self.store[name] for name in STORE_WRITES)

    @property
    def store_round_trips(self) -> int:
        return sum(self.store.values())

    @property
    def storage_calls(self) -> int:
        return sum(self.storage.values())


current: contextvars.ContextVar[Costs | None] = contextvars.ContextVar("costs", default=None)


def count(counter: str, name: str) -> None:
    costs = current.get()
    if costs is not None:
        getattr(costs, counter)[name] += 1


@contextmanager
def counting() -> Iterator[Costs]:
    """Count what happens in this thread until the block ends."""
    costs = Costs()
    token = current.set(costs)
    try:
        yield costs
    finally:
        current.reset(token)


def sql_counter(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
) -> Any:
    """A ``connection.execute_wrapper``: remembers each statement, then runs it."""
    costs = current.get()
    if costs is not None:
        costs.sql.append(sql)
    return execute(sql, params, many, context)


class CountingDatabaseStore(DatabaseStore):
    """thumbkit's ``db`` store; each method is one round trip (the MetadataStore contract)."""

    def get_many(self, keys: Sequence[str]) -> dict[str, Thumbnail]:
        count("store", "get_many")
        return super().get_many(keys)

    def get_sources(self, source_keys: Sequence[str]) -> dict[str, dict[str, Thumbnail]]:
        count("store", "get_sources")
        return super().get_sources(source_keys)

    def source_keys(self, source_key: str) -> list[str]:
        count("store", "source_keys")
        return super().source_keys(source_key)

    def set_many(self, thumbnails: Sequence[Thumbnail]) -> None:
        count("store", "set_many")
        super().set_many(thumbnails)

    def delete_many(self, keys: Iterable[str]) -> None:
        count("store", "delete_many")
        super().delete_many(keys)

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        count("store", "lock")
        return super().lock(key, timeout)


class CountingFileSystemStorage(FileSystemStorage):
    """Django's file storage, counting the calls that touch the disk (and URLs apart)."""

    def open(self, name: str, mode: str = "rb") -> Any:
        count("storage", "open")
        return super().open(name, mode)

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        count("storage", "save")
        return super().save(name, content, max_length=max_length)

    def exists(self, name: str) -> bool:
        count("storage", "exists")
        return super().exists(name)

    def delete(self, name: str) -> None:
        count("storage", "delete")
        super().delete(name)

    def size(self, name: str) -> int:
        count("storage", "size")
        return super().size(name)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        count("storage", "listdir")
        return super().listdir(path)

    def get_modified_time(self, name: str) -> Any:
        count("storage", "get_modified_time")
        return super().get_modified_time(name)

    def url(self, name: str | None) -> str:
        costs = current.get()
        if costs is not None:
            costs.urls += 1
        return super().url(name)

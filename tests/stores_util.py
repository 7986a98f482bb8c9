"""Helpers for the store contract suite and the concurrency tests.

Counting instruments (SQL queries, Redis round trips, cache calls), a slow counting engine, a
storage that fails on demand, threads that clean up their database connections, and the
entry point of the child processes used by the multi-process tests.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import connections
from django.test.utils import CaptureQueriesContext

from thumbkit.core.engines import Rendered
from thumbkit.core.engines.pillow import PillowEngine
from thumbkit.lookup.thumbnail import Thumbnail

T = TypeVar("T")

# Every store configuration the contract suite runs over.
DB_MARK = pytest.mark.django_db(transaction=True)
PG_MARK = pytest.mark.django_db(transaction=True, databases=["default", "pg"])
STORE_KINDS = {
    "db-sqlite": [DB_MARK],
    "db-pg": [PG_MARK, pytest.mark.postgres],
    "cache-locmem": [],
    "cache-redis": [pytest.mark.redis],
    "redis": [pytest.mark.redis],
}


def store_params(*only: str) -> list[Any]:
    """pytest params for the store configurations (all of them unless ``only`` names some)."""
    kinds = only or tuple(STORE_KINDS)
    return [pytest.param(kind, marks=STORE_KINDS[kind], id=kind) for kind in kinds]


def store_settings(kind: str, redis_prefix: str) -> dict[str, Any]:
    """THUMBKIT STORE and STORE_OPTIONS for one configuration."""
    from django.conf import settings

    return {
        "db-sqlite": {"STORE": "db", "STORE_OPTIONS": {"using": "default"}},
        "db-pg": {"STORE": "db", "STORE_OPTIONS": {"using": "pg"}},
        "cache-locmem": {"STORE": "cache", "STORE_OPTIONS": {"prefix": redis_prefix}},
        "cache-redis": {
            "STORE": "cache",
            "STORE_OPTIONS": {"cache": "redis", "prefix": redis_prefix},
        },
        "redis": {
            "STORE": "redis",
            "STORE_OPTIONS": {"url": settings.REDIS_URL, "prefix": redis_prefix},
        },
    }[kind]


def need_services(request: pytest.FixtureRequest, kind: str) -> None:
    """Fail in CI, skip elsewhere, when the configuration's server is down."""
    if kind == "db-pg":
        request.getfixturevalue("need_postgres")
    if kind in {"cache-redis", "redis"}:
        request.getfixturevalue("need_redis")


def record(key: str, source_key: str = "s1", **changes: Any) -> Thumbnail:
    """A record as generate() would write it."""
    base = Thumbnail(
        key=key,
        name=f"thumbs/{key[:2]}/{key}.jpg",
        width=100,
        height=75,
        format="JPEG",
        storage_alias="default",
        source_key=source_key,
        spec="100x100",
        source_name=f"photos/{source_key}/é-photo.jpg",
    )
    return replace(base, **changes)


# -- counting round trips ---------------------------------------------------------------


@dataclass
class Trips:
    """Round trips to a store's server; for Redis, the command names each one carried."""

    calls: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls)


def index_read(sources: int) -> list[str]:
    """What the redis store sends to read ``sources`` source indexes (``get_sources``): one
    script run over their keys, as :func:`parse_commands` names it."""
    return [f"EVAL {sources}"]


def parse_commands(packed: Any) -> list[str]:
    """The command names in a RESP-encoded request (one command, or a whole pipeline). An
    ``EVAL`` is named with its number of keys (``"EVAL 100"``): what a script read covers."""
    data = packed if isinstance(packed, bytes) else b"".join(bytes(c) for c in packed)
    names: list[str] = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\r\n", pos)
        count = int(data[pos + 1 : end])
        pos = end + 2
        parts = []
        for _ in range(count):
            end = data.index(b"\r\n", pos)
            size = int(data[pos + 1 : end])
            if len(parts) < 3:
                parts.append(data[end + 2 : end + 2 + size].decode(errors="replace"))
            pos = end + 2 + size + 2
        name = parts[0].upper()
        names.append(f"EVAL {parts[2]}" if name == "EVAL" else name)
    return names


@contextmanager
def redis_trips() -> Iterator[Trips]:
    """Count every request redis-py sends: one ``send_packed_command`` is one round trip."""
    from redis.connection import AbstractConnection

    trips = Trips()
    original = AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        trips.calls.append(parse_commands(command))
        original(self, command, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield trips
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


@contextmanager
def sql_trips(using: str) -> Iterator[Trips]:
    trips = Trips()
    with CaptureQueriesContext(connections[using]) as queries:
        yield trips
    trips.calls.extend([q["sql"]] for q in queries.captured_queries)


_LOCMEM_CALLS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many")


@contextmanager
def locmem_trips() -> Iterator[Trips]:
    """Count calls into the locmem backend (its stand-in for round trips)."""
    from django.core.cache.backends.locmem import LocMemCache

    trips = Trips()
    originals = {name: getattr(LocMemCache, name) for name in _LOCMEM_CALLS}
    depth = threading.local()

    def wrap(name: str) -> Callable[..., Any]:
        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            # Only calls from outside count: BaseCache.get_many loops over get() inside.
            level = getattr(depth, "level", 0)
            if level == 0:
                trips.calls.append([name])
            depth.level = level + 1
            try:
                return originals[name](self, *args, **kwargs)
            finally:
                depth.level = level

        return counted

    for name in _LOCMEM_CALLS:
        setattr(LocMemCache, name, wrap(name))
    try:
        yield trips
    finally:
        for name, method in originals.items():
            setattr(LocMemCache, name, method)


def trips_for(kind: str) -> AbstractContextManager[Trips]:
    if kind == "db-sqlite":
        return sql_trips("default")
    if kind == "db-pg":
        return sql_trips("pg")
    if kind == "cache-locmem":
        return locmem_trips()
    return redis_trips()


# -- threads ----------------------------------------------------------------------------


def close_thread_resources() -> None:
    """What a finished thread leaves open: its database connections and Redis cache pools."""
    from django.core.cache import caches

    connections.close_all()
    for cache in caches.all(initialized_only=True):
        # Django's RedisCache never disconnects its pools; a thread's own pools would be
        # garbage collected with their sockets still open.
        client = cache.__dict__.get("_cache")
        for pool in getattr(client, "_pools", {}).values():
            pool.disconnect()


def close_store(store: Any) -> None:
    client = getattr(store, "client", None)
    if client is not None:
        client.close()


def in_thread(func: Callable[[], T]) -> T:
    """Run ``func`` in a new thread (so: on its own database connections) and return its result."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(func())
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_thread_resources()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]
    return results[0]


def run_threads(count: int, func: Callable[[int], T], timeout: float = 60) -> list[T]:
    """Run ``func(i)`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = func(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_thread_resources()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    assert len(results) == count, "some threads did not finish"
    return [results[i] for i in range(count)]


# -- fault injection and counting in the generation path --------------------------------


class SlowEngine(PillowEngine):
    """The Pillow engine, slowed down so concurrent requests really overlap; counts renders."""

    delay = 0.3
    calls = 0
    _lock = threading.Lock()

    def render(self, data: bytes, specs: Any, settings: Any) -> list[Rendered]:
        with SlowEngine._lock:
            SlowEngine.calls += 1
        time.sleep(self.delay)
        return super().render(data, specs, settings)


class FlakyStorage(FileSystemStorage):
    """A file system storage whose ``fail_on``-th save (1-based) raises, like a full disk."""

    def __init__(self, fail_on: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_on = fail_on
        self.saves = 0

    def _save(self, name: str, content: Any) -> str:
        self.saves += 1
        if self.saves == self.fail_on:
            raise OSError(28, "No space left on device")
        return str(super()._save(name, content))


def files_under(root: str) -> list[str]:
    """Every file below ``root`` (temporary files included), relative to it."""
    found = []
    for directory, _, names in os.walk(root):
        found.extend(os.path.relpath(os.path.join(directory, n), root) for n in names)
    return sorted(found)


# -- child processes --------------------------------------------------------------------


def child_main(config: dict[str, Any], barrier: Any, results: Any) -> None:
    """Entry point of a spawned test process: set up Django as the parent did, wait for the
    others, ask for the thumbnail, report (generations, renders, url or error)."""
    try:
        results.put(_child_run(config, barrier))
    except BaseException as exc:
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def _child_setup(config: dict[str, Any]) -> None:
    """Set Django up in a spawned process with the parent's settings and test database."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django
    from django.conf import settings

    for name, value in config["settings"].items():
        setattr(settings, name, value)
    # Reach the parent's test database, not the one the settings module names.
    settings.DATABASES["pg"]["NAME"] = config["pg_name"]
    django.setup()


def _child_run(config: dict[str, Any], barrier: Any) -> dict[str, Any]:
    _child_setup(config)
    from thumbkit import get_thumbnail
    from thumbkit.signals import thumbnails_generated

    generated: list[int] = []
    thumbnails_generated.connect(lambda **kw: generated.append(len(kw["thumbnails"])), weak=False)
    barrier.wait(60)
    try:
        thumb = get_thumbnail(config["source"], config["spec"])
    finally:
        connections.close_all()
    return {"generated": sum(generated), "renders": SlowEngine.calls, "url": thumb.url}


def child_hold_lock(config: dict[str, Any], key: str, timeout: float, taken: Any) -> None:
    """Take the generation lock of ``key`` and hang holding it until killed."""
    _child_setup(config)
    from thumbkit.lookup.stores import get_store

    held = get_store().lock(key, timeout)
    if held.__enter__():
        taken.set()
    time.sleep(600)

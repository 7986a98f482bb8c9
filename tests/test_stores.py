"""The metadata store contract, run over every store configuration.

db on SQLite and on PostgreSQL, cache on locmem and on Django's RedisCache, redis on the real
server. Each test gets a fresh store: its own Redis key prefix, a flushed database.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connections
from django.test import override_settings

from tests.conftest import thumbkit_settings
from tests.stores_util import (
    close_store,
    close_thread_resources,
    in_thread,
    index_read,
    need_services,
    record,
    store_params,
    store_settings,
    trips_for,
)
from thumbkit import Thumbnail
from thumbkit.exceptions import StoreError, StoreUnavailable
from thumbkit.lookup.stores import MetadataStore, get_store
from thumbkit.lookup.stores.cache import CacheStore
from thumbkit.lookup.stores.db import DatabaseStore
from thumbkit.lookup.stores.redis import RedisStore

KEY = "0123456789abcdef0123456789abcdef"


@dataclass
class Case:
    kind: str
    store: MetadataStore

    @property
    def lock_expiry(self) -> float:
        # Django caches take whole seconds (the cache store rounds a lock's timeout up).
        return 1.0 if self.kind.startswith("cache") else 0.3


@pytest.fixture(params=store_params())
def case(request: pytest.FixtureRequest, redis_prefix: str) -> Iterator[Case]:
    need_services(request, request.param)
    with big_locmem(), thumbkit_settings(**store_settings(request.param, redis_prefix)):
        store = get_store()
        yield Case(request.param, store)
    close_store(store)
    for alias in ("default", "pg"):
        if alias in connections:
            connections[alias].close()  # ends any advisory lock a test left behind


def big_locmem() -> Any:
    """Room for the 1000-record tests: locmem culls beyond 300 entries by default."""
    from django.conf import settings

    locmem = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "thumbkit-stores",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
    return override_settings(CACHES={**settings.CACHES, "default": locmem})


def keys(count: int, tag: str = "k") -> list[str]:
    return [f"{tag}{i:031d}"[:32] for i in range(count)]


def test_the_configured_store_is_built_from_settings(case: Case) -> None:
    expected = {"db": DatabaseStore, "cache": CacheStore, "redis": RedisStore}
    assert type(case.store) is expected[case.kind.split("-")[0]]
    assert isinstance(case.store, MetadataStore)


def test_unknown_keys_are_absent(case: Case) -> None:
    assert case.store.get_many([KEY, "f" * 32]) == {}
    assert case.store.get_many([]) == {}
    assert case.store.source_keys("nothing-here") == []


def test_set_then_get_returns_equal_records(case: Case) -> None:
    records = [record(KEY), record("b" * 32, width=640, height=427, format="WEBP")]
    case.store.set_many(records)
    found = case.store.get_many([KEY, "b" * 32, "c" * 32])
    assert found == {r.key: r for r in records}
    assert found[KEY].source_name == "photos/s1/é-photo.jpg"
    assert isinstance(found["b" * 32].width, int)


def test_duplicate_inserts_are_harmless_and_the_last_write_wins(case: Case) -> None:
    case.store.set_many([record(KEY, width=10)])
    case.store.set_many([record(KEY, width=20, name="thumbs/second.jpg")])
    assert case.store.get_many([KEY]) == {KEY: record(KEY, width=20, name="thumbs/second.jpg")}
    # Twice in one batch (two racing generations merged): PostgreSQL's upsert refuses this
    # unless the store keeps only the last.
    case.store.set_many([record(KEY, width=30), record(KEY, width=40)])
    assert case.store.get_many([KEY])[KEY].width == 40
    assert case.store.source_keys("s1") == [KEY]


def test_delete_many_removes_records_and_index_entries(case: Case) -> None:
    a, b, c = keys(3)
    case.store.set_many([record(a), record(b), record(c)])
    case.store.delete_many([a, c, "f" * 32])
    assert case.store.get_many([a, b, c]) == {b: record(b)}
    assert case.store.source_keys("s1") == [b]
    case.store.delete_many([])
    case.store.delete_many(["e" * 32])
    assert case.store.get_many([b]) == {b: record(b)}


def test_source_index_tracks_sets_and_deletes_across_sources(case: Case) -> None:
    first, second = keys(4, "a"), keys(3, "b")
    case.store.set_many([record(k, "s1") for k in first] + [record(k, "s2") for k in second])
    assert case.store.source_keys("s1") == sorted(first)
    assert case.store.source_keys("s2") == sorted(second)
    case.store.delete_many([first[0], second[2]])
    case.store.set_many([record("c" * 32, "s2")])
    assert case.store.source_keys("s1") == sorted(first[1:])
    assert case.store.source_keys("s2") == sorted([*second[:2], "c" * 32])
    case.store.delete_many(first[1:])
    assert case.store.source_keys("s1") == []


def test_get_many_is_one_round_trip_at_any_size(case: Case) -> None:
    all_keys = keys(1000)
    case.store.set_many([record(k, f"s{i % 7}") for i, k in enumerate(all_keys)])
    for size in (1, 10, 100, 1000):
        wanted = [*all_keys[:size], "f" * 32]
        with trips_for(case.kind) as trips:
            found = case.store.get_many(wanted)
        assert len(found) == size
        assert len(trips) == 1, trips.calls
        if case.kind in {"redis", "cache-redis"}:
            assert trips.calls == [["MGET"]]


def test_get_sources_reads_every_index_in_one_round_trip(case: Case) -> None:
    """A list page's read: every record of every source asked for, none of the others,
    an absent source left out; one round trip (for redis, one script over the keys)."""
    wanted = [f"s{i}" for i in range(300)]
    case.store.set_many(
        [record(f"{i:032d}", s) for i, s in enumerate(wanted)]
        + [record(f"{i:031d}x", s, spec="50x50") for i, s in enumerate(wanted[:100])]
        + [record("f" * 32, "other")]
    )
    case.store.get_many([KEY])  # connect first: the handshake is not part of the read
    with trips_for(case.kind) as trips:
        found = case.store.get_sources([*wanted, "absent"])
    assert len(trips) == 1, trips.calls
    if case.kind == "redis":
        assert trips.calls == [index_read(len(wanted) + 1)]
    assert sorted(found) == sorted(wanted)
    assert [len(found[s]) for s in wanted] == [2] * 100 + [1] * 200
    assert found["s7"][f"{7:032d}"] == record(f"{7:032d}", "s7")
    assert case.store.get_sources([]) == {}


def test_a_record_read_again_is_the_same_frozen_record_until_it_changes(case: Case) -> None:
    """Decoded records are reused for an equal stored value (a warm page pays no decode),
    never for a changed one, and not across a settings change (a record keeps its URL)."""
    case.store.set_many([record(KEY, width=10)])
    first = case.store.get_sources(["s1"])["s1"][KEY]
    assert case.store.get_sources(["s1"])["s1"][KEY] is first
    assert case.store.get_many([KEY])[KEY] == first
    case.store.set_many([record(KEY, width=20)])
    changed = case.store.get_sources(["s1"])["s1"][KEY]
    assert (first.width, changed.width) == (10, 20)
    assert case.store.get_many([KEY])[KEY].width == 20
    with override_settings(MEDIA_URL="/other-media/"):
        again = case.store.get_sources(["s1"])["s1"][KEY]
        assert again == changed
        assert again is not changed
        assert again.url.startswith("/other-media/")


# The redis store writes one pipeline; PostgreSQL one upsert (BEGIN/COMMIT aside).
@pytest.mark.parametrize("case", store_params("redis", "db-pg"), indirect=True)
def test_redis_and_postgres_write_a_batch_in_one_statement(case: Case) -> None:
    records = [record(k, f"s{i % 3}") for i, k in enumerate(keys(1000))]
    case.store.get_many([KEY])  # connect first: the handshake is not part of the batch
    with trips_for(case.kind) as trips:
        case.store.set_many(records)
    if case.kind == "redis":
        assert trips.calls == [["SET", "HSET"] * 1000]
    else:
        statements = [sql for (sql,) in trips.calls if sql not in {"BEGIN", "COMMIT"}]
        assert len(statements) == 1, statements
        assert statements[0].startswith('INSERT INTO "thumbkit_thumbnailrecord"')


def test_iter_all_lists_every_record(case: Case) -> None:
    records = [record(k, "s1") for k in keys(3, "a")] + [record(k, "s2") for k in keys(2, "b")]
    case.store.set_many(records)
    if case.kind.startswith("cache"):
        with pytest.raises(NotImplementedError, match="cannot list its records"):
            case.store.iter_all()
        return
    assert sorted(case.store.iter_all(), key=lambda t: t.key) == sorted(
        records, key=lambda t: t.key
    )


# -- locks ------------------------------------------------------------------------------


def try_lock(store: MetadataStore, key: str, timeout: float = 5) -> bool:
    """Whether a caller on another thread (another DB connection) wins the lock right now."""

    def attempt() -> bool:
        with store.lock(key, timeout) as won:
            return won

    return in_thread(attempt)


def test_lock_first_caller_wins_release_lets_the_next_win(case: Case) -> None:
    store = case.store
    with store.lock(KEY, 5) as won:
        assert won is True
        assert try_lock(store, KEY) is False
        with store.lock(KEY, 5) as again:  # not re-entrant, even on the same connection
            assert again is False
        assert try_lock(store, "e" * 32) is True  # other keys are independent
    assert try_lock(store, KEY) is True
    with store.lock(KEY, 5) as won:
        assert won is True


def test_lock_concurrent_callers_exactly_one_wins(case: Case) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[bool] = []
    all_tried = threading.Barrier(8)

    def contend() -> None:
        try:
            barrier.wait(10)
            with case.store.lock(KEY, 5) as won:
                outcomes.append(won)
                all_tried.wait(10)  # hold it until everyone has tried
        finally:
            close_thread_resources()

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == [False] * 7 + [True]
    assert try_lock(case.store, KEY) is True


# PostgreSQL advisory locks do not expire; see the dead-connection test below.
@pytest.mark.parametrize(
    "case", store_params("db-sqlite", "cache-locmem", "cache-redis", "redis"), indirect=True
)
def test_an_expired_lock_can_be_taken_again(case: Case) -> None:
    store = case.store
    dead = store.lock(KEY, case.lock_expiry)
    assert dead.__enter__() is True  # the holder "dies": it never releases
    assert try_lock(store, KEY) is False
    time.sleep(case.lock_expiry + 0.3)
    with store.lock(KEY, 5) as won:
        assert won is True
        # The dead holder waking up must not release the new holder's lock.
        dead.__exit__(None, None, None)
        assert try_lock(store, KEY) is False
    assert try_lock(store, KEY) is True


@pytest.mark.parametrize("case", store_params("db-pg"), indirect=True)
def test_postgres_lock_is_released_when_its_holder_connection_dies(case: Case) -> None:
    taken, died = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            lock = case.store.lock(KEY, 0.1)
            assert lock.__enter__() is True  # never released: the holder "hangs"...
            taken.set()
            died.wait(10)
        finally:
            connections["pg"].close()  # ...then "dies": its session ends

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert taken.wait(10)
        time.sleep(0.3)  # well past the timeout: an advisory lock lives as long as its session
        with case.store.lock(KEY, 5) as won:
            assert won is False
    finally:
        died.set()
        thread.join(10)
    # The server drops the lock when the dead session's backend exits, a moment later.
    assert won_within(case.store, KEY, seconds=5)


def won_within(store: MetadataStore, key: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with store.lock(key, 5) as won:
            if won:
                return True
        time.sleep(0.02)
    return False


# -- errors -----------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


STORE_CALLS: list[tuple[str, Any]] = [
    ("get_many", lambda s: s.get_many([KEY])),
    ("set_many", lambda s: s.set_many([record(KEY)])),
    ("delete_many", lambda s: s.delete_many([KEY])),
    ("source_keys", lambda s: s.source_keys("s1")),
    ("iter_all", lambda s: list(s.iter_all())),
    ("lock", lambda s: s.lock(KEY, 1).__enter__()),
]


@pytest.mark.parametrize(("name", "call"), STORE_CALLS, ids=[n for n, _ in STORE_CALLS])
def test_redis_store_on_a_closed_port_raises_store_error(name: str, call: Any) -> None:
    store = RedisStore(url=f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreError, match="in Redis failed") as info:
        call(store)
    assert time.monotonic() - started < 0.5 + 0.5
    assert type(info.value) is StoreUnavailable  # unreachable, not a refused command
    assert info.value.__cause__ is not None  # the redis error, kept, not leaked


def test_redis_store_on_a_hung_server_gives_up_after_the_socket_timeout(silent_server: int) -> None:
    store = RedisStore(
        url=f"redis://127.0.0.1:{silent_server}/0", socket_timeout=0.3, connect_timeout=0.3
    )
    started = time.monotonic()
    with pytest.raises(StoreError, match="Timeout"):
        store.get_many([KEY])
    assert 0.25 < time.monotonic() - started < 0.3 + 0.5


def test_cache_store_on_an_unreachable_redis_cache_raises_store_error() -> None:
    from django.conf import settings

    caches = {
        **settings.CACHES,
        "dead": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        },
    }
    with override_settings(CACHES=caches):
        store = CacheStore(cache="dead")
        for name, call in STORE_CALLS:
            if name == "iter_all":
                continue
            with pytest.raises(StoreError):
                call(store)


def test_decoded_records_are_bounded() -> None:
    """The decoded-record memory stays flat on a walk over more records than it keeps."""
    from thumbkit.lookup import thumbnail

    rows = [
        tuple(record(f"{i:032d}").to_dict().values()) for i in range(thumbnail._DECODED_MAX + 10)
    ]
    built = [Thumbnail.from_row(row) for row in rows]
    assert len(thumbnail._decoded) <= thumbnail._DECODED_MAX
    assert Thumbnail.from_row(rows[-1]) is built[-1]  # the latest are kept
    assert [t.key for t in built] == [f"{i:032d}" for i in range(len(rows))]
    assert Thumbnail.from_row(list(rows[0])) is not Thumbnail.from_row(
        list(rows[0])
    )  # a list: built


def test_records_read_back_from_dicts_in_any_key_order_and_from_older_writers() -> None:
    whole = record(KEY, width=640).to_dict()
    shuffled = dict(reversed(list(whole.items())))  # PostgreSQL's jsonb reorders keys
    assert Thumbnail.from_dict(shuffled) == record(KEY, width=640)
    older = {k: v for k, v in whole.items() if k not in {"placeholder_color", "thumbhash"}}
    assert Thumbnail.from_dict(older) == record(KEY, width=640)
    newer = {**whole, "added_later": 1}  # a field a later release writes: ignored here
    assert Thumbnail.from_dict(newer) == record(KEY, width=640)
    assert not hasattr(Thumbnail.from_dict(newer), "added_later")


@pytest.mark.redis
def test_redis_store_reads_pages_with_decode_responses(
    need_redis: None, redis_client: Any, redis_prefix: str
) -> None:
    """redis-py's ``decode_responses=True`` (str replies, not bytes) reads the same records."""
    from django.conf import settings

    from tests.batching_util import forget_prefix

    store = RedisStore(url=settings.REDIS_URL, prefix=redis_prefix, decode_responses=True)
    try:
        records = [record(f"{i:032d}", f"s{i % 3}") for i in range(9)]
        store.set_many(records)
        found = store.get_sources(["s0", "s1", "s2", "absent"])
        assert {s: sorted(found[s]) for s in found} == {
            f"s{n}": sorted(r.key for r in records if r.source_key == f"s{n}") for n in range(3)
        }
        assert found["s1"][f"{1:032d}"] == records[1]
        assert store.get_many([records[4].key]) == {records[4].key: records[4]}
    finally:
        forget_prefix(redis_client, redis_prefix)
        store.client.close()

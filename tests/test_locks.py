"""Locks of dead holders: taken over at once, not after LOCK_TIMEOUT.

A real child process takes the generation lock and is SIGKILLed; the next generation must
not wait for the lock's 30 s expiry. Redis and Django's RedisCache (the lock records its
owner; a dead pid on this host is seen at once), the db lock table on a file SQLite
database shared with a second child, and PostgreSQL advisory locks (the server ends them
with the dead session). Then the liveness rules one by one, on every store that has them:
dead pid, zombie, recycled pid, a live owner, another host's stale or fresh heartbeat.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from tests import images
from tests.conftest import thumbkit_settings
from tests.locks_util import child_generate, child_hold
from tests.stores_util import (
    close_store,
    files_under,
    in_thread,
    need_services,
    store_params,
    store_settings,
)
from thumbkit import get_thumbnail
from thumbkit.lookup.api import get_spec
from thumbkit.lookup.keys import thumbnail_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import MetadataStore, get_store, locks
from thumbkit.models import GenerationLock
from thumbkit.signals import thumbnails_generated

SPEC = "200x150"
LOCK_TIMEOUT = 30.0
# Far below LOCK_TIMEOUT (which the old code waited out) and generous for a loaded machine.
TAKEOVER_BOUND = 10.0


def child_settings(root: str, **extra: Any) -> dict[str, Any]:
    thumbs = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": root, "base_url": "/t/"},
    }
    return {
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        "STORAGES": {**settings.STORAGES, "thumbs": thumbs},
        **extra,
    }


def spawn_holder(config: dict[str, Any], key: str) -> Any:
    """A child holding the lock of ``key`` (LOCK_TIMEOUT long), once it says it took it."""
    context = multiprocessing.get_context("spawn")
    taken = context.Event()
    worker = context.Process(target=child_hold, args=(config, key, LOCK_TIMEOUT, taken))
    worker.start()
    assert taken.wait(120), "the child did not take the lock"
    return worker


def kill(worker: Any) -> None:
    worker.kill()  # SIGKILL: no finally block runs, nothing is released
    worker.join(10)
    assert worker.exitcode == -signal.SIGKILL


# -- a real process, SIGKILLed while it holds the lock -------------------------------------


@pytest.mark.parametrize("kind", store_params("redis", "cache-redis", "db-pg"))
def test_the_lock_of_a_killed_worker_is_taken_over_at_once(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, save_source: Any, redis_prefix: str
) -> None:
    need_services(request, kind)
    root = str(tmp_path / "thumbs")
    source = save_source(images.jpeg((800, 600)), name=f"photos/k-{uuid.uuid4().hex[:8]}.jpg")
    key = thumbnail_key(coerce(source), get_spec(SPEC))
    made: list[int] = []
    config = {**store_settings(kind, redis_prefix), "STORAGE": "thumbs"}
    with (
        override_settings(STORAGES=child_settings(root)["STORAGES"]),
        thumbkit_settings(**config, LOCK_TIMEOUT=LOCK_TIMEOUT),
    ):
        child = {
            "settings": child_settings(root, THUMBKIT=settings.THUMBKIT),
            "pg_name": connections["pg"].settings_dict["NAME"],
        }
        store = get_store()
        warm = get_thumbnail(source, "50x50")  # warm up (imports, connections): time the lock only
        worker = spawn_holder(child, key)
        try:
            assert not lock_is_free(store, key)  # really held by the child
        finally:
            kill(worker)
        thumbnails_generated.connect(
            lambda **kw: made.append(len(kw["thumbnails"])), weak=False, dispatch_uid="locks"
        )
        try:
            started = time.monotonic()
            thumb = get_thumbnail(source, SPEC)
            seconds = time.monotonic() - started
        finally:
            thumbnails_generated.disconnect(dispatch_uid="locks")
            close_store(store)
    print(f"\n[{kind}] generation after the holder's SIGKILL took {seconds:.3f}s")
    # Before: the lock blocked the rerun until it expired (LOCK_TIMEOUT = 30 s).
    assert seconds < TAKEOVER_BOUND
    assert made == [1]
    assert sorted(files_under(root)) == sorted([thumb.name, warm.name])
    if kind == "db-pg":
        connections["pg"].close()


def test_a_killed_workers_lock_row_is_taken_over_at_once_on_sqlite(
    tmp_path: Path, save_source: Any
) -> None:
    """The db lock table, on a file SQLite database both children share."""
    root, database = str(tmp_path / "thumbs"), str(tmp_path / "locks.sqlite3")
    source = save_source(images.jpeg((800, 600)), name=f"photos/k-{uuid.uuid4().hex[:8]}.jpg")
    key = thumbnail_key(coerce(source), get_spec(SPEC))
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database},
        "pg": dict(settings.DATABASES["pg"]),
    }
    thumbkit = {
        **settings.THUMBKIT,
        "STORE": "db",
        "STORE_OPTIONS": {"using": "default"},
        "STORAGE": "thumbs",
        "LOCK_TIMEOUT": LOCK_TIMEOUT,
    }
    config = {
        "settings": child_settings(root, THUMBKIT=thumbkit, DATABASES=databases),
        "pg_name": "unused",
        "migrate": True,
        "source": source,
        "spec": SPEC,
        "warm": "50x50",
    }
    worker = spawn_holder(config, key)
    try:
        assert query(database, "SELECT key, pid FROM thumbkit_generationlock") == [
            (key, worker.pid)
        ]
    finally:
        kill(worker)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    waiter = context.Process(target=child_generate, args=(config, results))
    waiter.start()
    report = results.get(timeout=120)
    waiter.join(30)
    assert report.get("error") is None
    print(f"\n[db-sqlite] generation after the holder's SIGKILL took {report['seconds']:.3f}s")
    assert report["seconds"] < TAKEOVER_BOUND  # before: LockTimeout after 30 s
    assert report["generated"] == 1
    assert report["name"] in files_under(root)
    assert (key,) in query(database, "SELECT key FROM thumbkit_thumbnailrecord")
    assert query(database, "SELECT key FROM thumbkit_generationlock") == []


def query(database: str, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(database) as db:
        return list(db.execute(sql))


def lock_is_free(store: MetadataStore, key: str) -> bool:
    def attempt() -> bool:
        with store.lock(key, 5) as won:
            return won

    return in_thread(attempt)


# -- who counts as dead, store by store ---------------------------------------------------

KEY = "0123456789abcdef0123456789abcdef"
OWNED = store_params("db-sqlite", "cache-locmem", "cache-redis", "redis")


@dataclass
class Case:
    kind: str
    store: Any

    def plant(self, owner: locks.Owner, beat: float) -> None:
        """A lock on KEY as another process would have left it: owner and heartbeat."""
        token = uuid.uuid4().hex
        if self.kind == "db-sqlite":
            GenerationLock.objects.create(
                key=KEY,
                token=token,
                expires=timezone.now() + timedelta(seconds=LOCK_TIMEOUT),
                host=owner.host,
                pid=owner.pid,
                started=owner.start,
                heartbeat=beat,
            )
            return
        value = locks.encode(token, owner, beat)
        name = f"{self.store.prefix}l:{KEY}"
        if self.kind == "redis":
            self.store.client.set(name, value, px=int(LOCK_TIMEOUT * 1000))
        else:
            assert self.store.cache.add(name, value, int(LOCK_TIMEOUT))

    def beat(self) -> float:
        """The heartbeat the store holds for KEY's lock."""
        if self.kind == "db-sqlite":
            return float(GenerationLock.objects.get(key=KEY).heartbeat)
        name = f"{self.store.prefix}l:{KEY}"
        if self.kind == "redis":
            held = locks.decode(self.store.client.get(name))
            assert held is not None
            return held.beat
        held = locks.decode(self.store.cache.get(name))
        assert held is not None
        extra = self.store.cache.get(f"{name}:hb") or f"{held.token}:0"
        return max(held.beat, float(extra.partition(":")[2]))


@pytest.fixture(params=OWNED)
def case(request: pytest.FixtureRequest, redis_prefix: str) -> Iterator[Case]:
    need_services(request, request.param)
    with thumbkit_settings(**store_settings(request.param, redis_prefix)):
        store = get_store()
        yield Case(request.param, store)
    close_store(store)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped: the pid names no process now
    return child.pid


def here(pid: int, start: str = "") -> locks.Owner:
    return locks.Owner(locks.me().host, pid, start)


def test_a_lock_whose_owner_pid_is_gone_is_taken_over(case: Case) -> None:
    case.plant(here(dead_pid()), time.time())
    assert lock_is_free(case.store, KEY) is True


def test_a_lock_of_a_killed_unreaped_process_is_taken_over(case: Case) -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = locks._stat(zombie.pid)[1]
        case.plant(here(zombie.pid, start), time.time())
        assert lock_is_free(case.store, KEY) is False  # alive: it keeps its lock
        zombie.kill()
        deadline = time.monotonic() + 10
        while locks._stat(zombie.pid)[0] != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lock_is_free(case.store, KEY) is True  # a zombie is dead
    finally:
        zombie.kill()
        zombie.wait()


def test_a_live_owner_on_this_host_keeps_its_lock_whatever_its_heartbeat(case: Case) -> None:
    parent = os.getppid()
    case.plant(here(parent, locks._stat(parent)[1]), time.time() - 3600)
    assert lock_is_free(case.store, KEY) is False  # alive on this host: its age is no matter
    with case.store.lock(KEY, 5) as won:
        assert won is False


def test_a_pid_now_held_by_another_process_is_taken_over(case: Case) -> None:
    # The pid exists, but it started at another time than the lock's owner did.
    case.plant(here(os.getppid(), "1"), time.time())
    assert lock_is_free(case.store, KEY) is True


def test_another_hosts_lock_is_taken_over_only_when_its_heartbeat_is_stale(case: Case) -> None:
    elsewhere = locks.Owner("another-host/pid:[4026531836]", os.getpid(), "12345")
    case.plant(elsewhere, time.time() - 2 * locks.STALE_AFTER)
    assert lock_is_free(case.store, KEY) is True


def test_another_hosts_lock_with_a_fresh_heartbeat_is_kept(case: Case) -> None:
    elsewhere = locks.Owner("another-host/pid:[4026531836]", 1, "12345")
    case.plant(elsewhere, time.time())
    assert lock_is_free(case.store, KEY) is False


def test_the_holders_heartbeat_keeps_another_hosts_waiters_off_until_it_stops(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "HEARTBEAT_INTERVAL", 0.05)
    monkeypatch.setattr(locks, "STALE_AFTER", 0.5)
    elsewhere = locks.Owner("another-host/pid:[4026531836]", 1, "12345")
    with mock.patch.object(locks, "me", return_value=elsewhere):
        holder = case.store.lock(KEY, LOCK_TIMEOUT)  # as if taken on another host
        assert holder.__enter__() is True
    try:
        first = case.beat()
        deadline = time.monotonic() + 10
        while case.beat() <= first + 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert case.beat() > first + 0.5  # beats went on, past the stale age
        assert lock_is_free(case.store, KEY) is False  # so the lock is kept
        locks.HEARTBEATS._beats.clear()  # the holder's host freezes: no more heartbeats
        deadline = time.monotonic() + 10
        while not lock_is_free(case.store, KEY) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock_is_free(case.store, KEY) is True
    finally:
        holder.__exit__(None, None, None)


def test_a_released_lock_stops_its_heartbeat(case: Case) -> None:
    with case.store.lock(KEY, 5) as won:
        assert won is True
        assert len(locks.HEARTBEATS) == 1
    assert len(locks.HEARTBEATS) == 0
    with case.store.lock(KEY, 5) as won:
        assert won is True

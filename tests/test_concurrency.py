"""Exactly one generation: real threads and processes asking at once for one missing thumbnail.

Runs against PostgreSQL (db store, advisory locks) and Redis (redis store); threads against
SQLite (db store, lock table) too. The engine sleeps a little in render so the requests
really overlap; a barrier releases them together.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test import override_settings
from PIL import Image

from tests import images
from tests.conftest import thumbkit_settings
from tests.stores_util import (
    SlowEngine,
    child_hold_lock,
    child_main,
    close_store,
    files_under,
    in_thread,
    need_services,
    run_threads,
    store_params,
    store_settings,
)
from thumbkit import get_thumbnail
from thumbkit.exceptions import StorageError, StoreError
from thumbkit.lookup import files
from thumbkit.lookup.api import get_spec, resolve
from thumbkit.lookup.keys import default_name, source_key, thumbnail_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import MetadataStore, get_store
from thumbkit.lookup.thumbnail import Thumbnail
from thumbkit.models import ThumbnailRecord
from thumbkit.signals import thumbnails_generated

SPEC = "200x150"
KINDS = {"pg": "db-pg", "redis": "redis", "sqlite": "db-sqlite"}


@dataclass
class Scene:
    """One source, a storage of its own for thumbnails, a store, and counters."""

    kind: str
    source: str
    root: str
    store: MetadataStore
    generated: list[int] = field(default_factory=list)

    def key(self, spec: str = SPEC) -> str:
        return thumbnail_key(coerce(self.source), get_spec(spec))

    def target_path(self, spec: str = SPEC) -> str:
        name = default_name(coerce(self.source), get_spec(spec), self.key(spec), "JPEG", "thumbs")
        return os.path.join(self.root, name)

    def records(self) -> list[str]:
        """Every key recorded for the source (and, for the db store, every row at all)."""
        indexed = self.store.source_keys(source_key(coerce(self.source)))
        if self.kind in {"db-pg", "db-sqlite"}:
            alias = "pg" if self.kind == "db-pg" else "default"
            rows = list(ThumbnailRecord.objects.using(alias).values_list("key", flat=True))
            assert sorted(rows) == indexed
        return indexed


def scene_params(*names: str) -> list[Any]:
    return store_params(*(KINDS[n] for n in names))


FLAKY = "tests.stores_util.FlakyStorage"


def thumbs_storage(backend: str, root: str) -> Any:
    entry = {"BACKEND": backend, "OPTIONS": {"location": root, "base_url": "/t/"}}
    return override_settings(STORAGES={**settings.STORAGES, "thumbs": entry})


@pytest.fixture
def storage_backend() -> str:
    """The thumbnails' storage class; tests parametrize it to inject faults."""
    return "django.core.files.storage.FileSystemStorage"


@pytest.fixture
def scene(
    request: pytest.FixtureRequest,
    tmp_path: Any,
    redis_prefix: str,
    save_source: Any,
    storage_backend: str,
) -> Iterator[Scene]:
    kind = request.param
    need_services(request, kind)
    root = str(tmp_path / "thumbs")
    name = save_source(images.jpeg((1600, 1200)), name=f"photos/c-{uuid.uuid4().hex[:8]}.jpg")
    config = {
        **store_settings(kind, redis_prefix),
        "STORAGE": "thumbs",
        "ENGINE": "tests.stores_util.SlowEngine",
        "LOCK_TIMEOUT": 20.0,
    }
    SlowEngine.calls = 0
    with thumbs_storage(storage_backend, root), thumbkit_settings(**config):
        current = Scene(kind, name, root, get_store())

        def count(**kwargs: Any) -> None:
            current.generated.append(len(kwargs["thumbnails"]))

        thumbnails_generated.connect(count, weak=False, dispatch_uid="test-concurrency")
        try:
            yield current
        finally:
            thumbnails_generated.disconnect(dispatch_uid="test-concurrency")
            close_store(current.store)
    if "pg" in connections:
        connections["pg"].close()


def assert_one_generation(scene: Scene, thumbs: list[Thumbnail], renders: int = 1) -> None:
    assert scene.generated == [1]
    assert SlowEngine.calls == renders
    assert {t.url for t in thumbs} == {thumbs[0].url}
    assert len({t.name for t in thumbs}) == 1
    assert files_under(scene.root) == [thumbs[0].name]  # no second file, no temporary left
    assert scene.records() == [thumbs[0].key]
    with Image.open(os.path.join(scene.root, thumbs[0].name)) as image:
        assert image.size == (thumbs[0].width, thumbs[0].height) == (200, 150)


class Poller:
    """A reader that keeps opening the target path and decoding whatever it finds there."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stop = threading.Event()
        self.reads: list[bytes] = []
        self.broken: list[str] = []
        self.thread = threading.Thread(target=self._run)

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with open(self.path, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                continue
            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                self.reads.append(data[-64:])
            except Exception as exc:
                self.broken.append(f"{len(data)} bytes: {exc}")


# Not on SQLite: pytest-django's in-memory SQLite test database runs in shared-cache mode,
# where a writer facing 50 polling readers fails at once ("database table is locked")
# instead of waiting as a file database does.
@pytest.mark.parametrize("scene", scene_params("pg", "redis"), indirect=True)
def test_fifty_threads_generate_one_thumbnail_once(scene: Scene) -> None:
    with Poller(scene.target_path()) as poller:
        thumbs = run_threads(50, lambda _: get_thumbnail(scene.source, SPEC))
    assert_one_generation(scene, thumbs)
    assert poller.broken == []  # no reader ever saw a partial file
    assert poller.reads  # and the reader did see the file appear


def child_config(scene: Scene) -> dict[str, Any]:
    """What a spawned process needs to see the parent's settings, files and database."""
    return {
        "settings": {
            "MEDIA_ROOT": settings.MEDIA_ROOT,
            "STORAGES": settings.STORAGES,
            "THUMBKIT": settings.THUMBKIT,
        },
        # pytest-django's test database, which the settings module does not name.
        "pg_name": connections["pg"].settings_dict["NAME"],
        "source": scene.source,
        "spec": SPEC,
    }


@pytest.mark.parametrize("scene", scene_params("pg", "redis"), indirect=True)
def test_four_processes_generate_one_thumbnail_once(scene: Scene) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    results = context.Queue()
    config = child_config(scene)
    workers = [
        context.Process(target=child_main, args=(config, barrier, results)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    try:
        reports = [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(30)
    assert [r.get("error") for r in reports] == [None] * 4
    assert sorted(r["generated"] for r in reports) == [0, 0, 0, 1]
    assert sorted(r["renders"] for r in reports) == [0, 0, 0, 1]
    urls = {r["url"] for r in reports}
    assert len(urls) == 1
    [name] = files_under(scene.root)
    assert urls == {f"/t/{name}"}
    assert scene.records() == [scene.key()]
    assert scene.generated == []  # the parent generated nothing itself


@pytest.mark.parametrize("scene", scene_params("pg", "redis"), indirect=True)
def test_a_worker_killed_while_holding_the_lock_does_not_block_generation(scene: Scene) -> None:
    context = multiprocessing.get_context("spawn")
    taken = context.Event()
    args = (child_config(scene), scene.key(), 1.0, taken)
    worker = context.Process(target=child_hold_lock, args=args)
    worker.start()
    try:
        assert taken.wait(60)
        assert not lock_is_free(scene, scene.key())
    finally:
        worker.kill()  # SIGKILL: no finally block, no release
        worker.join(10)
    started = time.monotonic()
    thumb = get_thumbnail(scene.source, SPEC)
    # PostgreSQL frees the lock with the dead session at once; Redis when it expires (1 s).
    assert time.monotonic() - started < 1.0 + 2.0
    assert_one_generation(scene, [thumb])


def test_writes_are_atomic_for_readers(tmp_path: Any) -> None:
    """Rewriting a file while a reader polls it: the reader sees the old or the new, whole."""
    from django.core.files.storage import FileSystemStorage

    storage = FileSystemStorage(location=str(tmp_path))
    noise = [Image.frombytes("RGB", (700, 500), os.urandom(700 * 500 * 3)) for _ in range(2)]
    payloads = [images.encode(img, "PNG") for img in noise]  # ~1 MB each: writes take time
    path = storage.path("thumbs/aa/bb/x.png")
    wanted = {p[-64:] for p in payloads}
    with Poller(path) as poller:
        # Rewrite until the reader has seen both versions (bounded): on a loaded machine the
        # reader may be scheduled rarely, and the test is about what it sees, not how often.
        for round_ in range(2000):
            files.write(storage, "thumbs/aa/bb/x.png", payloads[round_ % 2])
            if round_ >= 40 and wanted <= set(poller.reads):
                break
    assert poller.broken == []
    assert wanted <= set(poller.reads)  # it saw both versions
    assert files_under(str(tmp_path)) == ["thumbs/aa/bb/x.png"]


# -- failures -------------------------------------------------------------------------------


def lock_is_free(scene: Scene, key: str) -> bool:
    def attempt() -> bool:
        with scene.store.lock(key, 5) as won:
            return won

    return in_thread(attempt)


def fail_on(save: int) -> None:
    """Make the FlakyStorage behind the "thumbs" alias fail on its n-th save from now."""
    from django.core.files.storage import storages

    storage = storages["thumbs"]
    storage.fail_on = save
    storage.saves = 0


@pytest.mark.parametrize("scene", scene_params("pg", "redis", "sqlite"), indirect=True)
@pytest.mark.parametrize("storage_backend", [FLAKY], ids=["flaky"])
def test_a_failed_storage_write_leaves_nothing_and_frees_the_lock(scene: Scene) -> None:
    src, specs = coerce(scene.source), [get_spec(SPEC), get_spec("80x80")]
    fail_on(2)  # the first thumbnail is written, the second write fails
    with pytest.raises(StorageError, match="No space left"):
        resolve([(src, spec) for spec in specs])
    assert files_under(scene.root) == []  # the first file was removed again
    assert scene.records() == []
    assert scene.generated == []
    assert all(lock_is_free(scene, scene.key(s)) for s in (SPEC, "80x80"))
    thumbs = resolve([(coerce(scene.source), spec) for spec in specs])
    assert sorted(files_under(scene.root)) == sorted(t.name for t in thumbs)
    assert sorted(scene.records()) == sorted(t.key for t in thumbs)


@pytest.mark.parametrize("scene", scene_params("pg", "redis", "sqlite"), indirect=True)
def test_a_failed_record_write_leaves_nothing_and_frees_the_lock(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scene.store.set_many

    def fail_once(thumbnails: Any) -> None:
        monkeypatch.setattr(scene.store, "set_many", real)
        raise StoreError("Writing thumbnail records failed: injected")

    monkeypatch.setattr(scene.store, "set_many", fail_once)
    with pytest.raises(StoreError, match="injected"):
        get_thumbnail(scene.source, SPEC)
    assert files_under(scene.root) == []
    assert scene.records() == []
    assert lock_is_free(scene, scene.key())
    thumb = get_thumbnail(coerce(scene.source), SPEC)
    assert files_under(scene.root) == [thumb.name]
    assert scene.records() == [thumb.key]


@pytest.mark.parametrize("scene", scene_params("pg", "redis"), indirect=True)
@pytest.mark.parametrize("storage_backend", [FLAKY], ids=["flaky"])
def test_waiters_take_over_when_the_generating_thread_fails(scene: Scene) -> None:
    fail_on(1)  # the first generation fails; a waiter must then generate it

    def ask(_: int) -> Any:
        try:
            return get_thumbnail(scene.source, SPEC)
        except StorageError as exc:
            return exc

    outcomes = run_threads(10, ask)
    errors = [o for o in outcomes if isinstance(o, StorageError)]
    thumbs = [o for o in outcomes if isinstance(o, Thumbnail)]
    assert len(errors) == 1
    assert len(thumbs) == 9
    assert_one_generation(scene, thumbs, renders=2)


@pytest.mark.parametrize("scene", scene_params("pg"), indirect=True)
def test_a_generation_inside_a_transaction_keeps_others_waiting_until_commit(
    scene: Scene,
) -> None:
    """With ATOMIC_REQUESTS the record is invisible until commit: the lock must last as long."""
    generated, commit = threading.Event(), threading.Event()

    def in_request() -> Thumbnail:
        with transaction.atomic(using="pg"):
            thumb = get_thumbnail(scene.source, SPEC)
            generated.set()
            commit.wait(10)
        return thumb

    first: list[Thumbnail] = []
    holder = threading.Thread(target=lambda: first.append(in_thread(in_request)))
    holder.start()
    try:
        assert generated.wait(10)
        second: list[Thumbnail] = []
        waiter = threading.Thread(
            target=lambda: second.append(in_thread(lambda: get_thumbnail(scene.source, SPEC)))
        )
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive()  # still waiting for the first transaction
        assert scene.generated == [1]
    finally:
        commit.set()
        holder.join(10)
    waiter.join(10)
    assert_one_generation(scene, [*first, *second])

"""Faults in the generation path: half-written files, failures at each step, rollbacks.

Every test looks at what is left afterwards on the storage (every file below its root,
temporary files included) and in the store, and injects the fault in a real storage subclass
or a single patched call.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.test import override_settings
from PIL import Image

from tests import images
from tests.conftest import thumbkit_settings
from tests.stores_util import files_under
from thumbkit import get_thumbnail
from thumbkit.exceptions import GenerationError, StorageError, StoreError
from thumbkit.lookup.api import get_spec, resolve
from thumbkit.lookup.keys import default_name, source_key, thumbnail_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store
from thumbkit.models import GenerationLock, ThumbnailRecord

SPEC = "200x150"


@dataclass
class Scene:
    """A source, a storage of its own (alias "thumbs") for thumbnails, and the store."""

    source: str
    root: str

    def key(self, spec: str = SPEC) -> str:
        return thumbnail_key(coerce(self.source), get_spec(spec))

    def predicted(self, spec: str = SPEC) -> str:
        return default_name(coerce(self.source), get_spec(spec), self.key(spec), "JPEG", "thumbs")

    def records(self) -> list[str]:
        return get_store().source_keys(source_key(coerce(self.source)))

    def rows(self, using: str = "default") -> list[str]:
        return list(ThumbnailRecord.objects.using(using).values_list("key", flat=True))


@pytest.fixture
def storage_backend() -> str:
    return "django.core.files.storage.FileSystemStorage"


@pytest.fixture
def store_config() -> dict[str, Any]:
    return {"STORE": "db", "STORE_OPTIONS": {"using": "default"}}


@contextmanager
def scene_for(
    tmp_path: Any,
    save_source: Any,
    store_config: dict[str, Any],
    storage_backend: str = "django.core.files.storage.FileSystemStorage",
) -> Iterator[Scene]:
    root = str(tmp_path / "thumbs")
    name = save_source(images.jpeg((800, 600)), name=f"photos/f-{uuid.uuid4().hex[:8]}.jpg")
    entry = {"BACKEND": storage_backend, "OPTIONS": {"location": root, "base_url": "/t/"}}
    with (
        override_settings(STORAGES={**settings.STORAGES, "thumbs": entry}),
        thumbkit_settings(STORAGE="thumbs", **store_config),
    ):
        yield Scene(name, root)


@pytest.fixture
def scene(
    tmp_path: Any, save_source: Any, storage_backend: str, store_config: dict[str, Any]
) -> Iterator[Scene]:
    with scene_for(tmp_path, save_source, store_config, storage_backend) as scene:
        yield scene


# -- 3. storages that override _save ------------------------------------------------------


class HalfWriteStorage(FileSystemStorage):
    """A subclass whose ``_save`` writes half the bytes under the name it got, then fails
    (a full disk, a dropped network share)."""

    def _save(self, name: str, content: Any) -> str:
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = content.read()
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(5, "Input/output error")


class StampingStorage(FileSystemStorage):
    """A working subclass whose ``_save`` changes the content (appends a trailer) and
    records the names it was given."""

    TRAILER = b"stamped-by-subclass"
    calls: list[str] = []

    def _save(self, name: str, content: Any) -> str:
        StampingStorage.calls.append(name)
        data = content.read() + self.TRAILER
        from django.core.files.base import ContentFile

        return str(super()._save(name, ContentFile(data)))


@pytest.mark.django_db
@pytest.mark.parametrize("storage_backend", ["tests.test_faults.HalfWriteStorage"])
def test_a_subclass_save_that_fails_half_way_leaves_no_partial_file(scene: Scene) -> None:
    for _ in range(100):
        with pytest.raises(StorageError, match="Input/output error"):
            get_thumbnail(scene.source, SPEC)
    # Before: the half-written file stayed under the predicted name, and predicted URLs
    # (the optimistic strategy, the outage fallback) served a truncated JPEG.
    assert files_under(scene.root) == []  # no partial file, no temporary file
    assert scene.records() == []
    assert scene.rows() == []


@pytest.mark.django_db
@pytest.mark.parametrize("storage_backend", ["tests.test_faults.StampingStorage"])
def test_a_working_subclass_keeps_its_save_behaviour_and_gets_an_atomic_write(
    scene: Scene,
) -> None:
    StampingStorage.calls = []
    thumb = get_thumbnail(scene.source, SPEC)
    assert thumb.name == scene.predicted()
    assert files_under(scene.root) == [thumb.name]
    path = os.path.join(scene.root, thumb.name)
    with open(path, "rb") as handle:
        data = handle.read()
    assert data.endswith(StampingStorage.TRAILER)  # the subclass's _save ran on the bytes
    with Image.open(path) as image:
        assert image.size == (200, 150)
    # Its _save got one temporary name next to the target, never the target itself.
    [called] = StampingStorage.calls
    assert os.path.dirname(called) == os.path.dirname(thumb.name)
    assert called != thumb.name
    assert os.path.basename(called).startswith(".thumbkit-")
    assert scene.records() == [thumb.key]


# -- 1. generation inside a transaction that rolls back -----------------------------------


class Boom(Exception):
    pass


DATABASES = [
    pytest.param("default", marks=pytest.mark.django_db(transaction=True), id="sqlite"),
    pytest.param(
        "pg",
        marks=[pytest.mark.django_db(transaction=True, databases=["default", "pg"])],
        id="pg",
    ),
]


@pytest.fixture
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    """The database the db store writes to (and the atomic blocks are on)."""
    if request.param == "pg":
        request.getfixturevalue("need_postgres")
    yield request.param
    if request.param == "pg":
        from django.db import connections

        connections["pg"].close()


def db_store(alias: str) -> dict[str, Any]:
    return {"STORE": "db", "STORE_OPTIONS": {"using": alias}}


def generate_in_atomic(scene: Scene, alias: str, spec: str, ending: str) -> None:
    """Generate inside an atomic block on ``alias`` that ends by ``ending``."""
    with transaction.atomic(using=alias):
        thumb = get_thumbnail(scene.source, spec)
        assert thumb.name in files_under(scene.root)  # visible inside the block
        assert thumb.key in scene.records()
        if ending == "exception":
            raise Boom
        if ending == "set_rollback":
            transaction.set_rollback(True, using=alias)


@pytest.mark.parametrize("alias", DATABASES, indirect=True)
@pytest.mark.parametrize("ending", ["exception", "set_rollback"])
def test_a_rolled_back_transaction_takes_its_files_with_it(
    alias: str, ending: str, tmp_path: Any, save_source: Any
) -> None:
    with scene_for(tmp_path, save_source, db_store(alias)) as scene:
        with pytest.raises(Boom) if ending == "exception" else nullcontext():
            generate_in_atomic(scene, alias, SPEC, ending)
        # Before: the record was rolled back and the file stayed, an orphan.
        assert scene.rows(alias) == []
        assert files_under(scene.root) == []


@pytest.mark.parametrize("alias", DATABASES, indirect=True)
def test_a_rolled_back_savepoint_takes_its_files_and_the_outer_commit_keeps_the_rest(
    alias: str, tmp_path: Any, save_source: Any
) -> None:
    with scene_for(tmp_path, save_source, db_store(alias)) as scene:
        with transaction.atomic(using=alias):
            kept = get_thumbnail(scene.source, "80x80")
            with pytest.raises(Boom):
                generate_in_atomic(scene, alias, SPEC, "exception")  # a savepoint
            # Removed at the savepoint's rollback, before the outer block ends.
            assert files_under(scene.root) == [kept.name]
        assert files_under(scene.root) == [kept.name]
        assert scene.rows(alias) == [kept.key]


@pytest.mark.parametrize("alias", DATABASES, indirect=True)
def test_a_committed_transaction_keeps_files_and_records(
    alias: str, tmp_path: Any, save_source: Any
) -> None:
    with scene_for(tmp_path, save_source, db_store(alias)) as scene:
        with transaction.atomic(using=alias):
            generate_in_atomic(scene, alias, SPEC, "commit")  # a released savepoint
        [name] = files_under(scene.root)
        assert scene.rows(alias) == [scene.key()]
        gc.collect()  # nothing is left waiting to remove them later
        assert files_under(scene.root) == [name]
        with Image.open(os.path.join(scene.root, name)) as image:
            assert image.size == (200, 150)


OUTSIDE = [
    pytest.param("cache-locmem", id="cache-locmem"),
    pytest.param("redis", marks=pytest.mark.redis, id="redis"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", OUTSIDE)
def test_stores_outside_the_database_keep_file_and_record_through_a_rollback(
    kind: str, request: pytest.FixtureRequest, tmp_path: Any, save_source: Any, redis_prefix: str
) -> None:
    from tests.stores_util import close_store, need_services, store_settings

    need_services(request, kind)
    with scene_for(tmp_path, save_source, store_settings(kind, redis_prefix)) as scene:
        with pytest.raises(Boom):
            generate_in_atomic(scene, "default", SPEC, "exception")
        # Not transactional: the record was written at once and stays, so must its file.
        [name] = files_under(scene.root)
        assert scene.records() == [scene.key()]
        assert get_store().get_many([scene.key()])[scene.key()].name == name
        close_store(get_store())


# -- 4. every failure path of a generation leaves nothing ---------------------------------


class SecondSaveBreaks(FileSystemStorage):
    """Saves the first file; on the second, writes half of it and raises ``error``."""

    error: BaseException = OSError(28, "No space left on device")
    saves = 0

    def _save(self, name: str, content: Any) -> str:
        SecondSaveBreaks.saves += 1
        if SecondSaveBreaks.saves == 2:
            os.makedirs(os.path.dirname(self.path(name)), exist_ok=True)
            with open(self.path(name), "wb") as handle:
                handle.write(content.read()[:100])
            raise SecondSaveBreaks.error
        return str(super()._save(name, content))


class FailingStep:
    """A post-processor (user code) that fails."""

    def process(self, data: bytes, fmt: str) -> bytes:
        raise RuntimeError("optimizer crashed")


def fail_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's WebP encoder fails (an encoder error, as on a full buffer or a bad option)."""

    from PIL import WebPImagePlugin  # registers the real encoder first, as Image.init() would

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("encoder error -2 when writing image file")

    assert WebPImagePlugin.WebPImageFile.format in Image.SAVE
    monkeypatch.setitem(Image.SAVE, "WEBP", broken)


def fail_record_write(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    store = get_store()

    def failing(thumbnails: Any) -> None:
        raise error

    monkeypatch.setattr(store, "set_many", failing)


FAULTS: dict[str, tuple[type[BaseException], str | None]] = {
    # fault: (what the generation raises, and says)
    "encode": (GenerationError, "Encoding WEBP failed"),
    "post_process": (GenerationError, "optimizer crashed"),
    "second_upload": (StorageError, "No space left"),
    "interrupt_in_upload": (KeyboardInterrupt, None),
    "store_after_upload": (StoreError, "injected"),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_failure_path_leaves_no_file_no_record_and_no_lock(
    fault: str, tmp_path: Any, save_source: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = "tests.test_faults.SecondSaveBreaks"
    SecondSaveBreaks.saves = 0
    SecondSaveBreaks.error = (
        KeyboardInterrupt() if fault == "interrupt_in_upload" else OSError(28, "No space left")
    )
    with scene_for(tmp_path, save_source, db_store("default"), backend) as scene:
        steps = [FailingStep()] if fault == "post_process" else []
        specs = [get_spec(SPEC), get_spec("80x80", format="webp", post_processors=steps)]
        if fault == "encode":
            fail_encoding(monkeypatch)
        if fault == "store_after_upload":
            fail_record_write(monkeypatch, StoreError("Writing thumbnail records failed: injected"))
        if fault in {"encode", "post_process", "store_after_upload"}:
            SecondSaveBreaks.saves = -100  # the storage works: the fault is elsewhere
        error, message = FAULTS[fault]
        with pytest.raises(error, match=message):
            resolve([(coerce(scene.source), spec) for spec in specs])
        assert files_under(scene.root) == []  # no file, no partial, no temporary
        assert scene.rows() == []
        assert list(GenerationLock.objects.values_list("key", flat=True)) == []
        monkeypatch.undo()
        SecondSaveBreaks.saves = -100
        specs[1] = get_spec("80x80", format="webp")
        thumbs = resolve([(coerce(scene.source), spec) for spec in specs])  # and it recovers
        assert sorted(files_under(scene.root)) == sorted(t.name for t in thumbs)
        assert sorted(scene.rows()) == sorted(t.key for t in thumbs)


class UndeletableStorage(FileSystemStorage):
    def delete(self, name: str) -> None:
        raise PermissionError(13, "Permission denied", name)


@pytest.mark.django_db(transaction=True)
def test_a_cleanup_that_fails_is_logged_and_the_original_error_raised(
    tmp_path: Any, save_source: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    backend = "tests.test_faults.UndeletableStorage"
    with scene_for(tmp_path, save_source, db_store("default"), backend) as scene:
        fail_record_write(monkeypatch, StoreError("Writing thumbnail records failed: injected"))
        with caplog.at_level("WARNING", logger="thumbkit"), pytest.raises(StoreError):
            get_thumbnail(scene.source, SPEC)
        [left] = files_under(scene.root)  # could not be removed: said so, by name
        assert [r.getMessage() for r in caplog.records] == [
            f"Could not remove {left} after a failed generation"
        ]
        assert scene.rows() == []


# --- an interrupt while a lock is held ----------------------------------------------------


class Interrupt(BaseException):
    """Stands for what a worker's timeout signal or a KeyboardInterrupt raises."""


def interrupted_under_lock(store: Any, fault: Any) -> None:
    with store.lock("ab" * 32, 5.0) as won:
        assert won
        fault()
        raise Interrupt


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=["default", "pg"])
def test_an_interrupt_is_not_replaced_by_a_failed_release_on_postgres(
    need_postgres: None, caplog: pytest.LogCaptureFixture
) -> None:
    from django.db import connections

    with thumbkit_settings(STORE="db", STORE_OPTIONS={"using": "pg"}):
        store = get_store()
        # The session dies under the lock (as one stuck in an interrupted query): the
        # release fails, and must not hide the interrupt.
        with pytest.raises(Interrupt):
            interrupted_under_lock(store, lambda: connections["pg"].connection.close())
    connections["pg"].close()
    assert "Releasing a generation lock failed after an error" in caplog.text


@pytest.mark.redis
def test_an_interrupt_is_not_replaced_by_a_failed_release_on_redis(
    need_redis: None, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    with thumbkit_settings(
        STORE="redis", STORE_OPTIONS={"url": settings.REDIS_URL, "prefix": redis_prefix}
    ):
        store = get_store()

        def lost(*args: Any, **kwargs: Any) -> Any:  # the fault: Redis gone at release
            raise redis.ConnectionError("connection lost")

        def fault() -> None:
            store._release = lost

        with pytest.raises(Interrupt):
            interrupted_under_lock(store, fault)
    assert "Releasing a generation lock failed after an error" in caplog.text


# --- templates while the storage fails or a lock is held too long ------------------------

PAGE = (
    '{% load thumbkit %}{% thumbnail src "200x150" as t %}[{{ t.url }}]'
    "{% empty %}[empty]{% endthumbnail %}"
)


@pytest.mark.django_db
@pytest.mark.parametrize("storage_backend", ["tests.test_faults.HalfWriteStorage"])
def test_a_failing_storage_renders_the_empty_branch_and_keeps_nothing(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    from django.template import Context, Template

    # The soak's finding: one cold row whose write fails took the whole page to a 500.
    assert Template(PAGE).render(Context({"src": scene.source})) == "[empty]"
    assert "Input/output error" in caplog.text
    assert files_under(scene.root) == []
    assert scene.records() == []  # not remembered either: the next render tries again
    with pytest.raises(StorageError):  # the API still says what happened
        get_thumbnail(scene.source, SPEC)


@pytest.mark.django_db(transaction=True)
def test_a_lock_held_past_lock_timeout_renders_the_empty_branch(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    from django.template import Context, Template

    from tests.stores_util import in_thread

    key = scene.key()
    held = get_store().lock(key, 30.0)
    with thumbkit_settings(
        STORAGE="thumbs", STORE="db", STORE_OPTIONS={"using": "default"}, LOCK_TIMEOUT=0.3
    ):
        assert held.__enter__()  # another worker is making it, slowly
        try:
            html = in_thread(lambda: Template(PAGE).render(Context({"src": scene.source})))
        finally:
            held.__exit__(None, None, None)
    assert html == "[empty]"
    assert "LockTimeout" in caplog.text or "Waited 0.3s" in caplog.text

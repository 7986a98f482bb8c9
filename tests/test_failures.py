"""Remembered failures: a source that failed is answered from its failure record, with no
source read and no lock, until its version changes, FAILURE_TTL passes, or it is retried.

Stores: every configuration (db on SQLite and PostgreSQL, cache on locmem and Redis, redis).
Counts: source reads (``Source.read``), engine renders, SQL queries and Redis round trips.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client, override_settings

from tests import images
from tests.api_support import storages_with
from tests.conftest import thumbkit_settings
from tests.stores_util import (
    PG_MARK,
    SlowEngine,
    close_store,
    index_read,
    need_services,
    redis_trips,
    run_threads,
    sql_trips,
    store_params,
    store_settings,
    trips_for,
)
from tests.testapp.admin import PhotoAdmin
from tests.testapp.models import OverwritePhoto, Photo, Profile
from thumbkit import get_thumbnail
from thumbkit.adapters.endpoint import signed_url
from thumbkit.exceptions import (
    GenerationError,
    LockTimeout,
    SourceError,
    SourceMissing,
    SourceTooLarge,
    SourceUnreadable,
    StorageError,
)
from thumbkit.lookup import api, batch, failures, refs
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.source import Source, coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.thumbnail import Thumbnail
from thumbkit.models import ThumbnailRecord

CORRUPT = b"\xff\xd8\xff\xe0 this is not really a JPEG"
BLOCK = Template(
    '{% load thumbkit %}{% thumbnail src "100x100" crop="center" as t %}{{ t.url }}'
    "{% empty %}EMPTY{% endthumbnail %}"
)
INLINE = Template('{% load thumbkit %}{% thumbnail src "100x100" crop="center" -- alt="x" %}')
RENDERS = 100


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every source read (all threads)."""
    seen: list[str] = []
    real = Source.read
    lock = threading.Lock()

    def counted(self: Source) -> bytes:
        with lock:
            seen.append(self.name)
        return real(self)

    monkeypatch.setattr(Source, "read", counted)
    return seen


def write(media: Path, name: str, data: bytes) -> str:
    path = media / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return name


def failure_records() -> list[Thumbnail]:
    return [r for r in get_store().iter_all() if r.spec == batch.FAILED_SPEC]


def stored_failure(name: str) -> failures.Failure | None:
    src = coerce(name)
    records = get_store().get_sources([source_key(src)]).get(source_key(src), {})
    return failures.parse(records.get(failures.failure_key(src)))


def big_jpeg(side: int) -> bytes:
    buffer = io.BytesIO()
    images.make_image((side, side)).save(buffer, "JPEG", quality=30)
    return buffer.getvalue()


# --- every store keeps the record, and lookups answer from it ---------------------------


@pytest.fixture(params=store_params())
def store_kind(request: pytest.FixtureRequest, redis_prefix: str, media: Path) -> Iterator[str]:
    need_services(request, request.param)
    with thumbkit_settings(**store_settings(request.param, redis_prefix)):
        store = get_store()
        yield request.param
    close_store(store)


def test_a_source_error_is_recorded_and_answered_from_every_store(
    store_kind: str, media: Path, reads: list[str], renders: list[int]
) -> None:
    name = write(media, f"photos/bad-{uuid.uuid4().hex[:6]}.jpg", CORRUPT)
    before = time.time()
    with pytest.raises(SourceUnreadable) as first:
        get_thumbnail(name, "100x100")
    after = time.time()
    assert reads == [name]
    assert failures.remembered(first.value) is None  # raised afresh
    failure = stored_failure(name)
    assert failure is not None
    assert (failure.error, failure.message, failure.version) == (
        "SourceUnreadable",
        str(first.value),
        "",
    )
    assert failure.specs is None  # an unreadable file fails whatever the spec
    assert before - 0.001 <= failure.at <= after + 0.001
    with trips_for(store_kind) as trips:
        for spec in ("100x100", "50x50 crop"):  # another spec: the source is no better
            with pytest.raises(SourceUnreadable) as again:
                get_thumbnail(name, spec)
            assert failures.remembered(again.value) == failure
    assert len(trips) == 2, trips.calls  # one store read each, no lock, no write
    assert reads == [name]
    assert len(renders) == 1
    assert str(first.value) in str(again.value)
    assert "remembered failure of" in str(again.value)
    assert "thumbkit_repair --retry-failed" in str(again.value)


@pytest.mark.parametrize("kind", store_params("db-sqlite", "db-pg", "redis", "cache-locmem"))
def test_a_long_message_is_cut_to_fit_the_record(
    kind: str, request: pytest.FixtureRequest, redis_prefix: str, media: Path
) -> None:
    need_services(request, kind)
    src = coerce(f"photos/{'é' * 300}.jpg")
    with thumbkit_settings(**store_settings(kind, redis_prefix)):
        try:
            failures.record(src, SourceUnreadable("ü" * 5000), [api.get_spec("10x10")])
            [found] = get_store().get_sources([source_key(src)]).values()
            record = found[failures.failure_key(src)]
            assert len(record.name) <= failures.NAME_MAX
            failure = failures.parse(record)
            assert failure is not None
            assert failure.message == "ü" * failures.MESSAGE_MAX
            assert failure.source_name == src.name
        finally:
            close_store(get_store())


# --- which errors are remembered ----------------------------------------------------------


@pytest.mark.django_db
def test_missing_and_too_large_sources_are_remembered(media: Path, reads: list[str]) -> None:
    with pytest.raises(SourceMissing):
        get_thumbnail("photos/gone.jpg", "100x100")
    big = write(media, "photos/heavy.jpg", images.jpeg((400, 300)))
    with thumbkit_settings(LIMITS={"MAX_SOURCE_BYTES": 100}):
        with pytest.raises(SourceTooLarge):
            get_thumbnail(big, "100x100")
        with pytest.raises(SourceTooLarge, match="remembered"):
            get_thumbnail(big, "100x100")
    with pytest.raises(SourceMissing, match="remembered"):
        get_thumbnail("photos/gone.jpg", "100x100")
    assert reads == ["photos/gone.jpg", big]
    assert sorted(r.source_name for r in failure_records()) == ["photos/gone.jpg", big]


@pytest.mark.django_db
def test_a_too_large_source_is_remembered_for_the_specs_that_failed(
    media: Path, reads: list[str]
) -> None:
    # Pixels are counted after JPEG draft scaling, which depends on the output asked for:
    # 2400 px decodes at 1/8 for 100 px (0.09 MP) and at 1/2 for 1000 px (1.44 MP).
    name = write(media, "photos/large.jpg", big_jpeg(2400))
    with thumbkit_settings(LIMITS={"MAX_SOURCE_PIXELS": 1_000_000}):
        with pytest.raises(SourceTooLarge):
            get_thumbnail(name, "1000x1000")
        assert get_thumbnail(name, "100x100").width == 100
        with pytest.raises(SourceTooLarge, match="remembered"):
            get_thumbnail(name, "1000x1000")
        with pytest.raises(SourceTooLarge):
            get_thumbnail(name, "900x900")
        failure = stored_failure(name)
        with pytest.raises(SourceTooLarge, match="remembered"):
            get_thumbnail(name, "900x900")
    assert reads == [name] * 3
    assert failure is not None
    assert failure.specs == (
        api.get_spec("1000x1000").canonical,
        api.get_spec("900x900").canonical,
    )


@pytest.mark.django_db
def test_storage_and_generation_errors_are_never_remembered(
    media: Path, monkeypatch: pytest.MonkeyPatch, reads: list[str]
) -> None:
    name = write(media, "photos/a.jpg", images.jpeg())
    broken = storages_with(str(media), default="tests.api_support.BrokenOpenStorage")
    with override_settings(STORAGES=broken):
        for _ in range(2):
            with pytest.raises(StorageError):
                get_thumbnail(name, "100x100")
    from thumbkit.core.engines.pillow import PillowEngine

    def fails(*args: Any) -> Any:
        raise GenerationError("the encoder gave up")

    monkeypatch.setattr(PillowEngine, "render", fails)
    for _ in range(2):
        with pytest.raises(GenerationError):
            get_thumbnail(name, "100x100")
    assert reads == [name] * 4
    assert ThumbnailRecord.objects.count() == 0


@pytest.mark.django_db
def test_unsaved_uploads_are_not_remembered(media: Path, reads: list[str]) -> None:
    # An upload's bytes are its own: another upload of the same name may be fine.
    with pytest.raises(SourceUnreadable):
        get_thumbnail(ContentFile(CORRUPT, name="photos/up.jpg"), "100x100")
    assert get_thumbnail(ContentFile(images.jpeg(), name="photos/up.jpg"), "100x100")
    assert failure_records() == []
    assert len(reads) == 2


@pytest.mark.django_db
def test_failure_ttl_zero_remembers_nothing(media: Path, reads: list[str]) -> None:
    name = write(media, "photos/bad.jpg", CORRUPT)
    with thumbkit_settings(FAILURE_TTL=0):
        for _ in range(3):
            with pytest.raises(SourceUnreadable) as info:
                get_thumbnail(name, "100x100")
            assert "remembered" not in str(info.value)
    assert reads == [name] * 3
    assert ThumbnailRecord.objects.count() == 0


# --- until when --------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_expired_failure_is_retried_and_renewed(media: Path, reads: list[str]) -> None:
    name = write(media, "photos/bad.jpg", CORRUPT)
    src = coerce(name)
    old = time.time() - 3601
    stale = failures.failure_record(
        src, failures.failure_key(src), SourceUnreadable("old"), None, now=old
    )
    get_store().set_many([stale])
    with pytest.raises(SourceUnreadable) as info:
        get_thumbnail(name, "100x100")
    assert "remembered" not in str(info.value)
    assert reads == [name]
    failure = stored_failure(name)
    assert failure is not None
    assert failure.at > old + 3000
    assert failure.message != "old"
    longer = thumbkit_settings(FAILURE_TTL=7200)  # a longer TTL: the new one is live
    with longer, pytest.raises(SourceUnreadable, match="remembered"):
        get_thumbnail(name, "100x100")
    assert reads == [name]


@pytest.mark.django_db
def test_a_new_version_or_other_limits_retry_at_once(media: Path, reads: list[str]) -> None:
    name = write(media, "photos/later.jpg", CORRUPT)
    with pytest.raises(SourceUnreadable):
        get_thumbnail(name, "100x100")
    write(media, name, images.jpeg((300, 200)))  # fixed in place: still remembered
    with pytest.raises(SourceUnreadable, match="remembered"):
        get_thumbnail(name, "100x100")
    with thumbkit_settings(LIMITS={"MAX_SOURCE_PIXELS": 10**7}):  # other limits: retried
        assert get_thumbnail(name, "100x100").width == 100
    assert len(reads) == 2
    write(media, name, CORRUPT)
    api.delete(name, delete_file=False)  # what a re-save does: a new version
    assert failure_records() == []
    with pytest.raises(SourceUnreadable):
        get_thumbnail(name, "100x100")
    write(media, name, images.jpeg((300, 200)))
    version = batch.version_record(coerce(name), "v-next")
    get_store().set_many([version])  # a new version, the failure record left in place
    assert failure_records() != []
    assert get_thumbnail(name, "100x100").width == 100
    assert len(reads) == 4


@pytest.mark.django_db
def test_a_new_upload_under_the_same_name_is_tried(
    media: Path, reads: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        photo = OverwritePhoto.objects.create(image=ContentFile(CORRUPT, name="same.jpg"))
    name = photo.image.name
    assert reads == [name]  # the upload tried its declared thumbnails once, and failed
    fresh = OverwritePhoto.objects.get(pk=photo.pk)
    with pytest.raises(SourceUnreadable, match="remembered"):
        get_thumbnail(fresh.image, "small")
    with django_capture_on_commit_callbacks(execute=True):
        fresh.image.save("same.jpg", ContentFile(images.jpeg((300, 200))))
    assert fresh.image.name == name
    assert failure_records() == []
    again = OverwritePhoto.objects.get(pk=photo.pk)
    assert get_thumbnail(again.image, "small").width == 100
    assert reads == [name, name]


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["forget", "delete"])
def test_forget_and_delete_remove_the_failure_record(
    how: str, media: Path, reads: list[str]
) -> None:
    name = write(media, "photos/bad.jpg", CORRUPT)
    with pytest.raises(SourceUnreadable):
        get_thumbnail(name, "100x100")
    assert len(failure_records()) == 1
    if how == "forget":
        assert api.forget(name) == [failures.failure_key(coerce(name))]
        assert default_storage.exists(name)
    else:
        api.delete(name)
        assert not default_storage.exists(name)
    assert ThumbnailRecord.objects.count() == 0


@pytest.mark.django_db
def test_thumbkit_delete_keeps_a_failure_record(media: Path) -> None:
    from thumbkit.adapters import bulk

    name = write(media, "photos/bad.jpg", CORRUPT)
    with pytest.raises(SourceUnreadable):
        get_thumbnail(name, "100x100")
    removal = bulk.remove([coerce(name)], None)
    assert removal.removed == []
    assert removal.failed == []
    assert len(failure_records()) == 1


# --- the budget ----------------------------------------------------------------------------


def _render_all(src: Any) -> None:
    assert BLOCK.render(Context({"src": src})) == "EMPTY"
    assert INLINE.render(Context({"src": src})) == ""
    with pytest.raises(SourceUnreadable, match="remembered"):
        get_thumbnail(src, "100x100", crop="center")


def _budget(
    media: Path,
    reads: list[str],
    renders: list[int],
    count: Callable[[], Any],
    check: Callable[[Any], None],
) -> None:
    photo = Photo.objects.create(image=write(media, "photos/corrupt.jpg", CORRUPT))
    with pytest.raises(SourceUnreadable):
        get_thumbnail(photo.image, "100x100", crop="center")
    assert (len(reads), len(renders)) == (1, 1)
    for _ in range(RENDERS):
        fresh = Photo.objects.get(pk=photo.pk)  # a new instance: nothing memoised
        with count() as trips:
            _render_all(fresh.image)
        check(trips)
    assert (len(reads), len(renders)) == (1, 1)  # 0 source reads in 100 renders


def _one_store_read(trips: Any) -> None:
    [sql] = [calls[0] for calls in trips.calls]
    assert '"thumbkit_thumbnailrecord"' in sql
    assert '"source_key" IN' in sql or '"source_key" = ANY' in sql
    assert "lock" not in sql.lower()


@pytest.mark.django_db
def test_a_failed_source_costs_one_query_and_no_lock_per_render_sqlite(
    media: Path, reads: list[str], renders: list[int]
) -> None:
    _budget(media, reads, renders, lambda: sql_trips("default"), _one_store_read)


@PG_MARK
@pytest.mark.postgres
def test_a_failed_source_costs_one_query_and_no_lock_per_render_postgres(
    need_postgres: None, media: Path, reads: list[str], renders: list[int]
) -> None:
    with thumbkit_settings(**store_settings("db-pg", "")), sql_trips("default") as other:
        _budget(media, reads, renders, lambda: sql_trips("pg"), _one_store_read)
    assert all("advisory" not in calls[0] for calls in other.calls)


@pytest.mark.django_db
@pytest.mark.redis
def test_a_failed_source_costs_one_round_trip_and_no_lock_per_render_redis(
    need_redis: None, media: Path, reads: list[str], renders: list[int], redis_prefix: str
) -> None:
    def one_read(trips: Any) -> None:
        assert trips.calls == [index_read(1)]

    with thumbkit_settings(**store_settings("redis", redis_prefix)):
        get_store().get_many(["warm-up"])  # connect outside the count
        try:
            _budget(media, reads, renders, redis_trips, one_read)
        finally:
            close_store(get_store())


PAGE = Template(
    "{% load thumbkit %}{% for p in profiles %}"
    '{% thumbnail p.photo "60x60" crop="center" as t %}<img src="{{ t.url }}">'
    "{% empty %}<b>{{ p.name }}</b>{% endthumbnail %}{% endfor %}"
)


@pytest.mark.django_db
def test_a_page_with_one_bad_row_costs_one_store_round_trip(
    media: Path, reads: list[str], renders: list[int]
) -> None:
    good = images.jpeg((120, 90))
    for i in range(10):
        data = CORRUPT if i == 4 else good
        Profile.objects.create(name=f"p{i}", photo=write(media, f"profiles/p{i}.jpg", data))
    PAGE.render(Context({"profiles": list(Profile.objects.all())}))  # makes and fails
    assert len(reads) == 10
    profiles = list(Profile.objects.all())
    with sql_trips("default") as trips:
        html = PAGE.render(Context({"profiles": profiles}))
    assert len(trips) == 1, trips.calls
    _one_store_read(trips)
    assert html.count("<img ") == 9
    assert "<b>p4</b>" in html
    assert len(reads) == 10
    assert len(renders) == 10


# --- concurrent views of one bad upload ---------------------------------------------------


@pytest.mark.parametrize("kind", store_params("db-pg", "redis"))
def test_concurrent_views_of_a_bad_upload_read_it_once_and_never_time_out(
    kind: str,
    request: pytest.FixtureRequest,
    redis_prefix: str,
    media: Path,
    reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_services(request, kind)
    name = write(media, "photos/upload.jpg", CORRUPT)
    # Each failure takes 1 s: re-reading it in turn, 8 views would need 8 s, past the lock
    # timeout (LockTimeout, a 500); the holder's failure record answers them all at once.
    config = {**store_settings(kind, redis_prefix), "ENGINE": "tests.stores_util.SlowEngine"}
    SlowEngine.calls = 0
    with thumbkit_settings(**config, LOCK_TIMEOUT=5.0), override_settings():
        SlowEngine.delay = 1.0
        try:
            outcomes = run_threads(8, lambda i: _outcome(name))
            assert outcomes == ["SourceUnreadable"] * 8
            assert (len(reads), SlowEngine.calls) == (1, 1)
            store = get_store()
            locks = count_locks(monkeypatch, store)
            with redis_trips() as trips:
                assert run_threads(8, lambda i: _outcome(name)) == ["SourceUnreadable"] * 8
            assert locks == []  # no lock taken, none waited for
            assert (len(reads), SlowEngine.calls) == (1, 1)
            if kind == "redis":
                # One store read each; a thread may also open a pooled connection (HELLO,
                # CLIENT SETINFO), which is a handshake, not a store call.
                handshakes = {"HELLO", "CLIENT", "AUTH", "SELECT"}
                reads_sent = [c for c in trips.calls if c[0] not in handshakes]
                assert reads_sent == [index_read(1)] * 8
        finally:
            SlowEngine.delay = 0.3
            close_store(get_store())


def count_locks(monkeypatch: pytest.MonkeyPatch, store: Any) -> list[str]:
    """Every lock() call on the store's class (any thread)."""
    taken: list[str] = []
    real = type(store).lock

    def lock(self: Any, key: str, timeout: float) -> Any:
        taken.append(key)
        return real(self, key, timeout)

    monkeypatch.setattr(type(store), "lock", lock)
    return taken


def _outcome(name: str) -> str:
    try:
        get_thumbnail(name, "100x100")
    except (SourceError, LockTimeout) as exc:
        return type(exc).__name__
    return "made"


# --- the endpoint, repair and the admin ----------------------------------------------------


@pytest.mark.django_db
def test_the_endpoint_answers_404_from_the_record(media: Path, reads: list[str]) -> None:
    name = write(media, "photos/bad.jpg", CORRUPT)
    ref = refs.ref_of(api.get_spec("100x100"))
    assert ref is not None
    url = signed_url("default", name, "", ref)
    client = Client()
    assert client.get(url).status_code == 404
    with sql_trips("default") as trips:
        assert client.get(url).status_code == 404
    assert len(trips) == 1
    _one_store_read(trips)
    assert reads == [name]
    with thumbkit_settings(STRATEGY="on_demand"):  # no signed URL that would fail again
        assert BLOCK.render(Context({"src": name})) == "EMPTY"


def repair(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("thumbkit_repair", *args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.mark.django_db
def test_repair_lists_failures_and_retry_failed_forgets_them(media: Path, reads: list[str]) -> None:
    names = [write(media, f"photos/{stem}.jpg", CORRUPT) for stem in ("a", "b")]
    for name in names:
        with pytest.raises(SourceUnreadable):
            get_thumbnail(name, "100x100")
    gone = coerce("photos/old.jpg")
    stale = failures.failure_record(
        gone, failures.failure_key(gone), SourceMissing("gone"), None, now=time.time() - 7200
    )
    get_store().set_many([stale])
    out = repair("--dry-run")
    assert "Remembered source failures: 2 in use, 1 no longer used." in out
    for name in names:
        assert f"failed source: {name}: SourceUnreadable: The" in out
    assert "failed source: photos/old.jpg: SourceMissing: gone (2 h ago, no longer used)" in out
    assert "Would forget 1 failure record(s) (--retry-failed retries them)." in out
    assert len(failure_records()) == 3
    out = repair("--retry-failed", "photos/b*")
    assert "Forgot 2 failure record(s)." in out  # the stale one and photos/b.jpg
    assert [r.source_name for r in failure_records()] == ["photos/a.jpg"]
    with pytest.raises(SourceUnreadable, match="remembered"):
        get_thumbnail("photos/a.jpg", "100x100")
    with pytest.raises(SourceUnreadable) as info:
        get_thumbnail("photos/b.jpg", "100x100")  # tried again
    assert "remembered" not in str(info.value)
    assert reads == [*names, "photos/b.jpg"]
    repair("--retry-failed")
    assert failure_records() == []


@pytest.mark.django_db
def test_the_admin_shows_a_remembered_failure_as_text(media: Path) -> None:
    photo = Photo.objects.create(image=write(media, "photos/bad.jpg", CORRUPT))
    column = PhotoAdmin.admin_thumbnail
    assert column(photo) == ""  # the first failure: an empty cell, logged
    fresh = Photo.objects.get(pk=photo.pk)
    html = column(fresh)
    assert html.startswith('<span class="thumbkit-admin-failure" title="The ')
    assert ">SourceUnreadable: The " in html
    assert "<img" not in html


@pytest.mark.django_db
def test_the_admin_escapes_the_message(media: Path) -> None:
    photo = Photo.objects.create(image="photos/<b>x</b>.jpg")
    column = PhotoAdmin.admin_thumbnail
    assert column(photo) == ""
    html = column(Photo.objects.get(pk=photo.pk))
    assert "<b>" not in html
    assert "&lt;b&gt;" in html
    record = failure_records()[0]
    assert json.loads(record.name)["e"] == "SourceMissing"


@pytest.mark.django_db
def test_a_remembered_failure_is_logged_once_as_a_warning(
    media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = write(media, "photos/bad.jpg", CORRUPT)
    with caplog.at_level(logging.DEBUG, logger="thumbkit"):
        for _ in range(3):
            assert BLOCK.render(Context({"src": name})) == "EMPTY"
    levels = [r.levelno for r in caplog.records if r.name == "thumbkit"]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]


@pytest.mark.django_db
@pytest.mark.parametrize("strategy", ["optimistic", "deferred", "on_demand"])
def test_stand_in_strategies_render_empty_for_a_remembered_failure(
    strategy: str, media: Path, reads: list[str]
) -> None:
    name = write(media, "photos/bad.jpg", CORRUPT)
    with thumbkit_settings(STRATEGY=strategy):
        # Before the failure is known, the strategy renders its stand-in (a predicted or
        # signed URL, or its fallback)...
        before = BLOCK.render(Context({"src": name}))
        with pytest.raises(SourceUnreadable):
            api.ensure(name, [api.get_spec("100x100", crop="center")])  # an upload's attempt
        # ... afterwards no URL that cannot work.
        assert BLOCK.render(Context({"src": name})) == "EMPTY"
    assert before != "EMPTY" or strategy == "deferred"
    assert reads == [name]

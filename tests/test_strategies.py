"""Strategies: what a lookup returns for a thumbnail the store does not have yet.

lazy makes it now; optimistic predicts its record and never generates during a render;
deferred enqueues a Django task (once per key and process) and renders a fallback;
on_demand renders a signed endpoint URL (tests/test_endpoint.py). Chosen per spec and
globally; a class's dotted path works too.
"""

from __future__ import annotations

import importlib.util
import json
import signal
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from tests import images
from tests.conftest import thumbkit_settings
from tests.fields_util import decoded, media, records, thumb_files, upload
from tests.s3 import Media
from tests.testapp.models import Profile
from thumbkit.exceptions import ConfigurationError
from thumbkit.lookup import api, refs, strategies
from thumbkit.lookup.fallback import predicted
from thumbkit.lookup.keys import thumbnail_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.thumbnail import Placeholder, Thumbnail

__all__ = ["media"]  # a fixture

pytestmark = pytest.mark.django_db(transaction=True)

HAS_DB_TASKS = "django_tasks_db" in settings.INSTALLED_APPS
TASKS_MODULE = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
needs_db_tasks = pytest.mark.skipif(not HAS_DB_TASKS, reason="django-tasks-db is needed")


@pytest.fixture(autouse=True)
def _no_pending() -> Iterator[None]:
    strategies._pending.clear()
    yield
    strategies._pending.clear()


@pytest.fixture
def source(media: Media) -> str:
    return default_storage.save("photos/p.jpg", ContentFile(images.jpeg((400, 300))))


# --- optimistic ----------------------------------------------------------------------------


def test_optimistic_predicts_the_record_and_generates_nothing(source: str, media: Media) -> None:
    thumb = api.get_thumbnail(source, "100x100 crop", strategy="optimistic")
    assert isinstance(thumb, Thumbnail)
    assert thumb
    assert (thumb.width, thumb.height) == (0, 0)  # unknown until made
    assert thumb_files(media) == []
    assert records() == []

    spec = api.get_spec("100x100 crop")
    assert api.ensure(source, [spec]) == 1
    made = api.get_thumbnail(source, "100x100 crop", strategy="optimistic")
    # The prediction named the file that generation made.
    assert (made.name, made.url) == (thumb.name, thumb.url)
    assert (made.width, made.height) == (100, 100)
    assert decoded(media, made.name) == ((100, 100), "JPEG")


def test_the_global_setting_applies_and_a_spec_overrides_it(source: str, media: Media) -> None:
    with thumbkit_settings(STRATEGY="optimistic"):
        predicted_thumb, made = api.resolve(
            [
                (coerce(source), api.get_spec("100x100")),
                (coerce(source), api.get_spec("50x50", strategy="lazy")),
            ]
        )
    assert predicted_thumb.width == 0
    assert (made.width, made.height) == (50, 38)
    assert thumb_files(media) == [made.name]


def test_optimistic_on_a_declared_field_shows_what_the_save_made(media: Media) -> None:
    with thumbkit_settings(STRATEGY="optimistic"):
        profile = Profile.objects.create(photo=upload("me.jpg"))  # UPLOAD "sync": made now
        small = Profile.objects.get(pk=profile.pk).photo.thumbnails.small
    assert (small.width, small.height) == (100, 100)
    assert decoded(media, small.name) == ((100, 100), "JPEG")


def test_stand_ins_are_not_remembered_as_made(media: Media) -> None:
    with thumbkit_settings(UPLOAD="off"):
        file = Profile.objects.create(photo=upload("me.jpg")).photo
    first = api.get_thumbnail(file, "100x100", strategy="optimistic")
    assert first.width == 0
    api.ensure(file, [api.get_spec("100x100")])
    again = api.get_thumbnail(file, "100x100", strategy="optimistic")
    assert (again.width, again.height) == (100, 75)
    assert again.name == first.name


# --- choosing a strategy -------------------------------------------------------------------


class ShowSource:
    def on_missing(self, source: Any, items: Any) -> dict[str, Placeholder]:
        return {key: Placeholder(source.storage.url(source.name), key=key) for _s, key in items}


def test_a_dotted_path_names_a_strategy_class(source: str, media: Media) -> None:
    with thumbkit_settings(STRATEGY="tests.test_strategies.ShowSource"):
        thumb = api.get_thumbnail(source, "100x100")
        assert run_checks(tags=["thumbkit"]) == []
    assert isinstance(thumb, Placeholder)
    assert not thumb
    assert thumb.url == media.url("photos/p.jpg")
    assert thumb_files(media) == []


def test_an_unknown_strategy_is_a_configuration_error(source: str) -> None:
    with pytest.raises(ConfigurationError, match="Unknown strategy 'eventually'"):
        api.get_thumbnail(source, "100x100", strategy="eventually")
    with thumbkit_settings(STRATEGY="tests.test_strategies.Nothing"):
        errors = run_checks(tags=["thumbkit"])
    assert [e.id for e in errors] == ["thumbkit.E008"]
    assert "has no 'Nothing'" in errors[0].msg


def test_the_deferred_fallback_setting_is_checked() -> None:
    for value in ("none", "source", "predict", "/static/wait.svg", "https://cdn/x.png"):
        with thumbkit_settings(DEFERRED_FALLBACK=value):
            assert run_checks(tags=["thumbkit"]) == []
    with thumbkit_settings(DEFERRED_FALLBACK="sometimes"):
        (error,) = run_checks(tags=["thumbkit"])
    assert error.id == "thumbkit.E008"
    assert "'sometimes' is neither a mode nor a URL" in error.msg


# --- spec references -----------------------------------------------------------------------


PROCESSED = {
    "size": "original",
    "processors": [{"PATH": "thumbkit.processors.ResizeToFill", "width": 60, "height": 40}],
}


def test_references_rebuild_the_same_spec(source: str) -> None:
    with thumbkit_settings(SPECS={**settings.THUMBKIT["SPECS"], "processed": PROCESSED}):
        for spec in (
            api.get_spec("100x100 crop=top quality=70 format=webp"),
            api.get_spec("x80", upscale=True, namer="hash", strategy="deferred"),
            api.get_spec("processed"),
            api.get_spec("processed", strategy="deferred"),
            Profile._meta.get_field("photo").declared_spec("card"),
        ):
            ref = refs.ref_of(spec)
            assert ref is not None
            rebuilt = refs.spec_from_ref(ref)
            assert rebuilt.canonical == spec.canonical
            assert (rebuilt.namer, rebuilt.ref) == (spec.namer, ref)


def test_a_spec_with_processor_objects_cannot_be_deferred(source: str) -> None:
    from thumbkit.processors import ResizeToFill

    spec = api.get_spec("original", processors=[ResizeToFill(60, 40)], strategy="deferred")
    assert refs.ref_of(spec) is None
    with pytest.raises(ConfigurationError, match="cannot be referenced there"):
        api.get_thumbnail(source, spec)
    assert records() == []


def test_a_declared_field_spec_with_objects_is_referenced_by_the_field() -> None:
    field = Profile._meta.get_field("photo")
    ref = refs.field_ref("testapp.Profile", "photo", "small")
    assert json.loads(ref) == {"field": "testapp.Profile.photo", "name": "small"}
    assert refs.spec_from_ref(ref).canonical == field.declared_spec("small").canonical


# --- deferred ------------------------------------------------------------------------------


def jobs() -> list[Any]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.order_by("enqueued_at", "id"))


def run_worker() -> None:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.fixture
def db_tasks() -> Iterator[None]:
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        yield


COUNTING = {
    **settings.STORAGES,
    "default": {"BACKEND": "tests.api_support.CountingStorage"},
}


@needs_db_tasks
def test_deferred_renders_now_and_the_task_makes_the_thumbnail(
    db_tasks: None, media: Media
) -> None:
    from tests.api_support import CALLS

    counting = override_settings(STORAGES=COUNTING) if media.kind == "fs" else nullcontext()
    with counting, thumbkit_settings(STRATEGY="deferred"):
        source = default_storage.save("photos/p.jpg", ContentFile(images.jpeg((400, 300))))
        CALLS.clear()
        requests = media.endpoint.proxy.count() if media.endpoint else 0
        thumb = api.get_thumbnail(source, "100x100 crop")
        # The render made nothing and touched no file: a falsy placeholder, one job.
        assert CALLS == []
        assert (media.endpoint.proxy.count() if media.endpoint else 0) == requests
        assert isinstance(thumb, Placeholder)
        assert not thumb
        assert thumb.url == ""
        assert thumb_files(media) == []
        assert records() == []
        (job,) = jobs()
        spec = api.get_spec("100x100 crop")
        assert job.args_kwargs == {
            "args": ["default", "photos/p.jpg", refs.ref_of(spec)],
            "kwargs": {},
        }
        assert job.task_path == "thumbkit.tasks.generate_thumbnail"

        # Rendering again while the job waits enqueues nothing more.
        for _ in range(5):
            assert not api.get_thumbnail(source, "100x100 crop")
        assert len(jobs()) == 1

        run_worker()

        if media.kind == "fs":
            assert ("open", "photos/p.jpg") in CALLS  # the worker read the source
        (job,) = jobs()
        assert (job.status, job.return_value) == ("SUCCESSFUL", 1)
        (record,) = records()
        assert decoded(media, record.name) == ((100, 100), "JPEG")
        shown = api.get_thumbnail(source, "100x100 crop")
        assert shown == record
        assert shown.url == media.url(record.name)
        assert len(jobs()) == 1


@needs_db_tasks
def test_deferred_enqueues_only_when_the_transaction_commits(db_tasks: None, source: str) -> None:
    with thumbkit_settings(STRATEGY="deferred"), transaction.atomic():
        assert not api.get_thumbnail(source, "100x100")
        assert jobs() == []
    assert len(jobs()) == 1


@needs_db_tasks
def test_a_deferred_named_spec_with_processors_is_made_by_the_worker(
    db_tasks: None, source: str, media: Media
) -> None:
    specs = {**settings.THUMBKIT["SPECS"], "processed": PROCESSED}
    with thumbkit_settings(SPECS=specs, STRATEGY="deferred"):
        assert not api.get_thumbnail(source, "processed")
        assert json.loads(jobs()[0].args_kwargs["args"][2]) == {"spec": "processed", "options": {}}
        run_worker()
        thumb = api.get_thumbnail(source, "processed")
    assert decoded(media, thumb.name) == ((60, 40), "JPEG")


@pytest.mark.parametrize(
    ("mode", "truthy", "url"),
    [
        ("none", False, ""),
        ("source", False, "photos/p.jpg"),
        ("/static/wait.svg", False, "/static/wait.svg"),
        ("predict", True, None),
    ],
)
def test_the_deferred_fallback(
    source: str, media: Media, mode: str, truthy: bool, url: str | None
) -> None:
    if url == "photos/p.jpg":
        url = media.url(url)
    dummy = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}
    with override_settings(TASKS=dummy), thumbkit_settings(DEFERRED_FALLBACK=mode):
        thumb = api.get_thumbnail(source, "100x100", strategy="deferred")
        spec = api.get_spec("100x100")
        expected = (
            url
            if url is not None
            else predicted(coerce(source), spec, thumbnail_key(coerce(source), spec)).url
        )
    assert bool(thumb) is truthy
    assert thumb.url == expected
    assert records() == []


def test_deferred_with_the_immediate_backend_shows_the_thumbnail_on_the_next_render(
    source: str, media: Media
) -> None:
    immediate = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"}}
    with override_settings(TASKS=immediate), thumbkit_settings(STRATEGY="deferred"):
        first = api.get_thumbnail(source, "100x100")
        second = api.get_thumbnail(source, "100x100")
    assert not first  # what this render had: the task ran after it looked
    assert (second.width, second.height) == (100, 75)
    assert thumb_files(media) == [second.name]
    assert strategies._pending == {}  # the task forgot its job


def test_a_failing_queue_leaves_the_page_alone(
    source: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = {"default": {"BACKEND": "tests.test_strategies.NoBackend"}}
    with (
        override_settings(TASKS=broken),
        thumbkit_settings(STRATEGY="deferred"),
        caplog.at_level("WARNING", "thumbkit"),
    ):
        assert not api.get_thumbnail(source, "100x100")
    assert "Could not enqueue the thumbnail job" in caplog.text
    assert strategies._pending == {}  # released: the next render tries again
    assert records() == []


def test_a_registered_generator_is_rebuilt_by_id_in_the_task(source: str, media: Media) -> None:
    from thumbkit import register

    immediate = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"}}
    with override_settings(TASKS=immediate):
        make = {"source": source, "width": 80, "height": 60, "strategy": "deferred"}
        generator = register.make("thumbkit:thumbnail", **make)
        assert json.loads(refs.ref_of(generator.spec) or "") == {
            "generator": "thumbkit:thumbnail",
            "kwargs": {"height": 60, "strategy": "deferred", "width": 80},
        }
        assert not generator.thumbnail()  # this render: the fallback
        made = register.make("thumbkit:thumbnail", **make).thumbnail()
    assert decoded(media, made.name) == ((80, 60), "JPEG")

"""Declared thumbnails made by Django's Tasks framework (``THUMBKIT["UPLOAD"] = "task"``).

The request enqueues a task on commit and makes nothing; a real worker (django-tasks-db's
``db_worker`` on the database backend) makes the thumbnails. The task's arguments are JSON
and running it again, late or for a file the row no longer has, does no harm.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import override_settings

from tests.conftest import thumbkit_settings
from tests.fields_util import all_records, decoded, media, records, thumb_files, upload
from tests.s3 import Media
from tests.testapp.models import ManifestProfile, Profile
from thumbkit.lookup.batch import FAILED_SPEC

__all__ = ["media"]  # a fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "django_tasks_db" not in settings.INSTALLED_APPS,
        reason="django-tasks-db (and django.tasks or the django_tasks backport) is needed",
    ),
]

DB_BACKEND = "django_tasks_db.DatabaseBackend"
# Django 6 has the framework built in; Django 5.2 runs on the django_tasks backport.
TASKS_MODULE = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
TASK_PATH = "thumbkit.tasks.generate_field_thumbnails"


@pytest.fixture
def db_tasks(media: Media) -> Iterator[None]:
    """The database task backend, and uploads handed to it."""
    with (
        override_settings(TASKS={"default": {"BACKEND": DB_BACKEND}}),
        thumbkit_settings(UPLOAD="task"),
    ):
        yield


def jobs() -> list[Any]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.order_by("enqueued_at", "id"))


def run_worker(*args: str) -> None:
    """Run ``db_worker`` until the queue is empty; it installs signal handlers: restore them."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        # Options go as arguments: the command checks its --backend default while parsing.
        call_command(
            "db_worker", "--batch", "--no-startup-delay", "--no-reload", *args, verbosity=0
        )
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_an_upload_enqueues_a_task_and_the_worker_makes_the_thumbnails(
    db_tasks: None, media: Media
) -> None:
    profile = Profile.objects.create(name="me", photo=upload("me.jpg"))
    # The request made nothing: one job waits.
    assert thumb_files(media) == []
    assert all_records() == []
    (job,) = jobs()
    assert job.status == "READY"
    assert job.task_path == TASK_PATH
    assert job.args_kwargs == {
        "args": ["testapp.Profile", profile.pk, "photo", "profiles/me.jpg"],
        "kwargs": {},
    }
    assert json.loads(json.dumps(job.args_kwargs)) == job.args_kwargs

    run_worker()

    (job,) = jobs()
    assert job.status == "SUCCESSFUL"
    assert job.return_value == 2
    made = {r.spec: r for r in records()}
    assert thumb_files(media) == sorted(r.name for r in made.values())
    assert decoded(media, made["100x100 crop=50%,50%"].name) == ((100, 100), "JPEG")
    assert decoded(media, made["320x240 crop=50%,50% format=webp quality=80"].name) == (
        (320, 240),
        "WEBP",
    )
    fresh = Profile.objects.get(pk=profile.pk)
    assert [t.name for t in fresh.photo.thumbnails.all()] == [
        made["100x100 crop=50%,50%"].name,
        made["320x240 crop=50%,50% format=webp quality=80"].name,
    ]
    assert len(thumb_files(media)) == 2


def test_the_job_is_enqueued_only_when_the_transaction_commits(
    db_tasks: None, media: Media
) -> None:
    from django.db import transaction

    with transaction.atomic():
        Profile.objects.create(photo=upload("me.jpg"))
        assert jobs() == []
    assert len(jobs()) == 1


def test_the_task_is_idempotent(db_tasks: None, media: Media) -> None:
    from thumbkit.tasks import generate_field_thumbnails

    profile = Profile.objects.create(photo=upload("me.jpg"))
    args = jobs()[0].args_kwargs["args"]
    assert generate_field_thumbnails.call(*args) == 2
    made, made_records = thumb_files(media), all_records()
    assert generate_field_thumbnails.call(*args) == 0
    run_worker()  # the queued job, late: finds everything made
    assert [(j.status, j.return_value) for j in jobs()] == [("SUCCESSFUL", 0)]
    assert thumb_files(media) == made
    assert all_records() == made_records
    assert Profile.objects.get(pk=profile.pk).photo.thumbnails.small.size == (100, 100)


def test_a_stale_job_does_nothing(db_tasks: None, media: Media) -> None:
    profile = Profile.objects.create(photo=upload("first.jpg"))
    profile.photo = upload("second.jpg")
    profile.save()
    first, second = jobs()
    assert first.args_kwargs["args"][3] == "profiles/first.jpg"
    assert second.args_kwargs["args"][3] == "profiles/second.jpg"

    run_worker()

    assert [j.return_value for j in jobs()] == [0, 2]
    assert {r.source_name for r in all_records()} == {"profiles/second.jpg"}
    assert len(thumb_files(media)) == 2


def test_a_job_for_a_deleted_row_does_nothing(db_tasks: None, media: Media) -> None:
    Profile.objects.create(photo=upload("me.jpg")).delete()
    run_worker()
    assert [(j.status, j.return_value) for j in jobs()] == [("SUCCESSFUL", 0)]
    assert thumb_files(media) == []
    assert all_records() == []


def test_a_job_for_an_unreadable_file_ends_without_retrying(
    db_tasks: None, media: Media, caplog: pytest.LogCaptureFixture
) -> None:
    Profile.objects.create(photo=ContentFile(b"not an image", name="bad.jpg"))
    with caplog.at_level(logging.WARNING, logger="thumbkit"):
        run_worker()
    assert [(j.status, j.return_value) for j in jobs()] == [("SUCCESSFUL", 0)]
    assert "Cannot make the thumbnails of testapp.Profile" in caplog.text
    assert thumb_files(media) == []
    assert [r.spec for r in all_records()] == [FAILED_SPEC]  # the failure, remembered


def test_a_thumbnail_asked_for_before_the_worker_runs_is_made_lazily(
    db_tasks: None, media: Media
) -> None:
    profile = Profile.objects.create(photo=upload("me.jpg"))
    small = Profile.objects.get(pk=profile.pk).photo.thumbnails.small
    assert thumb_files(media) == [small.name]
    run_worker()
    assert [j.return_value for j in jobs()] == [1]  # only the card was left to make
    assert len(thumb_files(media)) == 2


def test_the_worker_fills_the_manifest_column(db_tasks: None, media: Media) -> None:
    profile = ManifestProfile.objects.create(photo=upload("me.jpg"))
    before = ManifestProfile.objects.get(pk=profile.pk).photo_thumbs
    assert "records" not in before  # only the upload's size: no records until the worker ran
    assert before["size"] == [400, 300]
    run_worker()
    manifest = ManifestProfile.objects.get(pk=profile.pk).photo_thumbs
    assert sorted(r["name"] for r in manifest["records"]) == thumb_files(media)
    assert len(manifest["records"]) == 2
    assert manifest["size"] == [400, 300]  # kept when the worker wrote the records


@pytest.fixture
def redeclared() -> Iterator[Any]:
    """``thumbkit.tasks`` to re-import under a test's settings; declared afresh afterwards."""
    import thumbkit.tasks

    yield thumbkit.tasks
    importlib.reload(thumbkit.tasks)


def test_the_configured_backend_and_queue_are_used(media: Media, redeclared: Any) -> None:
    tasks = {"thumbs": {"BACKEND": DB_BACKEND, "QUEUES": ["images"]}}
    with (
        override_settings(TASKS=tasks),
        thumbkit_settings(UPLOAD="task", TASK_BACKEND="thumbs", TASK_QUEUE="images"),
    ):
        # Declaring the task validates it against its backend: with no "default" backend
        # and a backend that lists its queues, the module must still import.
        importlib.reload(redeclared)
        Profile.objects.create(photo=upload("me.jpg"))
        (job,) = jobs()
        assert (job.backend_name, job.queue_name) == ("thumbs", "images")
        run_worker("--backend", "thumbs", "--queue-name", "images")
        assert [j.return_value for j in jobs()] == [2]
    assert len(thumb_files(media)) == 2


def test_the_dummy_backend_enqueues_and_never_runs(media: Media) -> None:
    default_task_backend = importlib.import_module(TASKS_MODULE).default_task_backend
    dummy = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}
    with override_settings(TASKS=dummy), thumbkit_settings(UPLOAD="task"):
        profile = Profile.objects.create(photo=upload("me.jpg"))
        (result,) = default_task_backend.results
        assert result.status == "READY"
        assert result.task.module_path == TASK_PATH
        assert list(result.args) == ["testapp.Profile", profile.pk, "photo", "profiles/me.jpg"]
    assert thumb_files(media) == []
    assert all_records() == []

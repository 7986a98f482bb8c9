"""Maintenance commands: thumbkit_delete, thumbkit_regenerate; fetch_thumbnails; bulk machinery.

The regenerate command is run in this process (``--workers 1``, on the SQLite test database)
and on a pool of real spawned processes (``--workers 2``, on PostgreSQL, which the children
can reach). Assertions are on the files under MEDIA_ROOT and on the records in the store.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from tests import images
from tests.conftest import thumbkit_settings
from tests.s3 import Media
from tests.testapp.models import ManifestProfile, Photo, Profile
from thumbkit import get_thumbnail
from thumbkit.adapters import bulk
from thumbkit.lookup import batch
from thumbkit.lookup.api import fetch_thumbnails
from thumbkit.lookup.batch import FAILED_SPEC
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.thumbnail import Thumbnail
from thumbkit.signals import thumbnails_generated

SMALL = Profile._meta.get_field("photo").declared_spec("small").canonical  # type: ignore[attr-defined]
CARD = Profile._meta.get_field("photo").declared_spec("card").canonical  # type: ignore[attr-defined]
SIZES = {"small": (100, 100), "card": (320, 240)}


@pytest.fixture
def media(media_storage: Media) -> Iterator[Media]:
    """The local disk and the S3 endpoint (children of --workers 2 reach it too)."""
    # UPLOAD off: rows start without thumbnails, so the commands' own work is what we see.
    with thumbkit_settings(UPLOAD="off"):
        yield media_storage


def add_rows(model: Any = Profile, count: int = 3, using: str = "default") -> list[Any]:
    """``count`` rows with a JPEG each, then one row without a file."""
    rows = []
    for index in range(count):
        name = default_storage.save(f"profiles/p{index}.jpg", ContentFile(images.jpeg()))
        rows.append(model.objects.using(using).create(name=f"p{index}", photo=name))
    model.objects.using(using).create(name="empty")
    return rows


def add_corrupt(using: str = "default") -> Any:
    name = default_storage.save("profiles/broken.jpg", ContentFile(b"not an image at all"))
    return Profile.objects.using(using).create(name="broken", photo=name)


def recorded(name: str) -> dict[str, Thumbnail]:
    """The store's records of a source, by spec (version records left out)."""
    key = source_key(coerce(name))
    records = get_store().get_sources([key]).get(key, {})
    return {r.spec: r for r in records.values() if r.spec != batch.VERSION_SPEC}


def thumb_files(media: Media) -> list[str]:
    return media.files("thumbs")


def image_size(media: Media, name: str) -> tuple[int, int]:
    return media.decoded(name)[0]


def run(*args: str, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def regenerate(*args: str, **options: Any) -> tuple[str, str]:
    return run("thumbkit_regenerate", "testapp.Profile", "photo", *args, **options)


def made_everywhere(rows: list[Any]) -> None:
    regenerate("--workers", "1")
    for row in rows:
        assert set(recorded(row.photo.name)) == {SMALL, CARD}


# --- thumbkit_delete --------------------------------------------------------------------


@pytest.mark.django_db
def test_delete_by_size_removes_exactly_those_files_and_records(media: Media) -> None:
    rows = add_rows()
    made_everywhere(rows)
    extra = [get_thumbnail(coerce(r.photo.name), "50x50") for r in rows]  # made by a template
    before = recorded(rows[0].photo.name)
    out, _ = run("thumbkit_delete", "testapp.Profile", "--field", "photo", "--size", "small")
    assert out.splitlines()[-1] == (
        "testapp.Profile.photo: deleted 3 thumbnail(s) (files and records) of 3 row(s); "
        "1 row(s) without a file skipped."
    )
    for row in rows:
        assert set(recorded(row.photo.name)) == {CARD, extra[0].spec}
        assert default_storage.exists(row.photo.name)  # the source stays
    assert not media.exists(before[SMALL].name)
    assert media.exists(before[CARD].name)
    expected = sorted(
        [*(recorded(r.photo.name)[CARD].name for r in rows), *(t.name for t in extra)]
    )
    assert thumb_files(media) == expected


@pytest.mark.django_db
def test_delete_without_size_removes_every_thumbnail_of_the_files(media: Media) -> None:
    rows = add_rows(count=2)
    made_everywhere(rows)
    get_thumbnail(coerce(rows[0].photo.name), "50x50")
    out, _ = run("thumbkit_delete", "testapp.Profile")
    assert "deleted 5 thumbnail(s) (files and records) of 2 row(s)" in out
    assert thumb_files(media) == []
    assert all(recorded(r.photo.name) == {} for r in rows)


@pytest.mark.django_db
def test_delete_dry_run_removes_nothing(media: Media) -> None:
    rows = add_rows(count=2)
    made_everywhere(rows)
    files, records = thumb_files(media), [recorded(r.photo.name) for r in rows]
    out, _ = run("thumbkit_delete", "testapp.Profile", "--size", "small", "card", "--dry-run")
    assert "would delete 4 thumbnail(s) (files and records) of 2 row(s)" in out
    assert thumb_files(media) == files
    assert [recorded(r.photo.name) for r in rows] == records


@pytest.mark.django_db
def test_delete_verbose_lists_the_names(media: Media) -> None:
    rows = add_rows(count=1)
    made_everywhere(rows)
    name = recorded(rows[0].photo.name)[SMALL].name
    out, _ = run("thumbkit_delete", "testapp.Profile", "--size", "small", verbosity=2)
    assert f"  {name}" in out.splitlines()


@pytest.mark.django_db
def test_delete_refuses_undeclared_sizes_and_names_the_declared_ones(media: Media) -> None:
    rows = add_rows(count=1)
    made_everywhere(rows)
    with pytest.raises(CommandError) as caught:
        run("thumbkit_delete", "testapp.Profile", "--size", "small", "huge")
    assert str(caught.value) == (
        "testapp.Profile.photo declares no size 'huge'; declared: small, card."
    )
    assert set(recorded(rows[0].photo.name)) == {SMALL, CARD}  # nothing was deleted
    with pytest.raises(CommandError, match="has no field 'nope'"):
        run("thumbkit_delete", "testapp.Profile", "--field", "nope")
    with pytest.raises(CommandError, match=r"Unknown model 'testapp\.Nope'"):
        run("thumbkit_delete", "testapp.Nope")


@pytest.mark.django_db
def test_delete_on_a_plain_django_image_field(media: Media) -> None:
    name = default_storage.save("photos/a.jpg", ContentFile(images.jpeg()))
    photo = Photo.objects.create(image=name)
    made = get_thumbnail(photo.image, "80x80")
    with pytest.raises(CommandError, match="has no thumbkit ImageField; name a file field"):
        run("thumbkit_delete", "testapp.Photo")
    with pytest.raises(CommandError, match="declares no size 'small'; declared: none"):
        run("thumbkit_delete", "testapp.Photo", "--field", "image", "--size", "small")
    out, _ = run("thumbkit_delete", "testapp.Photo", "--field", "image")
    assert "testapp.Photo.image: deleted 1 thumbnail(s)" in out
    assert not media.exists(made.name)
    assert recorded(name) == {}


@pytest.mark.django_db
def test_delete_by_size_rewrites_the_manifest_column(media: Media) -> None:
    rows = add_rows(ManifestProfile, count=1)
    run("thumbkit_regenerate", "testapp.ManifestProfile", "photo", "--workers", "1")
    row = ManifestProfile.objects.get(pk=rows[0].pk)
    assert len(row.photo_thumbs["records"]) == 2
    run("thumbkit_delete", "testapp.ManifestProfile", "--size", "small")
    row = ManifestProfile.objects.get(pk=rows[0].pk)
    specs = [r["spec"] for r in row.photo_thumbs["records"]]
    field = ManifestProfile._meta.get_field("photo")
    assert specs == [field.declared_spec("card").canonical]  # type: ignore[attr-defined]


# --- thumbkit_regenerate ----------------------------------------------------------------


@pytest.mark.django_db
def test_regenerate_makes_the_missing_thumbnails(media: Media) -> None:
    rows = add_rows()
    get_thumbnail(rows[0].photo, "small")  # one already there: not made again
    out, _ = regenerate("--workers", "1")
    assert out.splitlines()[-1].startswith(
        "testapp.Profile.photo: made 5 thumbnail(s) for 3 row(s) (1 without a file skipped) in "
    )
    for row in rows:
        records = recorded(row.photo.name)
        assert set(records) == {SMALL, CARD}
        assert image_size(media, records[SMALL].name) == SIZES["small"]
        assert image_size(media, records[CARD].name) == SIZES["card"]
        assert records[CARD].format == "WEBP"
    assert len(thumb_files(media)) == 6
    out, _ = regenerate("--workers", "1")
    assert "made 0 thumbnail(s) for 3 row(s)" in out


@pytest.mark.django_db
def test_regenerate_force_makes_new_files(media: Media) -> None:
    rows = add_rows(count=2)
    made_everywhere(rows)
    names = {spec: recorded(rows[0].photo.name)[spec].name for spec in (SMALL, CARD)}
    for name in names.values():
        media.write(name, b"stale")  # what an old definition left behind
    regenerate("--workers", "1")
    assert media.read(names[SMALL]) == b"stale"  # existing ones are left alone
    out, _ = regenerate("--size", "small", "--force", "--workers", "1")
    assert "made 2 thumbnail(s) for 2 row(s)" in out
    assert image_size(media, names[SMALL]) == SIZES["small"]
    assert media.read(names[CARD]) == b"stale"  # not a --size given
    assert set(recorded(rows[0].photo.name)) == {SMALL, CARD}


@pytest.mark.django_db
def test_regenerate_reports_a_corrupt_source_and_does_the_others(media: Media) -> None:
    rows = add_rows(count=2)
    broken = add_corrupt()
    with pytest.raises(CommandError, match=r"^1 of 3 row\(s\) failed\.$"):
        regenerate("--workers", "1")
    for row in rows:
        assert set(recorded(row.photo.name)) == {SMALL, CARD}
    assert set(recorded(broken.photo.name)) == {FAILED_SPEC}  # its failure, remembered


@pytest.mark.django_db
def test_regenerate_force_tries_a_remembered_failure_again(media: Media) -> None:
    broken = add_corrupt()
    with pytest.raises(CommandError, match=r"^1 of 1 row\(s\) failed\.$"):
        regenerate("--workers", "1")
    # The file is mended in place (same name, so no new version): without --force the
    # remembered failure still answers; --force forgets it and makes the thumbnails.
    media.write(broken.photo.name, images.jpeg((400, 300)))
    with pytest.raises(CommandError, match=r"^1 of 1 row\(s\) failed\.$"):
        regenerate("--workers", "1")
    regenerate("--workers", "1", "--force")
    assert set(recorded(broken.photo.name)) == {SMALL, CARD}


@pytest.mark.django_db
def test_regenerate_failure_lines_name_the_row(media: Media) -> None:
    add_rows(count=1)
    broken = add_corrupt()
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "thumbkit_regenerate",
            "testapp.Profile",
            "photo",
            workers=1,
            stdout=io.StringIO(),
            stderr=err,
        )
    lines = err.getvalue().splitlines()
    assert "1 row(s) failed:" in lines
    assert any(
        line.startswith(f"  pk={broken.pk} ({broken.photo.name}): SourceUnreadable: ")
        for line in lines
    )


PROGRESS = re.compile(r"testapp\.Profile\.photo \[#{24}\] 3/3 100% \d+\.\d/s ETA 0:00$")


@pytest.mark.django_db
def test_regenerate_progress_bar_goes_to_stderr_and_verbosity_0_is_quiet(media: Media) -> None:
    add_rows()
    out, err = regenerate("--workers", "1")
    assert PROGRESS.match(err.splitlines()[-1]), err
    assert "[" not in out
    out, err = regenerate("--workers", "1", "--force", verbosity=0)
    assert (out, err) == ("", "")


@pytest.mark.django_db
def test_regenerate_refuses_bad_arguments(media: Media) -> None:
    with pytest.raises(CommandError, match="declares no size 'huge'; declared: small, card"):
        regenerate("--size", "huge")
    with pytest.raises(CommandError, match=r"testapp\.Profile\.name is not a file"):
        run("thumbkit_regenerate", "testapp.Profile", "name")
    with pytest.raises(CommandError, match=r"is not a thumbkit\.fields\.ImageField"):
        run("thumbkit_regenerate", "testapp.Photo", "image")
    with pytest.raises(CommandError, match="at least 1"):
        regenerate("--workers", "0")


@pytest.fixture
def pg_media(media: Media, need_postgres: None) -> Iterator[Media]:
    with thumbkit_settings(UPLOAD="off", STORE="db", STORE_OPTIONS={"using": "pg"}):
        yield media
    connections["pg"].close()


@pytest.mark.django_db(transaction=True, databases=["default", "pg"])
def test_regenerate_on_two_worker_processes(pg_media: Media) -> None:
    rows = add_rows(count=5, using="pg")
    broken = add_corrupt(using="pg")
    here: list[int] = []

    def count(**kwargs: Any) -> None:
        here.append(os.getpid())

    thumbnails_generated.connect(count, weak=False, dispatch_uid="test-commands")
    err = io.StringIO()
    try:
        with pytest.raises(CommandError, match=r"^1 of 6 row\(s\) failed\.$"):
            call_command(
                "thumbkit_regenerate",
                *("testapp.Profile", "photo", "--workers", "2", "--chunk-size", "1"),
                *("--database", "pg"),
                stdout=io.StringIO(),
                stderr=err,
            )
    finally:
        thumbnails_generated.disconnect(dispatch_uid="test-commands")
    assert here == []  # every thumbnail was made in another process
    failure = f"  pk={broken.pk} ({broken.photo.name}): SourceUnreadable: "
    failures = [line for line in err.getvalue().splitlines() if line.startswith("  pk=")]
    assert len(failures) == 1
    assert failures[0].startswith(failure)
    for row in rows:
        records = recorded(row.photo.name)
        assert set(records) == {SMALL, CARD}
        assert image_size(pg_media, records[SMALL].name) == SIZES["small"]
    assert set(recorded(broken.photo.name)) == {FAILED_SPEC}  # its failure, remembered
    assert len(thumb_files(pg_media)) == 10


@pytest.mark.django_db(transaction=True, databases=["default", "pg"])
def test_regenerate_workers_output(pg_media: Media) -> None:
    add_rows(count=3, using="pg")
    out, err = regenerate("--workers", "2", "--chunk-size", "1", "--database", "pg")
    assert "made 6 thumbnail(s) for 3 row(s) (1 without a file skipped)" in out
    assert out.rstrip().endswith("with 2 worker(s).")
    assert PROGRESS.match(err.splitlines()[-1]), err


# --- fetch_thumbnails -------------------------------------------------------------------


@pytest.mark.django_db
def test_fetch_thumbnails_is_one_round_trip(media: Media, django_assert_num_queries: Any) -> None:
    made_everywhere(add_rows())
    profiles = list(Profile.objects.all())
    photos = [p.photo for p in profiles]
    with django_assert_num_queries(1):
        found = fetch_thumbnails(photos, ["small", "card", "50x50"])
    with django_assert_num_queries(0):
        urls = [p.photo.thumbnails.small.url for p in profiles if p.photo]
    assert len(found) == 9  # the empty row is skipped
    for photo in photos[:3]:
        small = found[(photo.name, "small")]
        assert small is not None
        assert (small.width, small.height) == SIZES["small"]
        assert small.url in urls
        card = found[(photo.name, "card")]
        assert card is not None
        assert card.format == "WEBP"
        assert found[(photo.name, "50x50")] is None  # never made


# --- bulk machinery ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_line_shows_done_total_rate_and_eta() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = bulk.Progress(100, out, "job", interval=0, clock=clock)
    clock.now += 5
    progress.advance(25)
    assert out.getvalue() == "job [######------------------] 25/100  25% 5.0/s ETA 0:15\n"
    clock.now += 3600
    progress.advance(1)
    assert out.getvalue().splitlines()[-1].endswith("26/100  26% 0.0/s ETA 2:51:00")


def die_on_two(item: bulk.Item, options: Any) -> int:
    """A job whose process dies (as if killed by the OOM killer) on item 2."""
    if item.pk == 2:
        os._exit(3)
    time.sleep(0.2)  # slower than the pool notices a death, so few items are in flight then
    return 1


@pytest.mark.django_db(transaction=True)
def test_a_dead_worker_fails_its_items_and_a_fresh_pool_does_the_rest() -> None:
    items = [bulk.Item("x.Y", pk, "f", f"n{pk}") for pk in range(1, 13)]
    report = bulk.run(die_on_two, items, {}, workers=2, chunk_size=1)
    failed = {f.item.pk for f in report.failures}
    assert 2 in failed
    assert failed <= set(range(1, 9))  # only what was queued when it died
    assert report.items == 12
    assert report.count == 12 - len(failed)
    assert all(
        f.error.startswith("worker process failed: BrokenProcessPool") for f in report.failures
    )

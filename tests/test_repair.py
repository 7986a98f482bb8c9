"""``thumbkit_repair``: records checked against the storage, files against the records.

Every storage-facing case runs on FileSystemStorage and on the S3 endpoint (``media_storage``),
with the db store (SQLite) and the redis store. On S3 the requests are counted at the
endpoint: a listing by prefix is one request per 1000 objects, with no HEAD per file.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from tests import images
from tests.api_support import CALLS, only_storage
from tests.conftest import thumbkit_settings
from tests.s3 import Media
from tests.stores_util import need_services, store_params, store_settings
from tests.testapp.models import ManifestProfile
from thumbkit import get_thumbnail
from thumbkit.lookup import api
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.thumbnail import Thumbnail

pytestmark = pytest.mark.django_db

SPEC = "60x40"
JPEG = images.jpeg((120, 90))


@pytest.fixture(params=store_params("db-sqlite", "redis"))
def store_kind(request: pytest.FixtureRequest, redis_prefix: str) -> Iterator[str]:
    need_services(request, request.param)
    with thumbkit_settings(**store_settings(request.param, redis_prefix), UPLOAD="off"):
        yield request.param


def make(count: int, spec: str = SPEC) -> list[Thumbnail]:
    names = [default_storage.save(f"photos/p{i}.jpg", ContentFile(JPEG)) for i in range(count)]
    return [get_thumbnail(name, spec) for name in names]


def repair(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("thumbkit_repair", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def remove(media: Media, name: str) -> None:
    if media.endpoint is not None:
        media.endpoint.client.delete_object(Bucket=media.bucket, Key=name)
    else:
        os.remove(media.root / name)


def stored(thumbs: list[Thumbnail]) -> set[str]:
    return set(get_store().get_many([t.key for t in thumbs]))


def age(media: Media, name: str, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(media.root / name, (stamp, stamp))


# --- the whole repair ------------------------------------------------------------------------


def test_dry_run_reports_and_changes_nothing_then_repair_fixes_it(
    media_storage: Media, store_kind: str
) -> None:
    media = media_storage
    thumbs = make(5)
    remove(media, thumbs[0].name)  # lost out of band
    media.write(thumbs[1].name, b"")  # an empty object (a half-failed upload)
    orphans = ["thumbs/zz/zz/left-over-0000.jpg", "thumbs/ab/orphan.webp"]
    for name in orphans:
        media.write(name, JPEG)
    before = media.files()

    out, _ = repair("--dry-run", "--min-age", "0")

    assert "Would remove 2 record(s) (1 missing, 1 empty file(s))" in out
    assert "would delete 2 file(s) without a record" in out
    assert "Nothing changed." in out
    assert media.files() == before
    assert stored(thumbs) == {t.key for t in thumbs}

    out, err = repair("--min-age", "0")

    assert "Checked 5 record(s) against 6 file(s) under thumbs/ on default" in out
    assert "Removed 2 broken record(s) (1 missing, 1 empty file(s))" in out
    assert "deleted 2 file(s) without a record" in out
    assert "failed" not in err
    assert stored(thumbs) == {t.key for t in thumbs[2:]}
    assert media.files("thumbs") == sorted(t.name for t in thumbs[2:])
    assert all(media.exists(f"photos/p{i}.jpg") for i in range(5))  # sources untouched
    for thumb in thumbs[2:]:
        assert media.decoded(thumb.name) == (thumb.size, "JPEG")

    out, _ = repair("--min-age", "0")  # nothing left to do
    assert "Removed 0 broken record(s)" in out
    assert "deleted 0 file(s) without a record" in out
    # The removed records are made again by the next lookup.
    again = get_thumbnail("photos/p0.jpg", SPEC)
    assert again.name == thumbs[0].name
    assert media.decoded(again.name) == (thumbs[0].size, "JPEG")


def test_regenerate_makes_missing_and_empty_thumbnails_again(
    media_storage: Media, store_kind: str
) -> None:
    media = media_storage
    thumbs = make(3, "small")
    remove(media, thumbs[0].name)
    media.write(thumbs[1].name, b"")

    out, err = repair("--regenerate")

    assert "Regenerated 2 thumbnail(s) of 2 broken record(s)" in out
    assert "failed" not in err
    assert stored(thumbs) == {t.key for t in thumbs}
    for thumb in thumbs:  # same names, real files of the right size
        assert media.decoded(thumb.name) == (thumb.size, "JPEG")
    assert media.files("thumbs") == sorted(t.name for t in thumbs)


def test_regenerate_reports_a_source_that_is_gone_and_drops_its_record(
    media_storage: Media,
) -> None:
    thumbs = make(2)
    remove(media_storage, thumbs[0].name)
    remove(media_storage, "photos/p0.jpg")

    with pytest.raises(CommandError, match=r"1 repair\(s\) failed"):
        repair("--regenerate")

    assert stored(thumbs) == {thumbs[1].key}


# --- leftovers -----------------------------------------------------------------------------


class RolledBack(Exception):
    pass


def generate_then_roll_back(name: str) -> None:
    with transaction.atomic():
        made = get_thumbnail(name, SPEC)  # lazy: file written, record inside the transaction
        raise RolledBack(made)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_generation_takes_its_file_and_repair_sweeps_a_lost_record_file(
    media_storage: Media,
) -> None:
    name = default_storage.save("photos/tx.jpg", ContentFile(JPEG))
    with pytest.raises(RolledBack) as info:
        generate_then_roll_back(name)
    rolled_back = info.value.args[0]
    assert not media_storage.exists(rolled_back.name)  # the rollback took the file with it
    assert get_store().get_many([rolled_back.key]) == {}
    made = get_thumbnail(name, SPEC)
    get_store().delete_many([made.key])  # a record lost some other way: the file is orphaned

    out, _ = repair()  # default --min-age: too recent to be sure; left alone
    assert "1 recent file(s) without a record left alone" in out
    assert media_storage.exists(made.name)

    out, _ = repair("--min-age", "0")
    assert "deleted 1 file(s) without a record" in out
    assert not media_storage.exists(made.name)
    assert media_storage.exists(name)


def test_stale_temp_files_go_and_fresh_ones_and_young_orphans_stay(fs_media: Media) -> None:
    thumbs = make(1)
    folder = os.path.dirname(thumbs[0].name)
    stale, fresh = f"{folder}/.thumbkit-stale.tmp", f"{folder}/.thumbkit-fresh.tmp"
    # What a storage that overrides _save leaves when a write is killed half-way.
    stale_saved = f"{folder}/.thumbkit-0123456789abcdef-photo.jpg"
    old, young = "thumbs/zz/zz/old.jpg", "thumbs/zz/zz/young.jpg"
    for name in (stale, stale_saved, fresh, old, young):
        fs_media.write(name, JPEG)
    age(fs_media, stale, 120)
    age(fs_media, stale_saved, 120)
    age(fs_media, old, 3600)

    out, _ = repair()

    assert "deleted 1 file(s) without a record and 2 stale temp file(s)" in out
    assert "1 recent file(s) without a record left alone" in out
    assert fs_media.files("thumbs") == sorted([thumbs[0].name, fresh, young])


def test_files_a_manifest_names_are_kept_and_manifests_follow_removed_records(
    fs_media: Media,
) -> None:
    name = default_storage.save("mprofiles/m.jpg", ContentFile(JPEG))
    row = ManifestProfile.objects.create(name="m", photo=name)
    field: Any = ManifestProfile._meta.get_field("photo")
    api.ensure(row.photo, field.declared_specs())
    row.refresh_from_db()
    named = sorted(r["name"] for r in row.photo_thumbs["records"])
    assert len(named) == 2
    key = source_key(coerce(row.photo))
    records = get_store().get_sources([key])[key]

    # The store forgot the records (a flushed Redis); the manifest still serves them.
    get_store().delete_many(list(records))
    out, _ = repair("--min-age", "0")
    assert "deleted 0 file(s) without a record" in out
    assert fs_media.files("thumbs") == named

    # A record whose file is gone leaves the store and the row's manifest.
    get_store().set_many(list(records.values()))
    lost = records[next(iter(records))]
    remove(fs_media, lost.name)
    out, _ = repair("--min-age", "0")
    assert "Removed 1 broken record(s) (1 missing" in out
    row.refresh_from_db()
    assert [r["name"] for r in row.photo_thumbs["records"]] == [n for n in named if n != lost.name]


# --- storages and stores -------------------------------------------------------------------


def test_filesystem_listing_makes_no_storage_call_per_file(tmp_path: Any) -> None:
    with only_storage(str(tmp_path), "tests.api_support.CountingStorage"):
        thumbs = make(4)
        os.remove(tmp_path / thumbs[0].name)
        CALLS.clear()
        out, _ = repair("--min-age", "0")
    assert "Removed 1 broken record(s)" in out
    assert "0 record(s) outside the prefix checked one by one" in out
    # One call for the whole tree (where it is on disk), then os.scandir; no call per file.
    assert CALLS == [("path", "thumbs")]


def test_aliases_sharing_a_location_are_listed_once_and_never_see_orphans(
    tmp_path: Any,
) -> None:
    backend = "django.core.files.storage.FileSystemStorage"
    with only_storage(str(tmp_path), backend):  # "default" and "thumbs": one directory
        thumbs = make(2)
        assert {t.storage_alias for t in thumbs} == {"thumbs"}
        with thumbkit_settings(STORAGE="default"):
            out, _ = repair("--min-age", "0")
    assert "against 2 file(s)" in out
    assert "deleted 0 file(s) without a record" in out
    assert all((tmp_path / t.name).is_file() for t in thumbs)


def test_records_outside_the_prefix_are_checked_one_by_one(fs_media: Media) -> None:
    thumbs = make(2)
    remove(fs_media, thumbs[0].name)
    with thumbkit_settings(PREFIX="renamed"):
        out, _ = repair("--min-age", "0")
    assert "2 record(s) outside the prefix checked one by one" in out
    assert "Removed 1 broken record(s) (1 missing" in out
    assert stored(thumbs) == {thumbs[1].key}
    assert fs_media.exists(thumbs[1].name)


def test_an_empty_prefix_never_deletes_files_without_records(fs_media: Media) -> None:
    fs_media.write("photos/not-a-thumbnail.jpg", JPEG)
    with thumbkit_settings(PREFIX=""):
        make(1)
        out, err = repair("--min-age", "0")
    assert "files without a record are not deleted" in err
    assert "deleted 0 file(s) without a record" in out
    assert fs_media.exists("photos/not-a-thumbnail.jpg")


def test_a_store_that_cannot_list_its_records_is_refused(fs_media: Media) -> None:
    with (
        thumbkit_settings(STORE="cache"),
        pytest.raises(CommandError, match="can list its records"),
    ):
        repair()


def test_verbosity_two_names_every_file_and_zero_prints_nothing(fs_media: Media) -> None:
    thumbs = make(1)
    fs_media.write("thumbs/zz/zz/orphan.jpg", JPEG)
    remove(fs_media, thumbs[0].name)

    out, _ = repair("--dry-run", "--min-age", "0", "--verbosity", "2")
    assert f"missing file, would fix record: {thumbs[0].name}" in out
    assert "no record, would delete: default:thumbs/zz/zz/orphan.jpg" in out

    out, err = repair("--min-age", "0", "--verbosity", "0")
    assert (out, err) == ("", "")
    assert not fs_media.exists("thumbs/zz/zz/orphan.jpg")


# --- S3: requests per page, not per file -----------------------------------------------------


def test_s3_repair_lists_by_prefix_one_request_per_1000_objects(
    s3_media: Media, store_kind: str
) -> None:
    """1500 records with files, 40 records without, 60 files without a record."""
    assert s3_media.endpoint is not None
    client, bucket = s3_media.endpoint.client, s3_media.bucket
    records = [
        Thumbnail(
            key=f"{i:032x}",
            name=f"thumbs/{i % 7:02}/{i % 5:02}/t-{i:05}.jpg",
            width=60,
            height=40,
            format="JPEG",
            storage_alias="default",
            source_key=f"{i // 3:032x}",
            spec=SPEC,
            source_name=f"photos/s{i // 3}.jpg",
        )
        for i in range(1540)
    ]
    get_store().set_many(records)
    for record in records[:1500]:
        client.put_object(Bucket=bucket, Key=record.name, Body=b"x" * 10)  # moto, uncounted
    for i in range(60):
        client.put_object(Bucket=bucket, Key=f"thumbs/99/99/orphan-{i}.jpg", Body=b"x")
    s3_media.endpoint.proxy.reset()

    out, err = repair("--min-age", "0")

    proxy = s3_media.endpoint.proxy
    seen = [(s.method, s.query.split("&")[0]) for s in proxy.requests()]
    assert proxy.count("HEAD") == 0
    assert sorted(seen) == [("GET", "list-type=2")] * 2 + [("POST", "delete")]
    assert "Checked 1540 record(s) against 1560 file(s)" in out
    assert "(3 list/delete request(s) to remote storages" in out
    assert "Removed 40 broken record(s) (40 missing" in out
    assert "deleted 60 file(s) without a record" in out
    assert "failed" not in err
    assert len(s3_media.files("thumbs")) == 1500
    assert set(get_store().get_many([r.key for r in records])) == {r.key for r in records[:1500]}


def test_s3_endpoint_failing_during_the_listing_stops_the_repair_and_changes_nothing(
    s3_media: Media,
) -> None:
    thumbs = make(2)
    remove(s3_media, thumbs[0].name)
    s3_media.write("thumbs/zz/zz/orphan.jpg", JPEG)
    assert s3_media.endpoint is not None
    with (
        s3_media.endpoint.proxy.failing("500"),
        pytest.raises(CommandError, match="Listing thumbs/ on 'default' failed"),
    ):
        repair("--min-age", "0")
    assert stored(thumbs) == {t.key for t in thumbs}
    assert s3_media.exists("thumbs/zz/zz/orphan.jpg")

"""Declared thumbnails follow their file: made after commit, removed with the old file.

Real transactions (``transaction=True``), real files, real records: every test asserts on
what is on the storage (below the test's own MEDIA_ROOT) and what is in the store. Source
files follow Django's rule (a replaced or deleted row's file stays on the storage); thumbkit
removes the thumbnails and records of a file the row no longer uses.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django import forms
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from tests import images
from tests.conftest import thumbkit_settings
from tests.fields_util import (
    all_records,
    decoded,
    files,
    media,
    records,
    thumb_files,
    upload,
    url_path,
)
from tests.s3 import Media
from tests.stores_util import need_services, store_params, store_settings
from tests.testapp.models import (
    ManifestProfile,
    OnDemandPhoto,
    OverwriteManifestPhoto,
    OverwritePhoto,
    Profile,
)
from thumbkit.lookup.batch import FAILED_SPEC
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store

__all__ = ["media"]  # a fixture

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"small": (100, 100), "card": (320, 240)}


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["name", "photo"]


class Boom(Exception):
    pass


def rolled_back(action: Callable[[], object]) -> None:
    """Run ``action`` in a transaction that then rolls back."""

    def fail() -> None:
        with transaction.atomic():
            action()
            raise Boom

    with pytest.raises(Boom):
        fail()


@pytest.fixture(params=store_params("db-sqlite", "redis"))
def store(request: pytest.FixtureRequest, redis_prefix: str) -> Any:
    """The lifecycle tests run on the db store and on the redis store."""
    need_services(request, request.param)
    with thumbkit_settings(**store_settings(request.param, redis_prefix)):
        yield get_store()


def source_files(root: Media) -> list[str]:
    return [name for name in files(root) if not name.startswith("thumbs/")]


def assert_declared(root: Media, instance: Any, attname: str = "photo") -> list[str]:
    """The instance's declared thumbnails exist already (files and records) at the right
    sizes: asking for them makes nothing new."""
    before_files, before_records = thumb_files(root), records()
    assert len(before_files) == len(SIZES)
    thumbs = getattr(instance, attname).thumbnails
    made = {name: thumbs[name] for name in thumbs}
    for name, thumb in made.items():
        size, _format = decoded(root, url_path(thumb.url))
        assert size == thumb.size == SIZES[name], name
    assert sorted(t.name for t in made.values()) == before_files
    assert thumb_files(root) == before_files
    assert records() == before_records
    assert [r.name for r in before_records] == before_files
    return [t.url for t in made.values()]


def assert_made_on_demand(root: Media, instance: Any) -> None:
    """Nothing exists until the thumbnails are asked for; then they are made."""
    assert thumb_files(root) == []
    assert all_records() == []
    thumbs = instance.photo.thumbnails.all()
    assert [t.size for t in thumbs] == list(SIZES.values())
    assert thumb_files(root) == sorted(t.name for t in thumbs)
    assert [r.name for r in records()] == thumb_files(root)


def thumbnails_of(name: str, storage: Any = None) -> list[str]:
    key = source_key(coerce(name, storage=storage))
    return [r.name for r in all_records() if r.source_key == key]


# --- made at upload, after commit ------------------------------------------------------


def test_thumbnails_are_made_when_the_upload_commits(media: Media, store: Any) -> None:
    with transaction.atomic():
        profile = Profile.objects.create(name="a", photo=upload("me.jpg"))
        assert source_files(media) == ["profiles/me.jpg"]
        assert thumb_files(media) == []
        assert all_records() == []
    assert len(thumb_files(media)) == 2
    fresh = Profile.objects.get(pk=profile.pk)
    assert_declared(media, fresh)


def test_a_modelform_upload_makes_the_declared_thumbnails(media: Media, store: Any) -> None:
    form = ProfileForm(data={"name": "me"}, files={"photo": upload("me.jpg", (640, 480))})
    assert form.is_valid(), form.errors
    profile = form.save()
    assert source_files(media) == ["profiles/me.jpg"]
    urls = assert_declared(media, profile)
    formats = sorted(decoded(media, url_path(url))[1] for url in urls)
    assert formats == ["JPEG", "WEBP"]
    # Rendering them now is free of generation: no new file appears.
    assert_declared(media, Profile.objects.get(pk=profile.pk))
    assert len(thumb_files(media)) == 2


def test_a_new_row_naming_a_stored_file_gets_its_thumbnails(media: Media, store: Any) -> None:
    media.write("profiles/old.jpg", images.jpeg())
    profile = Profile.objects.create(photo="profiles/old.jpg")
    assert_declared(media, Profile.objects.get(pk=profile.pk))


def test_saving_other_fields_does_no_thumbnail_work(media: Media, store: Any) -> None:
    profile = Profile.objects.create(photo=upload())
    before = all_records()
    profile.name = "renamed"
    profile.save()
    Profile.objects.get(pk=profile.pk).save()
    assert all_records() == before
    assert len(thumb_files(media)) == 2


# --- replacing -------------------------------------------------------------------------


def test_a_new_upload_replaces_the_old_thumbnails(media: Media, store: Any) -> None:
    profile = Profile.objects.create(photo=upload("first.jpg"))
    old_urls = assert_declared(media, profile)
    old_files = thumb_files(media)

    form = ProfileForm(data={"name": "x"}, files={"photo": upload("second.jpg")}, instance=profile)
    assert form.is_valid(), form.errors
    form.save()

    fresh = Profile.objects.get(pk=profile.pk)
    new_urls = assert_declared(media, fresh)
    assert set(new_urls).isdisjoint(old_urls)
    assert set(thumb_files(media)).isdisjoint(old_files)
    assert thumbnails_of("profiles/first.jpg") == []
    # Django keeps the replaced source itself; only its thumbnails go.
    assert source_files(media) == ["profiles/first.jpg", "profiles/second.jpg"]
    # The instance that saved serves the new thumbnails too.
    assert [t.url for t in profile.photo.thumbnails.all()] == new_urls


def overwrite(photo: OverwritePhoto, data: bytes, how: str) -> None:
    if how == "assign":
        photo.image = ContentFile(data, name="same.jpg")
        photo.save()
    else:
        photo.image.save("same.jpg", ContentFile(data))


@pytest.mark.parametrize("how", ["assign", "fieldfile-save"])
def test_the_same_name_overwritten_gets_new_thumbnails(media: Media, store: Any, how: str) -> None:
    red = images.encode(images.make_image((400, 300), color=(200, 0, 0)), "JPEG")
    blue = images.encode(images.make_image((400, 300), color=(0, 0, 200)), "JPEG")
    photo = OverwritePhoto.objects.create(image=ContentFile(red, name="same.jpg"))
    assert photo.image.name == "overwrite/same.jpg"
    old = {t.url: t.name for t in photo.image.thumbnails.all()}
    assert set(thumb_files(media)) == set(old.values())

    overwrite(photo, blue, how)

    assert photo.image.name == "overwrite/same.jpg"
    # The field's own FileSystemStorage keeps the source on the local disk in both runs
    # (on s3, the thumbnails of that local source go to the bucket).
    assert Media("fs", media.root).files("overwrite") == ["overwrite/same.jpg"]
    for instance in (photo, OverwritePhoto.objects.get(pk=photo.pk)):
        thumbs = instance.image.thumbnails.all()
        assert {t.url for t in thumbs}.isdisjoint(old)
        for thumb in thumbs:
            # Made from the new pixels: blue, not red.
            with Image.open(io.BytesIO(media.read(thumb.name))) as image:
                red_px, _g, blue_px = image.convert("RGB").getpixel((5, 5))
            assert blue_px > 150
            assert red_px < 50
    assert thumb_files(media) == sorted(t.name for t in thumbs)
    assert [r.name for r in records()] == sorted(t.name for t in thumbs)
    # One version marker besides the two thumbnails; the old version's records are gone.
    assert len(all_records()) == 3


# --- clearing and deleting -------------------------------------------------------------


def test_clearing_the_field_removes_thumbnails_and_records(media: Media, store: Any) -> None:
    profile = Profile.objects.create(photo=upload("me.jpg"))
    assert len(thumb_files(media)) == 2
    form = ProfileForm(data={"name": "x", "photo-clear": "on"}, instance=profile)
    assert form.is_valid(), form.errors
    form.save()
    assert Profile.objects.get(pk=profile.pk).photo.name == ""
    assert thumb_files(media) == []
    assert all_records() == []
    assert source_files(media) == ["profiles/me.jpg"]


def test_deleting_the_file_removes_its_thumbnails(media: Media, store: Any) -> None:
    profile = Profile.objects.create(photo=upload("me.jpg"))
    profile.photo.delete()
    assert files(media) == []
    assert all_records() == []


def test_deleting_the_instance_removes_thumbnails_and_records(media: Media, store: Any) -> None:
    profile = Profile.objects.create(photo=upload("me.jpg"))
    assert len(thumb_files(media)) == 2
    profile.delete()
    assert thumb_files(media) == []
    assert all_records() == []


def test_a_queryset_delete_removes_exactly_its_rows_thumbnails(media: Media, store: Any) -> None:
    kept, *gone = [Profile.objects.create(photo=upload(f"p{i}.jpg")) for i in range(3)]
    kept_files = sorted(t.name for t in kept.photo.thumbnails.all())
    Profile.objects.filter(pk__in=[p.pk for p in gone]).delete()
    assert thumb_files(media) == kept_files
    assert [r.name for r in records()] == kept_files


def test_a_queryset_delete_with_the_file_deferred(media: Media, store: Any) -> None:
    for i in range(2):
        Profile.objects.create(photo=upload(f"p{i}.jpg"))
    assert len(thumb_files(media)) == 4
    Profile.objects.defer("photo").delete()
    assert thumb_files(media) == []
    assert all_records() == []


def test_a_file_shared_by_rows_keeps_its_thumbnails_until_the_last_goes(
    media: Media, store: Any
) -> None:
    first = Profile.objects.create(photo=upload("shared.jpg"))
    second = Profile.objects.create(photo=first.photo.name)
    made = thumb_files(media)
    assert len(made) == 2
    first.delete()
    assert thumb_files(media) == made
    assert [t.url for t in Profile.objects.get(pk=second.pk).photo.thumbnails.all()]
    second.delete()
    assert thumb_files(media) == []
    assert all_records() == []


# --- rolled back -----------------------------------------------------------------------


def test_a_rolled_back_replacement_leaves_the_old_thumbnails(media: Media, store: Any) -> None:
    profile = Profile.objects.create(photo=upload("old.jpg"))
    old_files, old_records = thumb_files(media), all_records()

    def replace() -> None:
        profile.photo = upload("new.jpg")
        profile.save()

    rolled_back(replace)
    assert thumb_files(media) == old_files
    assert all_records() == old_records
    assert thumbnails_of("profiles/new.jpg") == []
    assert Profile.objects.get(pk=profile.pk).photo.name == "profiles/old.jpg"

    # The instance still holds the new file: saving it again does the work for real.
    profile.save()
    assert_declared(media, Profile.objects.get(pk=profile.pk))
    assert thumbnails_of("profiles/old.jpg") == []
    assert len(thumbnails_of("profiles/new.jpg")) == 2


def test_a_rolled_back_create_leaves_no_thumbnails(media: Media, store: Any) -> None:
    rolled_back(lambda: Profile.objects.create(photo=upload("new.jpg")))
    assert Profile.objects.count() == 0
    assert thumb_files(media) == []
    assert all_records() == []


def test_a_rolled_back_delete_keeps_the_thumbnails(media: Media, store: Any) -> None:
    profile = Profile.objects.create(photo=upload("me.jpg"))
    before = thumb_files(media)
    rolled_back(profile.delete)
    assert thumb_files(media) == before
    assert_declared(media, Profile.objects.get())


# --- when generation is not at upload --------------------------------------------------


def test_upload_off_makes_thumbnails_when_first_asked(media: Media) -> None:
    with thumbkit_settings(UPLOAD="off"):
        profile = Profile.objects.create(photo=upload("me.jpg"))
        assert_made_on_demand(media, Profile.objects.get(pk=profile.pk))


def test_a_field_with_generate_on_save_false(media: Media) -> None:
    photo = OnDemandPhoto.objects.create(image=upload("me.jpg"))
    assert thumb_files(media) == []
    assert all_records() == []
    small = OnDemandPhoto.objects.get(pk=photo.pk).image.thumbnails.small
    assert decoded(media, small.name) == ((100, 100), "JPEG")
    # Lifecycle still applies: replacing the file removes what was made lazily.
    photo.image = upload("other.jpg")
    photo.save()
    assert thumb_files(media) == []
    assert all_records() == []


def test_an_unreadable_upload_is_logged_not_raised(
    media: Media, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="thumbkit"):
        profile = Profile.objects.create(photo=ContentFile(b"not an image", name="bad.jpg"))
    assert Profile.objects.get(pk=profile.pk).photo.name == "profiles/bad.jpg"
    assert thumb_files(media) == []
    assert [r.spec for r in all_records()] == [FAILED_SPEC]  # the failure, remembered
    assert "Cannot make the thumbnails of testapp.Profile" in caplog.text


# --- the manifest column ---------------------------------------------------------------


def test_the_manifest_column_holds_the_records_after_upload(
    media: Media, django_assert_num_queries: Any
) -> None:
    profile = ManifestProfile.objects.create(photo=upload("me.jpg"))
    fresh = ManifestProfile.objects.get(pk=profile.pk)
    manifest = fresh.photo_thumbs
    assert manifest["source"] == source_key(coerce(fresh.photo))
    assert sorted(r["name"] for r in manifest["records"]) == thumb_files(media)
    assert sorted(r["name"] for r in manifest["records"]) == [r.name for r in records()]
    # The row carries what the page needs: no store query for its thumbnails.
    with django_assert_num_queries(0):
        sizes = [t.size for t in fresh.photo.thumbnails.all()]
    assert sizes == [(100, 100), (320, 240)]


def test_the_manifest_describes_the_new_file_only_after_replacement(media: Media) -> None:
    created = ManifestProfile.objects.create(photo=upload("first.jpg"))
    profile = ManifestProfile.objects.get(pk=created.pk)  # loaded with its manifest
    assert len(profile.photo_thumbs["records"]) == 2
    profile.photo = upload("second.jpg")
    profile.save()
    fresh = ManifestProfile.objects.get(pk=profile.pk)
    manifest = fresh.photo_thumbs
    assert manifest["source"] == source_key(coerce(fresh.photo))
    assert {r["source_name"] for r in manifest["records"]} == {"mprofiles/second.jpg"}
    assert sorted(r["name"] for r in manifest["records"]) == thumb_files(media)
    assert thumbnails_of("mprofiles/first.jpg") == []


def test_clearing_a_manifest_field_empties_the_manifest(media: Media) -> None:
    created = ManifestProfile.objects.create(photo=upload("first.jpg"))
    profile = ManifestProfile.objects.get(pk=created.pk)
    assert len(profile.photo_thumbs["records"]) == 2
    profile.photo = None
    profile.save()
    assert ManifestProfile.objects.get(pk=profile.pk).photo_thumbs == {}
    assert thumb_files(media) == []
    assert all_records() == []


@pytest.mark.parametrize("upload_mode", ["sync", "off"])
def test_an_overwritten_name_never_keeps_the_old_manifest(media: Media, upload_mode: str) -> None:
    # The manifest column comes before the file field here, so the row is written before
    # the file field's pre_save could empty it.
    created = OverwriteManifestPhoto.objects.create(image=ContentFile(images.jpeg(), name="a.jpg"))
    photo = OverwriteManifestPhoto.objects.get(pk=created.pk)  # loaded with its manifest
    old = photo.image.thumbnails.small
    assert [r["name"] for r in photo.thumbs["records"]] == [old.name]
    with thumbkit_settings(UPLOAD=upload_mode):
        photo.image = ContentFile(images.jpeg((300, 300)), name="a.jpg")
        photo.save()
    fresh = OverwriteManifestPhoto.objects.get(pk=photo.pk)
    assert fresh.image.name == "owmanifest/a.jpg"
    small = fresh.image.thumbnails.small
    assert small.url != old.url
    assert thumb_files(media) == [small.name]
    manifest = OverwriteManifestPhoto.objects.get(pk=photo.pk).thumbs
    assert [r["name"] for r in manifest["records"] if r["format"]] == [small.name]

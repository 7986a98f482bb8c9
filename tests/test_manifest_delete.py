"""A row's manifest column follows delete() and forget() of its file."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests import images
from tests.testapp.models import ManifestProfile
from thumbkit import delete
from thumbkit.lookup.api import forget
from thumbkit.lookup.batch import VERSION_SPEC

# On the local disk and on the S3 endpoint.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_storage")]


def make_row() -> ManifestProfile:
    row = ManifestProfile(name="m")
    row.photo.save("manifest-delete.jpg", ContentFile(images.jpeg((300, 200))), save=False)
    row.save()
    return ManifestProfile.objects.get(pk=row.pk)


def manifest_names(row: ManifestProfile) -> list[str]:
    row.refresh_from_db()
    return sorted(r["name"] for r in row.photo_thumbs["records"] if r["spec"] != VERSION_SPEC)


def test_delete_keeping_the_source_rewrites_the_manifest(settings: Any) -> None:
    row = make_row()
    old = row.photo.thumbnails.small
    assert old.name in manifest_names(row)
    delete(row.photo, delete_file=False)
    assert not default_storage.exists(old.name)
    assert manifest_names(row) == []
    # The manifest carries the new version: the next thumbnail has a new name.
    fresh = ManifestProfile.objects.get(pk=row.pk)
    again = fresh.photo.thumbnails.small
    assert again.name != old.name
    assert default_storage.exists(again.name)
    assert again.name in manifest_names(row)


def test_forget_empties_the_manifest() -> None:
    row = make_row()
    made = [t.name for t in row.photo.thumbnails.all()]
    forget(row.photo)
    assert manifest_names(row) == []
    assert not any(default_storage.exists(name) for name in made)

"""Helpers for the model-field tests: a storage per test, uploads, and what is on it.

The lifecycle tests assert on two things only: the files on the storage (below the test's
own ``MEDIA_ROOT``, or in the test's own bucket on the S3 endpoint) and the records in the
metadata store (``iter_all``).
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import images
from tests.s3 import Media, name_in_url
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.thumbnail import Thumbnail


@pytest.fixture
def media(media_storage: Media) -> Media:
    """A fresh storage, on the local disk and on the S3 endpoint: every file a test finds
    there, the test made."""
    return media_storage


def upload(name: str = "photo.jpg", size: tuple[int, int] = (400, 300)) -> SimpleUploadedFile:
    """A JPEG as a browser would upload it."""
    return SimpleUploadedFile(name, images.jpeg(size), content_type="image/jpeg")


def files(media: Media, under: str = "") -> list[str]:
    """Every file on the test's storage below ``under``, sorted."""
    return media.files(under)


def thumb_files(media: Media) -> list[str]:
    """The generated files (thumbkit's ``PREFIX`` is ``thumbs``)."""
    return media.files("thumbs")


def records() -> list[Thumbnail]:
    """Every record in the configured store that describes a thumbnail file."""
    return sorted((r for r in get_store().iter_all() if r.format), key=lambda r: r.name)


def all_records() -> list[Thumbnail]:
    """Every record, version markers included."""
    return sorted(get_store().iter_all(), key=lambda r: r.key)


def decoded(media: Media, name: str) -> tuple[tuple[int, int], str]:
    """The pixel size and format of a file, read from its bytes."""
    return media.decoded(name)


def url_path(url: str) -> str:
    """The storage name in a ``/media/...`` URL or an S3 URL."""
    return name_in_url(url)

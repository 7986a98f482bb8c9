"""Helpers for the model-field tests: a media root per test, uploads, and what is on disk.

The lifecycle tests assert on two things only: the files on the storage (below the test's
own ``MEDIA_ROOT``) and the records in the metadata store (``iter_all``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests import images
from thumbkit.stores import get_store
from thumbkit.thumbnail import Thumbnail


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    """A fresh ``MEDIA_ROOT``: every file a test finds there, the test made."""
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def upload(name: str = "photo.jpg", size: tuple[int, int] = (400, 300)) -> SimpleUploadedFile:
    """A JPEG as a browser would upload it."""
    return SimpleUploadedFile(name, images.jpeg(size), content_type="image/jpeg")


def files(root: Path, under: str = "") -> list[str]:
    """Every file below ``root / under``, relative to ``root``, sorted."""
    found: list[str] = []
    for directory, _dirs, names in os.walk(root / under):
        found.extend(os.path.relpath(os.path.join(directory, n), root) for n in names)
    return sorted(found)


def thumb_files(root: Path) -> list[str]:
    """The generated files (thumbkit's ``PREFIX`` is ``thumbs``)."""
    return files(root, "thumbs")


def records() -> list[Thumbnail]:
    """Every record in the configured store that describes a thumbnail file."""
    return sorted((r for r in get_store().iter_all() if r.format), key=lambda r: r.name)


def all_records() -> list[Thumbnail]:
    """Every record, version markers included."""
    return sorted(get_store().iter_all(), key=lambda r: r.key)


def decoded(root: Path, name: str) -> tuple[tuple[int, int], str]:
    """The pixel size and format of a file, read from its bytes."""
    with Image.open(io.BytesIO((root / name).read_bytes())) as image:
        return image.size, str(image.format)


def url_path(url: str) -> str:
    """The storage name in a ``/media/...`` URL."""
    assert url.startswith("/media/"), url
    return url.removeprefix("/media/")

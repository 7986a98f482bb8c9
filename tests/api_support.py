"""Storages and helpers for the API, template, budget and bad-source tests.

``StrictStorage`` proves a code path touches no file: every method that would do I/O
raises. ``CountingStorage`` records every storage call so a test can assert the exact list.
Both are plain FileSystemStorage subclasses configured through ``STORAGES``.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.test import override_settings
from PIL import Image

# Storage calls seen by CountingStorage, in order: (method, name).
CALLS: list[tuple[str, str]] = []

IO_METHODS = ("open", "save", "exists", "size", "delete", "listdir", "path", "get_modified_time")


class StorageTouched(BaseException):
    """Raised by StrictStorage: the code under test did storage I/O it must not do.

    A BaseException, so no ``except Exception`` on the way (error mapping, cleanup that
    logs and carries on) can turn the violation into something a test would accept.
    """


def _refuse(method: str) -> Any:
    def refuse(self: FileSystemStorage, name: str = "", *args: Any, **kwargs: Any) -> Any:
        raise StorageTouched(f"storage.{method}({name!r}) was called")

    return refuse


class StrictStorage(FileSystemStorage):
    """A storage whose only working method is ``url()``."""


for _method in IO_METHODS:
    setattr(StrictStorage, _method, _refuse(_method))


def _count(method: str) -> Any:
    original = getattr(FileSystemStorage, method)

    def counted(self: FileSystemStorage, name: str = "", *args: Any, **kwargs: Any) -> Any:
        CALLS.append((method, str(name)))
        return original(self, name, *args, **kwargs)

    return counted


class CountingStorage(FileSystemStorage):
    """A working FileSystemStorage that records every call in ``CALLS``."""


for _method in (*IO_METHODS, "url"):
    setattr(CountingStorage, _method, _count(_method))


class BrokenOpenStorage(FileSystemStorage):
    """A storage whose ``open`` fails the way a flaky disk or network share does."""

    def open(self, name: str, mode: str = "rb") -> Any:
        raise OSError(5, "Input/output error", name)


def storages_with(location: str, **aliases: str) -> dict[str, Any]:
    """A STORAGES dict whose aliases all use the given backend class path at ``location``."""
    config: dict[str, Any] = {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }
    for alias, backend in aliases.items():
        config[alias] = {"BACKEND": backend, "OPTIONS": {"location": location}}
    return config


@contextmanager
def only_storage(location: str, backend: str, **thumbkit: Any) -> Iterator[None]:
    """Make ``default`` and ``thumbs`` use ``backend``; thumbnails go to ``thumbs``."""
    from django.conf import settings

    storages = storages_with(location, default=backend, thumbs=backend)
    with override_settings(
        STORAGES=storages, THUMBKIT={**settings.THUMBKIT, "STORAGE": "thumbs", **thumbkit}
    ):
        yield


def files_under(root: str) -> list[str]:
    """Every file below ``root``, relative to it (empty if ``root`` does not exist)."""
    found = []
    for directory, _dirs, names in os.walk(root):
        found.extend(os.path.relpath(os.path.join(directory, n), root) for n in names)
    return sorted(found)


class Images(HTMLParser):
    """Collects the attributes of every <img> tag of a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.found.append(dict(attrs))


def file_size(url: str | None) -> tuple[int, int]:
    """The real size of the file an ``<img src>`` points to, read back from storage."""
    assert url is not None
    assert url.startswith("/media/")
    with default_storage.open(url.removeprefix("/media/"), "rb") as handle:
        data = handle.read()
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def thumbkit_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "thumbkit" and r.levelno == logging.WARNING]

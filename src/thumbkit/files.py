"""Writing and deleting thumbnail files: atomic, and with storage errors mapped."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage

from .exceptions import StorageError


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:  # storages raise their clients' errors (OSError, botocore, ...)
        raise StorageError(f"{action} failed: {exc}") from exc


def write(storage: Storage, name: str, data: bytes) -> str:
    """Write ``data`` under ``name`` so no reader ever sees a partial file; return the name."""
    with storage_errors(f"Writing {name!r}"):
        if _is_plain_filesystem(storage):
            assert isinstance(storage, FileSystemStorage)
            _replace_file(storage, name, data)
            return name
        # Remote object stores (S3 and friends) publish an object only once it is complete.
        return str(storage.save(name, ContentFile(data, name=os.path.basename(name))))


def delete(storage: Storage, name: str) -> None:
    with storage_errors(f"Deleting {name!r}"):
        storage.delete(name)


_PLAIN_SAVE = getattr(FileSystemStorage, "_save", None)


def _is_plain_filesystem(storage: Storage) -> bool:
    # Subclasses that override _save may do more than write bytes: let them.
    own_save = getattr(type(storage), "_save", None)
    return isinstance(storage, FileSystemStorage) and own_save is _PLAIN_SAVE


def _replace_file(storage: FileSystemStorage, name: str, data: bytes) -> None:
    path = storage.path(name)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    if storage.directory_permissions_mode is not None:
        os.chmod(directory, storage.directory_permissions_mode)
    # Write a temporary file next to the target, then rename it over the target: rename is
    # atomic on POSIX, so readers see the old file or the whole new one, never a part.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".thumbkit-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, storage.file_permissions_mode or 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

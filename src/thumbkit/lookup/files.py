"""Writing and deleting thumbnail files: atomic, and with storage errors mapped.

Local disks are written in place (a temporary file renamed over the target). A local storage
whose class overrides ``_save`` saves under a temporary name through its own ``save()``, and
thumbkit renames the file over the target. Other storages
get their files through ``storage.save()``, with the right Content-Type and, on S3, the
``Cache-Control`` header of ``THUMBKIT["CACHE_CONTROL"]``. Several files of one generation
going to remote storages are uploaded concurrently, on a small pool of threads that lives
as long as the process (storages such as S3Storage keep one connection per thread).
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import os
import posixpath
import secrets
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.utils.functional import LazyObject, empty

from ..conf import get_settings
from ..exceptions import StorageError

logger = logging.getLogger("thumbkit")

# Uploads of one generation in flight at once, and across the process: enough to hide
# the round trips of a few sizes, few enough not to flood a connection pool (botocore's
# holds 10 connections by default).
UPLOAD_THREADS = 8

CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}


@dataclass(frozen=True)
class Upload:
    """One file to write: ``data`` under ``name`` on ``storage``, in image format ``fmt``."""

    storage: Storage
    name: str
    data: bytes
    fmt: str = ""


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:  # storages raise their clients' errors (OSError, botocore, ...)
        raise StorageError(f"{action} failed: {exc}") from exc


def write(storage: Storage, name: str, data: bytes, fmt: str = "") -> str:
    """Write ``data`` under ``name`` so no reader ever sees a partial file; return the name."""
    with storage_errors(f"Writing {name!r}"):
        if _is_plain_filesystem(storage):
            assert isinstance(storage, FileSystemStorage)
            _replace_file(storage, name, data)
            return name
        if _local_path(storage, name) is not None:
            return _save_renamed(storage, name, data, fmt)
        # Remote object stores (S3 and friends) publish an object only once it is complete,
        # and have no path() to rename on: their own save() is already atomic for readers.
        return _save(storage, name, data, fmt)


def _save(storage: Storage, name: str, data: bytes, fmt: str) -> str:
    content = _Content(data, name=os.path.basename(name))
    content.content_type = content_type(fmt, name)  # S3Storage sends it as Content-Type
    return str(_with_headers(storage).save(name, content))


class _Content(ContentFile):  # type: ignore[type-arg]
    """A ContentFile that says what it holds, as uploaded files do."""

    content_type: str


def write_many(uploads: Sequence[Upload], written: list[tuple[Storage, str]]) -> list[str]:
    """Write every upload; return the names the files got, in order.

    ``(storage, name)`` is appended to ``written`` for each file that may exist afterwards,
    so the caller can remove them all if anything fails. Several uploads to remote storages
    (any but a FileSystemStorage) run concurrently, so such a storage must be usable from
    several threads (as one shared by a threaded server is anyway); local files are written
    one after the other (a rename takes microseconds, a thread does not). On an error the
    uploads in flight still finish (they cannot be taken back), then the first error is
    raised. A failed remote upload is listed too: a PUT whose answer was lost may have been
    stored all the same.
    """
    names = [""] * len(uploads)
    remote = [i for i, u in enumerate(uploads) if _is_remote(u.storage)]
    for i, upload in enumerate(uploads):
        if i not in remote:
            names[i] = write(upload.storage, upload.name, upload.data, upload.fmt)
            written.append((upload.storage, names[i]))
    if len(remote) == 1:
        names[remote[0]] = _write_one(uploads[remote[0]], written)
    elif remote:
        stored = _write_concurrently([uploads[i] for i in remote], written)
        for i, name in zip(remote, stored, strict=True):
            names[i] = name
    return names


def delete(storage: Storage, name: str) -> None:
    with storage_errors(f"Deleting {name!r}"):
        storage.delete(name)


def delete_many(items: Sequence[tuple[Storage, str]]) -> list[tuple[str, StorageError]]:
    """Delete each ``(storage, name)``; return the failures instead of raising them.
    Remote deletes run concurrently when there are several, like the uploads they undo."""
    remote = [i for i, (storage, _name) in enumerate(items) if _is_remote(storage)]
    pooled = set(remote) if len(remote) > 1 else set()
    futures = [_pool().submit(_try_delete, *items[i]) for i in sorted(pooled)]
    failures = [_try_delete(*item) for i, item in enumerate(items) if i not in pooled]
    failures += [future.result() for future in futures]
    return [failure for failure in failures if failure is not None]


def _try_delete(storage: Storage, name: str) -> tuple[str, StorageError] | None:
    try:
        delete(storage, name)
    except StorageError as exc:
        return name, exc
    return None


def fingerprint(storage: Storage, name: str) -> tuple[int, int] | None:
    """(inode, mtime in ns) of a local file, to tell it from a file written over it later;
    None for storages without local paths and for missing files."""
    path = _local_path(storage, name)
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


def content_type(fmt: str, name: str) -> str:
    found = CONTENT_TYPES.get(fmt.upper()) or mimetypes.guess_type(name)[0]
    return found or "application/octet-stream"


# --- remote writes ----------------------------------------------------------------------


def _write_one(upload: Upload, written: list[tuple[Storage, str]]) -> str:
    try:
        name = write(upload.storage, upload.name, upload.data, upload.fmt)
    except BaseException:
        written.append((upload.storage, upload.name))
        raise
    written.append((upload.storage, name))
    return name


def _write_concurrently(uploads: Sequence[Upload], written: list[tuple[Storage, str]]) -> list[str]:
    pool = _pool()
    futures = [pool.submit(write, u.storage, u.name, u.data, u.fmt) for u in uploads]
    wait(futures)
    errors = [f.exception() for f in futures]
    names = [
        u.name if error else f.result()
        for u, f, error in zip(uploads, futures, errors, strict=True)
    ]
    written.extend((u.storage, name) for u, name in zip(uploads, names, strict=True))
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first
    return names


_pool_lock = threading.Lock()
_pool_state: dict[str, Any] = {}


def _pool() -> ThreadPoolExecutor:
    """The process's upload pool, made on first use (and again in a forked child, whose
    copy of the parent's pool has no threads)."""
    with _pool_lock:
        if _pool_state.get("pid") != os.getpid():
            _pool_state["pool"] = ThreadPoolExecutor(UPLOAD_THREADS, "thumbkit-upload")
            _pool_state["pid"] = os.getpid()
        pool: ThreadPoolExecutor = _pool_state["pool"]
        return pool


# --- per-object headers on S3 -----------------------------------------------------------


def _with_headers(storage: Storage) -> Storage:
    """``storage`` itself, or for django-storages' S3Storage a view of it that adds
    ``CacheControl`` to the object parameters of the files thumbkit writes.

    django-storages' documented way to set per-object parameters is a subclass overriding
    ``get_object_parameters(name)``. The view is an instance of such a subclass that
    shares the storage's own ``__dict__`` (its options, connections and bucket), so nothing
    is copied, nothing of the configured storage changes, and uploads the application
    makes itself keep their own headers. A ``CacheControl`` in the storage's
    ``object_parameters`` wins.
    """
    cache_control = get_settings().cache_control
    if isinstance(storage, LazyObject):  # default_storage: the instance it wraps
        if storage._wrapped is empty:
            storage._setup()
        storage = storage._wrapped
    if not cache_control or not _is_s3(storage) or not hasattr(storage, "__dict__"):
        return storage
    cls: type = type(storage)
    view = object.__new__(_with_cache_control(cls, cache_control))
    view.__dict__ = storage.__dict__
    return view


@functools.lru_cache(maxsize=16)
def _with_cache_control(cls: type, cache_control: str) -> type[Storage]:
    def get_object_parameters(self: Any, name: str) -> dict[str, Any]:
        params: dict[str, Any] = super(view_class, self).get_object_parameters(name)
        params.setdefault("CacheControl", cache_control)
        return params

    view_class: type[Storage] = type(
        cls.__name__, (cls,), {"get_object_parameters": get_object_parameters}
    )
    return view_class


def _is_s3(storage: Storage) -> bool:
    s3_storage = _s3_class()
    return s3_storage is not None and isinstance(storage, s3_storage)


@functools.cache
def _s3_class() -> type | None:
    try:  # django-storages is optional; when it cannot be imported no storage is one of its
        from storages.backends.s3 import S3Storage
    except ImportError:
        return None
    found: type = S3Storage
    return found


# --- local writes -----------------------------------------------------------------------

_PLAIN_SAVE = getattr(FileSystemStorage, "_save", None)


def _is_remote(storage: Storage) -> bool:
    # Any FileSystemStorage writes to a local disk: threads would not make it faster.
    return not isinstance(storage, FileSystemStorage)


def _is_plain_filesystem(storage: Storage) -> bool:
    # Subclasses that override _save may do more than write bytes: let them.
    own_save = getattr(type(storage), "_save", None)
    return isinstance(storage, FileSystemStorage) and own_save is _PLAIN_SAVE


def _local_path(storage: Storage, name: str) -> str | None:
    """The file system path of ``name`` on ``storage``, or None for storages without one."""
    try:
        path = storage.path(name)
    except NotImplementedError:  # Storage.path() of remote storages
        return None
    return path if isinstance(path, str) and os.path.isabs(path) else None


def _save_renamed(storage: Storage, name: str, data: bytes, fmt: str) -> str:
    """Write through the storage's own ``save()`` (a subclass's ``_save`` may do more than
    write bytes) under a temporary name in the target's directory, then rename the whole
    file over the target, so a save that fails half-way never leaves a partial file under
    ``name``. A storage whose save picks another name than the temporary one asked for
    names files itself: its file is kept under the name it chose, as a plain save would."""
    directory, base = posixpath.split(name)
    tmp = posixpath.join(directory, f".thumbkit-{secrets.token_hex(8)}-{base}")
    try:
        saved = _save(storage, tmp, data, fmt)
    except BaseException:
        _discard(storage, tmp)
        raise
    if saved != tmp:
        return saved
    try:
        os.replace(storage.path(saved), storage.path(name))
    except BaseException:
        _discard(storage, saved)
        raise
    return name


def _discard(storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:  # the original error is the one to raise: only report this one
        logger.warning("Could not remove the temporary file %s", name, exc_info=True)


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

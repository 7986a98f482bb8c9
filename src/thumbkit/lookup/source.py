"""Sources: where an image comes from, and the identity its thumbnails are keyed by.

A source is a name on a storage. Its identity is ``"<storage id>:<name>"`` where the storage
id is the ``STORAGES`` alias when the storage is one of them (stable across processes and
releases), or the storage's class path and constructor arguments otherwise. A ``version``
string, when given, is part of the identity so a replaced file gets new thumbnails.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.core.files import File
from django.core.files.storage import Storage, default_storage, storages
from django.db.models.fields.files import FieldFile
from django.utils.functional import LazyObject, empty
from django.utils.module_loading import import_string

from ..conf import get_settings, on_reset
from ..exceptions import SourceError, SourceMissing, SourceTooLarge, StorageError
from .memo import ATTRIBUTE, Memo

logger = logging.getLogger("thumbkit")

_storage_ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
# The longest source name kept: Django's FileField default column is 100, thumbkit's record
# columns hold 1024; no storage needs more, and a longer name is refused before any I/O.
MAX_NAME_LENGTH = 1024


@dataclass(frozen=True)
class Source:
    """A source image: a name on a storage, plus an optional version."""

    name: str
    storage: Storage = field(compare=False, repr=False)
    storage_id: str
    version: str = ""
    # The object the source came from (a FieldFile or File); thumbnails resolved for it are
    # memoised on it, so a template that asks twice pays once. Not part of the identity.
    origin: Any = field(default=None, compare=False, repr=False)

    @cached_property
    def location(self) -> str:
        """Where the file is (``"<storage id>:<name>"``): the same for every version."""
        return f"{self.storage_id}:{self.name}"

    @property
    def identity(self) -> str:
        """The location plus the version: what thumbnail keys are made from."""
        return f"{self.location}@{self.version}" if self.version else self.location

    def read(self) -> bytes:
        """Read the whole source once, up to LIMITS["MAX_SOURCE_BYTES"].

        A missing file raises :class:`SourceMissing`, a file above the byte cap
        :class:`SourceTooLarge`, and any other failure of the storage (I/O, network,
        permissions) :class:`StorageError`: never the storage's own exception.
        """
        cap = get_settings().limits.max_source_bytes
        checked_name(self.name)  # a Source built directly, not by coerce, is checked too
        if self.origin is not None and _is_unsaved_file(self.origin):
            return _checked(_read_file(self.origin, cap), cap)
        try:
            data = _read_stored(self.storage, self.name, cap)
        except SuspiciousOperation as exc:
            # Django's security signal (a path outside the storage): logged for whoever
            # watches for probing, but to the page it is a file that is not there.
            logger.warning("Refused the source name %r: %s", _shown(self.name), exc)
            raise SourceMissing(
                f"Source {_shown(self.name)!r}: the name is not a valid file name on its storage."
            ) from exc
        except Exception as exc:  # storages raise their clients' errors (OSError, botocore, ...)
            raise _read_error(self.name, exc) from exc
        return _checked(data, cap)

    def memo(self) -> Memo | None:
        """The memo on the source's object (made on first use), or None for bare names."""
        if self.origin is None:
            return None
        memo: Memo | None = getattr(self.origin, ATTRIBUTE, None)
        if memo is None:
            memo = Memo()
            try:
                setattr(self.origin, ATTRIBUTE, memo)
            except AttributeError:  # an object that takes no attributes: nothing memoised
                return None
        return memo


def storage_id(storage: Storage) -> str:
    """The stable id of a storage: its STORAGES alias, or its class and arguments."""
    try:
        return _cached_storage_id(storage)
    except TypeError:  # a storage class that defines __eq__ without __hash__
        return _storage_id(storage)


@on_reset
@functools.lru_cache(maxsize=64)
def _cached_storage_id(storage: Storage) -> str:
    # Every row of a page asks with the same few storage objects: answer from a dict.
    return _storage_id(storage)


def _storage_id(storage: Storage) -> str:
    target = _unwrap(storage)
    try:
        return _storage_ids[target]
    except (KeyError, TypeError):
        pass
    found = _alias_of(target) or _describe(target)
    with contextlib.suppress(TypeError):
        _storage_ids[target] = found
    return found


def resolve_storage(alias: str) -> Storage:
    return storages[alias]


def coerce(source: Any, storage: Storage | None = None, version: str = "") -> Source:
    """Turn a FieldFile, a Django File, a Source or a storage name into a Source."""
    if isinstance(source, Source):
        return source
    if isinstance(source, FieldFile):
        return _field_source(source, version)
    if isinstance(source, File):
        if not source.name:
            raise SourceMissing("The file has no name.")
        store = storage or default_storage
        return Source(checked_name(str(source.name)), store, storage_id(store), version, source)
    if isinstance(source, str):
        if not source:
            raise SourceMissing("The source name is empty.")
        store = storage or default_storage
        return Source(checked_name(source), store, storage_id(store), version)
    if source is None or source == "":
        raise SourceMissing("No source given.")
    raise TypeError(f"Cannot use {type(source).__name__} as a thumbnail source.")


def _field_source(file: FieldFile, version: str) -> Source:
    """A FieldFile's Source, made once per file object: a page asks for it for every
    thumbnail of the row (and its peers' read), and a FieldFile keeps its own memo."""
    memo: Memo | None = file.__dict__.get(ATTRIBUTE)
    if memo is None:
        memo = file.__dict__[ATTRIBUTE] = Memo()
    known = memo.source
    if not version and known and known.name == file.name and known.storage is file.storage:
        return known
    if not file.name:
        raise SourceMissing("The file field is empty.")
    name = checked_name(file.name)
    made = Source(name, file.storage, storage_id(file.storage), version, file)
    if not version:
        memo.source = made
    return made


def checked_name(name: str) -> str:
    """``name``, or :class:`SourceMissing` for a name no storage can hold.

    A NUL byte ends a C string (file systems refuse it, and PostgreSQL text cannot hold it);
    a name longer than MAX_NAME_LENGTH fits no record column. Both would fail later as
    storage or store errors, which templates do not degrade: here they are the source's fault.
    """
    if "\x00" in name:
        raise SourceMissing(
            f"Source {_shown(name)!r}: the name holds a NUL character, "
            "which is not a valid file name on any storage."
        )
    if len(name) > MAX_NAME_LENGTH:
        raise SourceMissing(
            f"Source {_shown(name)!r}: the name has {len(name)} characters; "
            f"source names have at most {MAX_NAME_LENGTH}."
        )
    return name


def _shown(name: str) -> str:
    # Messages and logs quote a hostile name's start, not kilobytes of it.
    return name if len(name) <= 100 else f"{name[:100]}..."


def _unwrap(storage: Any) -> Any:
    # default_storage is a LazyObject; key the instance it wraps.
    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def _alias_of(storage: Any) -> str | None:
    # Only aliases configured with this storage's class are built to compare: building the
    # others could fail (staticfiles without STATIC_URL) or be slow (remote clients).
    for alias, config in storages.backends.items():
        if _backend_class(config) is type(storage) and storages[alias] is storage:
            return str(alias)
    return None


def _backend_class(config: Any) -> Any:
    try:
        return import_string(config["BACKEND"])
    except (ImportError, KeyError, TypeError):
        return None


def _describe(storage: Any) -> str:
    cls = type(storage)
    parts = [f"{cls.__module__}.{cls.__qualname__}"]
    if hasattr(storage, "deconstruct"):
        _path, args, kwargs = storage.deconstruct()
        parts.extend(repr(a) for a in args)
        parts.extend(f"{k}={kwargs[k]!r}" for k in sorted(kwargs))
    return "|".join(parts)


def _read_stored(storage: Storage, name: str, cap: int | None) -> bytes:
    # One byte past the cap is enough to refuse without reading a huge file.
    data = _read_s3(storage, name, cap)
    if data is None:
        with storage.open(name, "rb") as handle:
            data = _read_at_most(handle, cap)
    return bytes(data)


def _read_s3(storage: Storage, name: str, cap: int | None) -> bytes | None:
    """One GET for an S3Storage source (None for other storages).

    Opening the file through the storage costs two HEADs before the GET; generation needs
    only the bytes, and a ranged GET also keeps the byte cap on the server side.
    """
    s3 = _s3_storage_class()
    if s3 is None or not isinstance(storage, s3):
        return None
    remote: Any = storage  # django-storages is untyped
    from storages.utils import clean_name

    key = remote._normalize_name(clean_name(name))
    ranged = {"Range": f"bytes=0-{cap}"} if cap is not None else {}
    try:
        response = remote.bucket.Object(key).get(**ranged)
    except Exception as exc:
        error = (getattr(exc, "response", None) or {}).get("Error", {})
        if ranged and error.get("Code") == "InvalidRange":
            return b""  # an empty object has no byte 0: it is an empty source
        raise
    body: bytes = response["Body"].read()
    return body


@functools.cache
def _s3_storage_class() -> type | None:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # the s3 extra is not installed
        return None
    found: type = S3Storage
    return found


def _is_unsaved_file(obj: Any) -> bool:
    # A plain Django File (an upload, a ContentFile) carries its own bytes.
    return isinstance(obj, File) and not isinstance(obj, FieldFile)


def _read_at_most(handle: Any, cap: int | None) -> Any:
    """``handle.read()``, stopping one byte past ``cap``.

    ``read(n)`` of a real file reserves n bytes before reading: a 1 KB source read with the
    default 100 MiB cap would reserve 100 MiB of address space (what a memory-capped worker
    counts). When the file's size can be had from its descriptor, ask for no more than it.
    """
    if cap is None:
        return handle.read()
    try:
        size: int | None = os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # no descriptor (in memory, remote)
        size = None
    return handle.read(cap + 1 if size is None else min(size, cap) + 1)


def _read_file(obj: File, cap: int | None) -> bytes:  # type: ignore[type-arg]
    obj.seek(0)
    data = _read_at_most(obj, cap)
    obj.seek(0)
    return data if isinstance(data, bytes) else data.encode()


def _checked(data: bytes, cap: int | None) -> bytes:
    if cap is not None and len(data) > cap:
        raise SourceTooLarge(f"The source is larger than LIMITS['MAX_SOURCE_BYTES'] = {cap} bytes.")
    return data


def _read_error(name: str, exc: Exception) -> SourceError | StorageError:
    if isinstance(exc, FileNotFoundError | IsADirectoryError) or _looks_missing(exc):
        return SourceMissing(f"Source {name!r} does not exist on its storage.")
    return StorageError(f"Reading the source {name!r} from its storage failed: {exc}")


def _looks_missing(exc: Exception) -> bool:
    # botocore's errors say what happened; their messages quote the URL, where a "404"
    # may be part of the port or the file name of a read that timed out.
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status == 404 or response.get("Error", {}).get("Code") in ("NoSuchKey", "404")
    if type(exc).__module__.startswith("botocore"):
        return False  # no answer at all (connection refused, timeout): not a missing file
    # Remote storages without a FileNotFoundError mapping report a 404 in the message.
    text = str(exc)
    return "NoSuchKey" in text or "Not Found" in text or "404" in text

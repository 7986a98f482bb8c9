"""Repair: check thumbnail records against the files on storage, and the files against them.

:func:`scan` reads every record once (``store.iter_all``, batched by the store), lists each
storage location once under ``THUMBKIT["PREFIX"]`` (by prefix: ListObjectsV2 pages of 1000
objects on S3, ``os.scandir`` on disk; sizes and times come with the listing, never one
HEAD per file), and sorts what it finds:

* records whose file is gone, or empty (records keep no byte size, so a file of 0 bytes is
  the one size that is certainly wrong);
* files under the prefix that no record (nor a manifest column) names: leftovers of a
  generation inside a rolled-back transaction, of a store that was cleared, ...;
* ``.thumbkit-*.tmp`` files of an interrupted write on a FileSystemStorage (and the
  ``.thumbkit-<hex>-<name>`` ones of storages that override ``_save``);
* remembered failures of sources (``thumbkit.lookup.failures``): listed; those no longer used
  (expired, of an older version of the source, or of other LIMITS) are removed, and
  ``retry_failed`` patterns forget the live ones too, so their sources are tried again.

:func:`apply` then removes those records (or regenerates the thumbnails), deletes the files
(in batches of 1000 on S3) and rewrites the manifest columns that named removed records.

Files younger than ``min_age`` seconds (counted from the start of the scan) are never
deleted: a generation writes its file before its record, and a request's transaction can
keep the record invisible until it commits.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.apps import apps
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import models

from ..conf import get_settings
from ..core.spec import parse
from ..exceptions import ConfigurationError, ThumbkitError
from ..lookup import api, failures, files
from ..lookup.batch import FAILED_SPEC, VERSION_SPEC, to_manifest
from ..lookup.keys import source_key
from ..lookup.source import coerce, storage_id
from ..lookup.stores import get_store
from ..lookup.thumbnail import Thumbnail

MIN_AGE = 600.0  # seconds: orphan files younger than this are left alone
TEMP_AGE = 60.0  # seconds: interrupted writes' temp files older than this are swept
BATCH = 1000  # records deleted, objects deleted (S3's cap) or names queried at a time


@dataclass(frozen=True)
class Listed:
    name: str
    size: int | None
    modified: float | None  # POSIX time, or None when the listing does not say


@dataclass
class Place:
    """One physical location (aliases whose storages write to the same place share one)."""

    alias: str
    storage: Storage
    kind: str  # "filesystem", "s3" or "storage" (any other: listdir, then size per file)
    records: list[Thumbnail] = field(default_factory=list)
    named: set[str] = field(default_factory=set)  # names records or manifests point to
    listed: dict[str, Listed] = field(default_factory=dict)


@dataclass(frozen=True)
class FailedSource:
    """A remembered failure found by the scan."""

    record: Thumbnail
    failure: failures.Failure | None  # None: a record this release cannot read
    live: bool  # lookups still answer from it

    def matches(self, patterns: Sequence[str] | None) -> bool:
        if patterns is None:
            return False
        name = self.record.source_name
        return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)

    def describe(self, now: float | None = None) -> str:
        name = self.record.source_name
        if self.failure is None:
            return f"{name}: unreadable failure record"
        age = _age(self.failure.age(now))
        state = "" if self.live else ", no longer used"
        return f"{name}: {self.failure.error}: {self.failure.message} ({age} ago{state})"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


@dataclass
class RepairReport:
    records: int = 0
    listed: int = 0
    requests: int = 0  # list and batch-delete requests made to remote storages
    one_by_one: int = 0  # records outside the prefix, checked with a call each
    missing: list[Thumbnail] = field(default_factory=list)
    empty: list[Thumbnail] = field(default_factory=list)
    orphans: list[tuple[Place, str]] = field(default_factory=list)
    temps: list[tuple[Place, str]] = field(default_factory=list)
    young: int = 0  # orphans left alone because they are newer than min_age
    regenerated: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[FailedSource] = field(default_factory=list)  # remembered source failures
    by_alias: dict[str, Place] = field(default_factory=dict)

    def failed_to_forget(self, patterns: Sequence[str] | None) -> list[FailedSource]:
        """The failure records :func:`apply` removes: stale ones, and the live ones whose
        source name matches one of ``patterns`` (every one for an empty list; None: none)."""
        return [f for f in self.failed if not f.live or f.matches(patterns)]

    @property
    def broken(self) -> list[Thumbnail]:
        return [*self.missing, *self.empty]

    @property
    def places(self) -> list[Place]:
        return list({id(p): p for p in self.by_alias.values()}.values())

    def actions(self, regenerate: bool) -> int:
        """How many steps :func:`apply` takes (for a progress bar)."""
        broken = len(self.broken)
        return broken * (2 if regenerate else 1) + len(self.orphans) + len(self.temps)


# --- scanning ------------------------------------------------------------------------------


def scan(min_age: float = MIN_AGE, temp_age: float = TEMP_AGE) -> RepairReport:
    """Find broken records, orphan files and stale temp files; change nothing."""
    settings = get_settings()
    prefix = settings.prefix
    started = time.time()
    report = RepairReport()
    try:
        records = list(get_store().iter_all())
    except NotImplementedError as exc:
        raise ConfigurationError(f"Repair needs a store that can list its records: {exc}") from exc
    places = report.by_alias = _places(
        [settings.storage, *(r.storage_alias for r in records)], report
    )
    report.failed = _failed(records)
    for record in records:
        place = places.get(record.storage_alias)
        if record.spec not in (VERSION_SPEC, FAILED_SPEC) and place is not None:
            report.records += 1
            place.records.append(record)
            place.named.add(record.name)
    for alias, name in manifest_names():
        if alias in places:
            places[alias].named.add(name)
    if not prefix:
        report.notes.append(
            "THUMBKIT['PREFIX'] is empty: thumbnails share the storage root with other files, "
            "so files without a record are not deleted."
        )
    for place in report.places:
        with files.storage_errors(f"Listing {prefix or 'the root'}/ on {place.alias!r}"):
            place.listed = {item.name: item for item in _list(place, prefix, report)}
            _check_records(place, prefix, report)
        report.listed += len(place.listed)
        if prefix:
            _find_orphans(place, started - min_age, started - temp_age, report)
    return report


def _failed(records: list[Thumbnail]) -> list[FailedSource]:
    versions = {r.source_key: r.name for r in records if r.spec == VERSION_SPEC}
    found = []
    for record in records:
        if record.spec == FAILED_SPEC:
            failure = failures.parse(record)
            version = versions.get(record.source_key, "")
            live = failure is not None and failure.is_live(version)
            found.append(FailedSource(record, failure, live))
    return sorted(found, key=lambda f: f.record.source_name)


def _places(aliases: Iterable[str], report: RepairReport) -> dict[str, Place]:
    """A Place per alias; aliases writing to one location share one Place."""
    by_alias: dict[str, Place] = {}
    by_location: dict[tuple[str, ...], Place] = {}
    for alias in dict.fromkeys(a for a in aliases if a):
        try:
            storage = storages[alias]
        except Exception as exc:  # an alias gone from STORAGES: its records stay untouched
            report.notes.append(f"Storage alias {alias!r} is not usable ({exc}); skipped.")
            continue
        kind, location = _location(alias, storage)
        place = by_location.setdefault(location, Place(alias, storage, kind))
        by_alias[alias] = place
    return by_alias


def _location(alias: str, storage: Storage) -> tuple[str, tuple[str, ...]]:
    if isinstance(storage, FileSystemStorage):
        return "filesystem", ("filesystem", os.path.realpath(storage.location))
    if _is_s3(storage):
        s3: Any = storage
        return "s3", ("s3", str(s3.endpoint_url or ""), s3.bucket_name, s3.location.strip("/"))
    return "storage", ("alias", alias)


def _is_s3(storage: Storage) -> bool:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # django-storages (the s3 extra) is not installed
        return False
    return isinstance(storage, S3Storage)


def _check_records(place: Place, prefix: str, report: RepairReport) -> None:
    inside = f"{prefix}/" if prefix else ""
    for record in place.records:
        if record.name.startswith(inside):
            item = place.listed.get(record.name)
            size = None if item is None else item.size
            exists = item is not None
        else:  # named outside the prefix (PREFIX changed since): one call for this one
            report.one_by_one += 1
            exists, size = _stat(place.storage, record.name)
        if not exists:
            report.missing.append(record)
        elif size == 0:
            report.empty.append(record)


def _stat(storage: Storage, name: str) -> tuple[bool, int | None]:
    try:
        return True, storage.size(name)
    except FileNotFoundError:
        return False, None
    except Exception:
        return storage.exists(name), None


def _find_orphans(place: Place, cutoff: float, temp_cutoff: float, report: RepairReport) -> None:
    for name, item in place.listed.items():
        if name in place.named:
            continue
        base = posixpath.basename(name)
        temp = is_temp_name(base)
        modified = item.modified if item.modified is not None else _modified(place, name)
        if modified is None or modified > (temp_cutoff if temp else cutoff):
            report.young += 0 if temp else 1  # or of unknown age: never deleted blindly
            continue
        (report.temps if temp else report.orphans).append((place, name))


# Temp names of an interrupted write: ".thumbkit-<random>.tmp" (a plain FileSystemStorage) or
# ".thumbkit-<16 hex>-<name>" (a storage that overrides _save: its own save() writes it).
_TEMP = re.compile(r"\.thumbkit-(.+\.tmp|[0-9a-f]{16}-.+)")


def is_temp_name(base: str) -> bool:
    return _TEMP.fullmatch(base) is not None


def _modified(place: Place, name: str) -> float | None:
    try:
        return place.storage.get_modified_time(name).timestamp()
    except Exception:  # a storage that cannot tell
        return None


# --- listing -------------------------------------------------------------------------------


def _list(place: Place, prefix: str, report: RepairReport) -> Iterator[Listed]:
    if place.kind == "filesystem":
        assert isinstance(place.storage, FileSystemStorage)
        return _list_filesystem(place.storage, prefix)
    if place.kind == "s3":
        return _list_s3(place.storage, prefix, report)
    return _list_generic(place.storage, prefix)


def _list_filesystem(storage: FileSystemStorage, prefix: str) -> Iterator[Listed]:
    root = storage.path(prefix) if prefix else storage.location
    base = os.path.abspath(storage.location)
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue  # nothing generated yet
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                name = os.path.relpath(entry.path, base).replace(os.sep, "/")
                yield Listed(name, stat.st_size, stat.st_mtime)


def _list_s3(storage: Any, prefix: str, report: RepairReport) -> Iterator[Listed]:
    """Every object under the prefix: one ListObjectsV2 request per 1000 objects."""
    location = storage.location.strip("/")
    root = "/".join(p for p in (location, prefix) if p)
    root = f"{root}/" if root else ""
    client = storage.connection.meta.client
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=storage.bucket_name, Prefix=root
    )
    cut = len(location) + 1 if location else 0
    for page in pages:
        report.requests += 1
        for entry in page.get("Contents", ()):
            modified = entry.get("LastModified")
            yield Listed(
                entry["Key"][cut:], entry.get("Size"), modified.timestamp() if modified else None
            )


def _list_generic(storage: Storage, prefix: str) -> Iterator[Listed]:
    """Any other storage: ``listdir`` down the tree, then ``size`` per file (slower)."""
    stack = [prefix]
    while stack:
        directory = stack.pop()
        try:
            dirs, names = storage.listdir(directory)
        except FileNotFoundError:
            continue
        stack.extend(posixpath.join(directory, d) for d in dirs)
        for base in names:
            name = posixpath.join(directory, base)
            yield Listed(name, storage.size(name), None)


# --- manifests -----------------------------------------------------------------------------


def manifest_fields() -> list[tuple[type[models.Model], Any]]:
    """Every (model, thumbkit ImageField) whose row keeps a manifest column."""
    from ..fields import thumbkit_fields

    return [
        (model, f)
        for model in apps.get_models()
        for f in thumbkit_fields(model)
        if f.manifest_field
    ]


def manifest_names() -> Iterator[tuple[str, str]]:
    """(storage alias, name) of every thumbnail a manifest column names: pages read those
    without asking the store, so their files are in use even if the store forgot them."""
    for model, f in manifest_fields():
        values = model._base_manager.values_list(f.manifest_field, flat=True)
        for value in values.iterator(chunk_size=2000):
            for record in value.get("records", []) if isinstance(value, dict) else []:
                if isinstance(record, dict) and record.get("spec") != VERSION_SPEC:
                    yield str(record.get("storage_alias", "")), str(record.get("name", ""))


def refresh_manifests(records: Iterable[Thumbnail]) -> int:
    """Rewrite the manifest columns of the rows whose source a changed record belongs to."""
    changed = {r.source_key: r.source_name for r in records}
    if not changed:
        return 0
    store, updated = get_store(), 0
    for model, f in manifest_fields():
        for names in _chunks(iter(sorted(set(changed.values()))), BATCH):
            rows = model._base_manager.filter(**{f"{f.attname}__in": names})
            keyed = [
                (pk, name, source_key(coerce(name, storage=f.storage)))
                for pk, name in rows.values_list("pk", f.attname)
            ]
            keyed = [row for row in keyed if row[2] in changed]
            found = store.get_sources([k for _, _, k in keyed]) if keyed else {}
            for pk, name, key in keyed:
                value = to_manifest(key, found.get(key, {}).values())
                row = model._base_manager.filter(pk=pk, **{f.attname: name})
                updated += row.update(**{f.manifest_field: value})
    return updated


# --- applying ------------------------------------------------------------------------------


Advance = Callable[[int], None]


def apply(
    report: RepairReport,
    regenerate: bool = False,
    advance: Advance | None = None,
    retry_failed: Sequence[str] | None = None,
) -> None:
    """Fix what :func:`scan` found: records, then files, then manifests.

    Failure records no longer used are removed, and so are the live ones matching
    ``retry_failed`` (see :meth:`Report.failed_to_forget`).
    """
    step: Advance = advance or (lambda n: None)
    broken = report.broken
    store = get_store()
    forgotten = report.failed_to_forget(retry_failed)
    for chunk in _chunks(iter(forgotten), BATCH):
        store.delete_many([f.record.key for f in chunk])
    for chunk in _chunks(iter(broken), BATCH):
        store.delete_many([r.key for r in chunk])
    # An empty file goes with its record (a regeneration writes it again).
    empty = [(report.by_alias[r.storage_alias], r.name) for r in report.empty]
    for place, names in _by_place(empty):
        _delete(place, names, report)
    step(len(broken))
    if regenerate:
        _regenerate(broken, report, step)
    for place, names in _by_place([*report.orphans, *report.temps]):
        _delete(place, names, report)
        step(len(names))
    refresh_manifests(broken)


def _by_place(pairs: Sequence[tuple[Place, str]]) -> list[tuple[Place, list[str]]]:
    grouped: dict[int, tuple[Place, list[str]]] = {}
    for place, name in pairs:
        grouped.setdefault(id(place), (place, []))[1].append(name)
    return list(grouped.values())


def _delete(place: Place, names: list[str], report: RepairReport) -> None:
    if place.kind == "s3":
        _delete_s3(place.storage, names, report)
        return
    for name in names:
        try:
            files.delete(place.storage, name)
        except ThumbkitError as exc:
            report.failures.append(f"{place.alias}:{name}: {exc}")


def _delete_s3(storage: Any, names: list[str], report: RepairReport) -> None:
    """DeleteObjects, 1000 keys a request (S3's cap), instead of a DELETE per file."""
    location = storage.location.strip("/")
    client = storage.connection.meta.client
    for chunk in _chunks(iter(names), BATCH):
        keys = [{"Key": "/".join(p for p in (location, n) if p)} for n in chunk]
        report.requests += 1
        try:
            answer = client.delete_objects(
                Bucket=storage.bucket_name, Delete={"Objects": keys, "Quiet": True}
            )
        except Exception as exc:  # botocore's errors, mapped to a line of the report
            report.failures.extend(f"{n}: {type(exc).__name__}: {exc}" for n in chunk)
            continue
        report.failures.extend(
            f"{e.get('Key')}: {e.get('Code')}: {e.get('Message')}" for e in answer.get("Errors", [])
        )


def _regenerate(broken: list[Thumbnail], report: RepairReport, step: Advance) -> None:
    """Make the thumbnails of broken records again, from their sources (one read each)."""
    by_source: dict[str, list[Thumbnail]] = {}
    for record in broken:
        by_source.setdefault(record.source_key, []).append(record)
    finder = SourceFinder()
    for key, records in by_source.items():
        first = records[0]
        storage = finder.storage_of(first.source_name, key)
        if storage is None:
            report.failures.append(f"{first.source_name}: cannot tell its storage; not remade")
            continue
        try:
            specs = list({r.spec: parse(r.spec) for r in records}.values())
            report.regenerated += api.ensure(coerce(first.source_name, storage=storage), specs)
        except ThumbkitError as exc:
            report.failures.append(f"{first.source_name}: {type(exc).__name__}: {exc}")
        step(len(records))


class SourceFinder:
    """The storage of a source named in a record: the one whose source key matches.

    Records keep the source's name and key, not its storage; the candidates are every
    STORAGES alias and the storage of every file field. Pure computation, no I/O.
    """

    def __init__(self) -> None:
        candidates: dict[str, Storage] = {}
        for alias in storages.backends:
            try:
                candidates.setdefault(storage_id(storages[alias]), storages[alias])
            except Exception:  # an alias that cannot be built holds no sources
                continue
        for model in apps.get_models():
            for f in model._meta.get_fields():
                if isinstance(f, models.FileField):
                    candidates.setdefault(storage_id(f.storage), f.storage)
        self.candidates = list(candidates.values())

    def storage_of(self, name: str, key: str) -> Storage | None:
        for storage in self.candidates:
            if source_key(coerce(name, storage=storage)) == key:
                return storage
        return None


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(items, size)):
        yield chunk

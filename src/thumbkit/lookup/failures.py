"""Remembered failures: a source that cannot be used is not read again on every render.

When generation fails with a :class:`~thumbkit.exceptions.SourceError` (the file is missing,
unreadable, or over ``LIMITS``), a *failure record* is written to the store under the
source's index, beside its thumbnails and its version record (spec ``FAILED_SPEC``). Lookups
read it in the same round trip as the source's other records, and raise the same error
class with the recorded message, without reading the source or taking a lock, until:

* ``THUMBKIT["FAILURE_TTL"]`` seconds have passed (0 or None: failures are not remembered);
* the source's version changes (a re-upload under the same name), or the source is
  forgotten or deleted (the record goes with the source's other records);
* ``LIMITS`` or ``ENGINE`` change (what failed under one may pass under the other);
* ``thumbkit_repair --retry-failed`` forgets it.

Storage and store errors (``StorageError``, ``StoreUnavailable``) and generation errors are
transient and never remembered; nor are sources that are unsaved files (an upload not on
its storage yet has no stable identity). A ``SourceTooLarge`` may depend on the spec (JPEGs
are counted at the draft size the requested output allows), so it is remembered for the
specs that failed only; the other errors are the source's whatever the spec.

The record is a :class:`~thumbkit.lookup.thumbnail.Thumbnail` whose ``name`` is compact JSON (at
most ``NAME_MAX`` characters, the db column's size; the message is shortened to fit).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.files import File
from django.db.models.fields.files import FieldFile

from ..conf import get_settings, on_reset
from ..core.spec import Spec
from ..exceptions import SourceError, SourceMissing, SourceTooLarge, SourceUnreadable, ThumbkitError
from .batch import FAILED_SPEC, remember
from .keys import KEY_VERSION, source_key
from .source import Source
from .stores import get_store
from .thumbnail import Thumbnail

logger = logging.getLogger("thumbkit")

NAME_MAX = 1024  # ThumbnailRecord.name's max_length
MESSAGE_MAX = 400  # characters of the original message kept
ATTRIBUTE = "thumbkit_failure"  # set on a remembered error: the Failure it was raised from

CLASSES: dict[str, type[SourceError]] = {
    cls.__name__: cls for cls in (SourceError, SourceMissing, SourceUnreadable, SourceTooLarge)
}


@dataclass(frozen=True)
class Failure:
    """What a failure record says."""

    source_name: str
    error: str  # the SourceError subclass's name
    message: str
    at: float  # POSIX time of the failure
    version: str  # the source version that failed
    setup: str  # fingerprint of LIMITS and ENGINE at the time
    specs: tuple[str, ...] | None  # the canonical specs it holds for; None: every spec

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.at)

    def is_live(self, version: str, now: float | None = None) -> bool:
        """Still to be answered from: same version and setup, younger than FAILURE_TTL."""
        ttl = get_settings().failure_ttl
        return (
            ttl > 0
            and self.version == version
            and self.setup == setup_fingerprint()
            and self.age(now) < ttl
        )

    def covers(self, spec: Spec) -> bool:
        return self.specs is None or spec.canonical in self.specs

    def exception(self) -> SourceError:
        """The error to raise again: the same class, the recorded message, and when it ends."""
        expires = self.at + get_settings().failure_ttl
        text = (
            f"{self.message} [remembered failure of {_when(self.at)}: not retried until "
            f"{_when(expires)}, a new version of the source, or thumbkit_repair --retry-failed]"
        )
        exc = CLASSES.get(self.error, SourceError)(text)
        vars(exc)[ATTRIBUTE] = self
        return exc


def remembered(exc: BaseException) -> Failure | None:
    """The failure a remembered error was raised from (None for a fresh error)."""
    found = vars(exc).get(ATTRIBUTE)
    return found if isinstance(found, Failure) else None


def failure_key(src: Source) -> str:
    """The failure record's key: one per source location (all versions share it)."""
    return _key(src.location)


@functools.lru_cache(maxsize=16384)
def _key(location: str) -> str:
    text = f"thumbkit-failed:{KEY_VERSION}\0{location}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def forget(src: Source) -> None:
    """Forget the source's failure record, so its next lookup reads it again (``--force``)."""
    get_store().delete_many([failure_key(src)])


def key_if_remembered(src: Source) -> str | None:
    """The failure key of ``src``, or None when its failures are not remembered."""
    if get_settings().failure_ttl <= 0 or _is_unsaved(src):
        return None
    return failure_key(src)


def _is_unsaved(src: Source) -> bool:
    # An upload's bytes are its own, not the storage's: its name says nothing yet.
    origin = src.origin
    return isinstance(origin, File) and not isinstance(origin, FieldFile)


def parse(record: Thumbnail | None) -> Failure | None:
    if record is None or record.spec != FAILED_SPEC:
        return None
    try:
        data: Any = json.loads(record.name)
        specs = data.get("s")
        return Failure(
            source_name=record.source_name,
            error=str(data["e"]),
            message=str(data["m"]),
            at=float(data["t"]),
            version=str(data["v"]),
            setup=str(data["l"]),
            specs=None if specs is None else tuple(str(s) for s in specs),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # not a record this release wrote: ignored, retried, overwritten


def live_failure(src: Source, records: Mapping[str, Thumbnail]) -> Failure | None:
    """The live failure among a source's records (``src.version`` is the current one)."""
    if not records:
        return None
    key = key_if_remembered(src)
    if key is None:
        return None
    failure = parse(records.get(key))
    return failure if failure is not None and failure.is_live(src.version) else None


def check(src: Source, records: Mapping[str, Thumbnail], specs: Iterable[Spec]) -> None:
    """Raise the remembered error if a live failure of ``src`` covers one of ``specs``."""
    failure = live_failure(src, records)
    if failure is not None and any(failure.covers(spec) for spec in specs):
        raise failure.exception()


def record(src: Source, exc: SourceError, specs: Iterable[Spec], previous: Any = None) -> None:
    """Remember that generating ``specs`` of ``src`` failed with ``exc``.

    ``previous`` is the failure record read before generating, if any: a ``SourceTooLarge``
    of the same version adds its specs to it. A store that cannot take the record is
    logged: the caller raises ``exc`` either way.
    """
    key = key_if_remembered(src)
    if key is None:
        return
    canonical = None
    if isinstance(exc, SourceTooLarge):
        canonical = [spec.canonical for spec in specs]
        old = parse(previous)
        if old is not None and old.specs is not None and old.is_live(src.version):
            canonical = list(dict.fromkeys([*old.specs, *canonical]))
    thumb = failure_record(src, key, exc, canonical)
    try:
        get_store().set_many([thumb])
    except ThumbkitError:
        logger.warning("Could not remember the failure of %r", src.name, exc_info=True)
        return
    remember(src, {key: thumb})  # this object's next lookup answers without the store


def failure_record(
    src: Source, key: str, exc: SourceError, specs: list[str] | None, now: float | None = None
) -> Thumbnail:
    data: dict[str, Any] = {
        "e": type(exc).__name__ if type(exc).__name__ in CLASSES else SourceError.__name__,
        "m": str(exc)[:MESSAGE_MAX],
        "t": round(time.time() if now is None else now, 3),
        "v": src.version,
        "l": setup_fingerprint(),
    }
    if specs is not None:
        data["s"] = specs
    return Thumbnail(
        key=key,
        name=_fitted(data),
        width=0,
        height=0,
        format="",
        storage_alias="",
        source_key=source_key(src),
        spec=FAILED_SPEC,
        source_name=src.name,
    )


def _fitted(data: dict[str, Any]) -> str:
    """Compact JSON of at most NAME_MAX characters: the message shortened, then specs dropped
    (a spec left out is only retried, never wrongly refused)."""
    text = _dumps(data)
    while len(text) > NAME_MAX:
        if len(data["m"]) > 40:
            data["m"] = data["m"][: max(40, len(data["m"]) - (len(text) - NAME_MAX) - 1)]
        elif data.get("s"):
            data["s"] = data["s"][:-1]
        else:
            data["m"] = ""
            data["v"] = data["v"][:100]
        text = _dumps(data)
    return text


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


@on_reset
@functools.cache
def setup_fingerprint() -> str:
    """What a failure depended on besides the file: LIMITS and ENGINE."""
    settings = get_settings()
    text = repr((settings.limits, settings.engine))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

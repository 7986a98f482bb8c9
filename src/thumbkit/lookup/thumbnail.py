"""The thumbnail record: what the store keeps, and what templates and callers get back.

A :class:`Thumbnail` carries everything a page needs (name, width, height, format); its
``url`` is computed by the storage from the name, never fetched or checked.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Hashable, Sequence
from dataclasses import MISSING, asdict, dataclass, replace
from functools import cached_property
from typing import Any, ClassVar, Self, TypeVar, cast, overload
from urllib.parse import quote, urlsplit, urlunsplit

from django.core.files.storage import FileSystemStorage, Storage, storages

from ..conf import get_settings, on_reset
from ..core import lqip


def storage_url(alias: str, name: str) -> str:
    """The storage's own URL for ``name``, remembered where it is a pure function of the name.

    A plain FileSystemStorage's URL depends only on the name and MEDIA_URL, and so does an
    S3Storage's when it does not sign (``querystring_auth`` off, or a ``custom_domain``
    without a CloudFront signer): those are cached (and forgotten when settings change).
    Other storages may sign or expire their URLs, so they are asked every time.
    """
    if _is_pure(alias):
        return _stable_url(alias, name)
    return str(storages[alias].url(name))


def thumbnail_url(alias: str, name: str, key: str) -> str:
    """A thumbnail's URL: the storage's, then URL_DOMAIN, CACHE_BUSTER and FORCE_SSL."""
    if _is_pure(alias):
        return _stable_thumbnail_url(alias, name, key)
    return url_policy().apply(str(storages[alias].url(name)), key)


@on_reset
@functools.lru_cache(maxsize=64)
def _is_pure(alias: str) -> bool:
    return url_is_pure(storages[alias])


def url_is_pure(storage: Storage) -> bool:
    """Whether ``storage.url(name)`` depends on nothing but ``name`` (no signature, no expiry)."""
    cls = type(storage)
    if isinstance(storage, FileSystemStorage):
        return cls.url is FileSystemStorage.url
    # Looked up, not imported: an S3Storage instance means its module is loaded already.
    s3 = getattr(sys.modules.get("storages.backends.s3"), "S3Storage", None)
    if s3 is None or not isinstance(storage, s3) or cls.url is not s3.url:
        return False
    custom_domain = getattr(storage, "custom_domain", None)
    signer = getattr(storage, "cloudfront_signer", None)
    signed = getattr(storage, "querystring_auth", True) and (not custom_domain or signer)
    return not signed


@on_reset
@functools.lru_cache(maxsize=16384)
def _stable_url(alias: str, name: str) -> str:
    return str(storages[alias].url(name))


@on_reset
@functools.lru_cache(maxsize=16384)
def _stable_thumbnail_url(alias: str, name: str, key: str) -> str:
    return url_policy().apply(_stable_url(alias, name), key)


_T = TypeVar("_T")

AUTO = "auto"
# A query string that already carries a version or a signature is left as it is.
_HAS_VERSION = re.compile(r"[?&]v=")
_SIGNED = ("Signature=", "X-Amz-Signature=", "X-Goog-Signature=", "sig=")


@dataclass(frozen=True)
class UrlPolicy:
    """django-athumb's URL features, from THUMBKIT settings, applied to every thumbnail URL.

    ``domain`` is (scheme or "", host) from URL_DOMAIN; ``buster`` is CACHE_BUSTER's text,
    or ``AUTO`` for a version derived from the thumbnail's key (which changes whenever the
    source does); ``force_ssl`` is FORCE_SSL.
    """

    domain: tuple[str, str] | None = None
    buster: str | None = None
    force_ssl: bool = False

    def apply(self, url: str, key: str) -> str:
        if self.domain is not None and not is_signed(url):
            url = with_domain(url, *self.domain)
        if self.buster is not None:
            url = with_buster(url, key[:10] if self.buster == AUTO else self.buster)
        return https(url) if self.force_ssl else url


@on_reset
@functools.cache
def url_policy() -> UrlPolicy:
    settings = get_settings()
    buster = settings.cache_buster
    return UrlPolicy(
        domain=parse_domain(settings.url_domain) if settings.url_domain else None,
        buster=buster or None,
        force_ssl=settings.force_ssl,
    )


def parse_domain(value: str) -> tuple[str, str]:
    """``"cdn.example.com"``, ``"//cdn.example.com"`` or ``"https://cdn.example.com"``."""
    parts = urlsplit(value if "//" in value else f"//{value}")
    return parts.scheme, parts.netloc


def with_domain(url: str, scheme: str, host: str) -> str:
    """``url`` served from ``host``: its scheme kept (or ``scheme``, else https), path kept."""
    parts = urlsplit(url)
    path = parts.path if parts.path.startswith("/") else f"/{parts.path}"
    return urlunsplit((scheme or parts.scheme or "https", host, path, parts.query, parts.fragment))


def with_buster(url: str, version: str) -> str:
    """``url`` with ``v=version`` added, once: after ``&`` when it has a query string already."""
    if not version or _HAS_VERSION.search(url):
        return url
    return f"{url}{'&' if '?' in url else '?'}v={quote(version, safe='')}"


def https(url: str) -> str:
    """``http://`` and protocol-relative URLs made https; relative URLs follow the page."""
    if url.startswith("http://"):
        return f"https://{url[7:]}"
    if url.startswith("//"):
        return f"https:{url}"
    return url


def is_signed(url: str) -> bool:
    # Rewriting the host of a signed URL breaks its signature (S3 signs the host).
    return "?" in url and any(mark in url for mark in _SIGNED)


class _Url:
    """``Thumbnail.url``: computed on first use, and kept on the record only when it is a
    pure function of the name. A signed URL (S3 querystring auth) expires, so a record that
    lives long (a memo, a cache) must sign again on every use rather than keep the first."""

    @overload
    def __get__(self, record: None, owner: type | None = None) -> _Url: ...
    @overload
    def __get__(self, record: Thumbnail, owner: type | None = None) -> str: ...
    def __get__(self, record: Thumbnail | None, owner: type | None = None) -> _Url | str:
        if record is None:
            return self
        url = thumbnail_url(record.storage_alias, record.name, record.key)
        if _is_pure(record.storage_alias):
            # A non-data descriptor: the instance attribute now answers without this call.
            record.__dict__["url"] = url
        return url


class UnknownSize(int):
    """The width or height of a record whose size is not known: 0 for code, "" on a page.

    It is an ``int`` equal to 0, so it is falsy (``{% if t.width %}``, ``if t.width:``) and
    typed like any size; but ``str()`` (what a template renders) gives ``""``, so
    ``width="{{ t.width }}"`` never tells the browser 0 (an invisible image). Formatting in
    Python (``f"{t.width}"``, ``%d``) and JSON still write 0.
    """

    def __new__(cls) -> Self:
        return super().__new__(cls, 0)

    def __str__(self) -> str:
        return ""

    def __format__(self, spec: str) -> str:
        return format(0, spec)

    def __reduce__(self) -> tuple[type[UnknownSize], tuple[()]]:
        return UnknownSize, ()


UNKNOWN = UnknownSize()


@dataclass(frozen=True)
class Thumbnail:
    """A stored thumbnail. ``placeholder_color`` (CSS hex) and ``thumbhash`` (base64) are its
    source's placeholder, computed at generation; ``""`` in records made before thumbkit kept
    them, and in pseudo-records (a source's version, a remembered failure)."""

    key: str
    name: str
    width: int
    height: int
    format: str
    storage_alias: str
    source_key: str
    spec: str
    source_name: str
    placeholder_color: str = ""
    thumbhash: str = ""

    @cached_property
    def storage(self) -> Storage:
        return storages[self.storage_alias]

    url = _Url()

    @property
    def placeholder_uri(self) -> str:
        """A ``data:image/png;base64,...`` preview decoded from the ThumbHash (no I/O,
        remembered per hash), or ``""`` when the record has none."""
        return lqip.preview_uri(self.thumbhash) if self.thumbhash else ""

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def ratio(self) -> float:
        """Width over height; 0.0 when the size is not known (a predicted record)."""
        return self.width / self.height if self.height else 0.0

    @property
    def is_portrait(self) -> bool:
        return self.height > self.width

    def __str__(self) -> str:
        return self.url

    def __bool__(self) -> bool:
        return True

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Thumbnail:
        """Build from values in field order. A store's row (a tuple) answers with the record
        already built from an equal row (:func:`decoded`)."""
        if cls is Thumbnail and type(row) is tuple:
            return decoded(row, lambda: _built(cls, row))
        return _built(cls, row)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thumbnail:
        """From ``to_dict``'s output; fields added later (the placeholder) may be missing
        from records written before them, and take their defaults."""
        if data.keys() == _FIELD_NAMES:  # every field, nothing else: the usual record
            thumb = object.__new__(cls)
            thumb.__dict__.update(data)
            return thumb
        return _built(cls, [data[name] if name in data else _DEFAULTS[name] for name in _FIELDS])

    @classmethod
    def from_json(cls, text: str | bytes) -> Thumbnail:
        """From ``to_json``'s output, or the record already decoded from equal text."""
        if cls is Thumbnail:
            return decoded(text, lambda: _from_json(cls, text))
        return _from_json(cls, text)


def _from_json(cls: type[Thumbnail], text: str | bytes) -> Thumbnail:
    # Text, not bytes: json.loads would sniff the bytes' encoding on every record.
    return cls.from_dict(json.loads(text.decode() if isinstance(text, bytes) else text))


def _built(cls: type[Thumbnail], row: Sequence[Any]) -> Thumbnail:
    # Pages build hundreds of records from store rows: fill the instance directly instead
    # of running the frozen dataclass's __init__.
    thumb = object.__new__(cls)
    thumb.__dict__.update(zip(_FIELDS, row, strict=True))
    return thumb


class _Decoded(dict[Hashable, Any]):
    """What stored values decoded to, by the exact value (a JSON text or bytes, a row tuple).

    A warm page reads the same records on every request. A record is frozen, so an equal
    stored value can answer with the same record: one dict lookup instead of a JSON decode
    and a build (about 6 µs a record, 12 ms for a 1000-row page of two thumbnails a row).
    Bounded, so a walk over every record keeps flat memory; cleared when settings change,
    since a record keeps its URL and its storage once asked.
    """

    def cache_clear(self) -> None:
        self.clear()


_DECODED_MAX = 4096  # entries: two 1000-row pages of two thumbnails a row
_decoded = on_reset(_Decoded())


def decoded(raw: Hashable, build: Callable[[], _T]) -> _T:
    """``build()``, or what it returned for an equal ``raw`` before (see :class:`_Decoded`).
    ``build`` must make an immutable value from ``raw`` alone."""
    try:
        return cast(_T, _decoded[raw])
    except KeyError:
        pass
    value = build()
    if len(_decoded) >= _DECODED_MAX:
        _decoded.clear()
    _decoded[raw] = value
    return value


_FIELDS = tuple(Thumbnail.__dataclass_fields__)
_FIELD_NAMES = frozenset(_FIELDS)
# The fields a stored record may lack (added after the first release), and their values then.
_DEFAULTS: dict[str, Any] = {
    name: f.default for name, f in Thumbnail.__dataclass_fields__.items() if f.default != MISSING
}


@dataclass(frozen=True)
class PredictedThumbnail(Thumbnail):
    """A record built without the store: what the thumbnail is once made, not a stored one.

    The optimistic strategy and the ``"predict"`` store fallback return these. The name and
    URL are the real ones (names are a pure function of source, spec and version); the size
    is computed from the spec and the source's known size (``thumbkit.lookup.fallback``), or
    :data:`UNKNOWN` when that size is not known without I/O. Being a subclass, it is never
    taken for a record the store has (``strategies.is_stored``), whatever its size.
    """


@dataclass(frozen=True)
class Placeholder:
    """What a page gets for a thumbnail that is not made yet, or cannot be looked up now.

    It is falsy, so ``{% if thumb %}`` and the block tag's ``{% empty %}`` treat it as
    missing (imagekit's convention for deferred files), yet it has a ``url`` (a placeholder
    image, the source itself, or ``""`` for nothing) for inline tags that render it anyway.
    Its size is :data:`UNKNOWN` unless given: ``<img>`` tags leave it out.
    """

    url: str
    width: int | None = UNKNOWN
    height: int | None = UNKNOWN
    name: str = ""
    key: str = ""

    # No placeholder of its own: what templates read on a record reads empty here.
    placeholder_color: ClassVar[str] = ""
    thumbhash: ClassVar[str] = ""
    placeholder_uri: ClassVar[str] = ""

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.url


def secured(thumb: Thumbnail | Placeholder) -> Thumbnail | Placeholder:
    """``thumb`` with an https URL (a copy; the original, maybe memoised, is untouched)."""
    url = https(thumb.url)
    if url == thumb.url:
        return thumb
    if isinstance(thumb, Placeholder):
        return replace(thumb, url=url)
    copy = object.__new__(type(thumb))  # a predicted or signed record stays one
    copy.__dict__.update(thumb.__dict__)
    copy.__dict__["url"] = url  # read before the cached_property, which it stands for
    return copy

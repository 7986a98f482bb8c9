"""The thumbnail record: what the store keeps, and what templates and callers get back.

A :class:`Thumbnail` carries everything a page needs (name, width, height, format); its
``url`` is computed by the storage from the name, never fetched or checked.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage, storages

from .conf import on_reset


def storage_url(alias: str, name: str) -> str:
    """The storage's URL for ``name``, remembered where it is a pure function of the name.

    A plain FileSystemStorage's URL depends only on the name and MEDIA_URL, so it is cached
    (and forgotten when settings change); other storages may sign or expire their URLs, so
    they are asked every time.
    """
    storage = storages[alias]
    if isinstance(storage, FileSystemStorage) and type(storage).url is FileSystemStorage.url:
        return _stable_url(alias, name)
    return str(storage.url(name))


@on_reset
@functools.lru_cache(maxsize=16384)
def _stable_url(alias: str, name: str) -> str:
    return str(storages[alias].url(name))


@dataclass(frozen=True)
class Thumbnail:
    key: str
    name: str
    width: int
    height: int
    format: str
    storage_alias: str
    source_key: str
    spec: str
    source_name: str

    @cached_property
    def storage(self) -> Storage:
        return storages[self.storage_alias]

    @cached_property
    def url(self) -> str:
        return storage_url(self.storage_alias, self.name)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def ratio(self) -> float:
        return self.width / self.height

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
        """Build from values in field order. Pages build hundreds of these from store rows,
        so this fills the instance directly instead of running the frozen ``__init__``."""
        thumb = object.__new__(cls)
        thumb.__dict__.update(zip(_FIELDS, row, strict=True))
        return thumb

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thumbnail:
        return cls.from_row([data[name] for name in _FIELDS])

    @classmethod
    def from_json(cls, text: str | bytes) -> Thumbnail:
        return cls.from_dict(json.loads(text))


_FIELDS = tuple(Thumbnail.__dataclass_fields__)

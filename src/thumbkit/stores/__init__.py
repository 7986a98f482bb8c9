"""Metadata stores: where thumbkit keeps what it knows about generated thumbnails.

Pick one with ``THUMBKIT["STORE"]``: ``"db"`` (default), ``"cache"``, ``"redis"``, or the
dotted path of a class implementing :class:`MetadataStore`, built with ``STORE_OPTIONS``.
"""

from __future__ import annotations

import functools

from django.utils.module_loading import import_string

from ..conf import get_settings, on_reset
from ..exceptions import ConfigurationError
from .base import MetadataStore

__all__ = ["STORES", "MetadataStore", "get_store", "store_class"]

STORES = {
    "db": "thumbkit.stores.db.DatabaseStore",
    "cache": "thumbkit.stores.cache.CacheStore",
    "redis": "thumbkit.stores.redis.RedisStore",
}


def store_class(name: str) -> type[MetadataStore]:
    path = STORES.get(name, name)
    try:
        cls: type[MetadataStore] = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"THUMBKIT['STORE'] = {name!r} cannot be imported: {exc}") from exc
    return cls


@on_reset
@functools.cache
def get_store() -> MetadataStore:
    """The configured store, built once per process and rebuilt when settings change."""
    settings = get_settings()
    return store_class(settings.store)(**settings.store_options)

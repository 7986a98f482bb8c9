"""Metadata stores: where thumbkit keeps what it knows about generated thumbnails.

Pick one with ``THUMBKIT["STORE"]``: ``"db"`` (default), ``"cache"``, ``"redis"``, or the
dotted path of a class implementing :class:`MetadataStore`, built with ``STORE_OPTIONS``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from django.utils.module_loading import import_string

from ...conf import get_settings, on_reset
from ...exceptions import ConfigurationError
from .base import MetadataStore
from .options import store_option_problem  # the system check E014 asks the same

__all__ = ["STORES", "MetadataStore", "get_store", "store_class"]

STORES = {
    "db": "thumbkit.lookup.stores.db.DatabaseStore",
    "cache": "thumbkit.lookup.stores.cache.CacheStore",
    "redis": "thumbkit.lookup.stores.redis.RedisStore",
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
    return build_store(store_class(settings.store), settings.store_options)


def build_store(cls: type[MetadataStore], options: Mapping[str, Any]) -> MetadataStore:
    """``cls(**options)``; a key it does not take is a ConfigurationError naming the key."""
    problem = store_option_problem(cls, options)
    if problem is not None:
        raise ConfigurationError(problem)
    try:
        return cls(**options)
    except TypeError as exc:  # a signature inspect cannot see (a C type, a wrapped __init__)
        raise ConfigurationError(f"THUMBKIT['STORE_OPTIONS'] do not fit {cls!r}: {exc}") from exc

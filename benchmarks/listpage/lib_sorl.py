"""sorl-thumbnail 13: the ``{% thumbnail %}`` block tag over its kvstores.

``cached_db``: records in a table with Django's cache in front (LocMemCache, or RedisCache
in ``cached_db-redis``); ``redis``: its Redis kvstore. One kvstore lookup per thumbnail.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from ..common import REDIS_URL, Env
from .base import Library, image_field, img, profile_model


def _tag(size: str) -> str:
    body = img("{{ im.url }}", "{{ im.width }}", "{{ im.height }}")
    return f'{{% thumbnail p.photo "{size}" crop="center" as im %}}{body}{{% endthumbnail %}}'


class Sorl(Library):
    name = "sorl"
    thumbs = "sorl"
    load = "thumbnail"
    configs = {
        "cached_db": "cached_db kvstore, cache: LocMemCache",
        "cached_db-redis": "cached_db kvstore, cache: Django RedisCache",
        "redis": "Redis kvstore (redis-py)",
    }
    redis_configs = frozenset({"cached_db-redis", "redis"})
    templates = {"tag": _tag("100x100") + _tag("250x250")}

    def settings(self, config: str, env: Env) -> dict[str, Any]:
        kvstore = "redis_kvstore" if config == "redis" else "cached_db_kvstore"
        return {
            "APPS": ["sorl.thumbnail"],
            "THUMBNAIL_KVSTORE": f"sorl.thumbnail.kvstores.{kvstore}.KVStore",
            "THUMBNAIL_CACHE": "redis" if config == "cached_db-redis" else "default",
            "THUMBNAIL_REDIS_URL": REDIS_URL,
            "THUMBNAIL_KEY_PREFIX": f"{env.mark}-sorl",
            "THUMBNAIL_PREFIX": f"{self.thumbs}/",
            "THUMBNAIL_QUALITY": 85,
            "THUMBNAIL_DEBUG": True,  # raise instead of rendering an empty page
        }

    def models(self) -> dict[str, type[models.Model]]:
        return {"Profile": profile_model("Profile", __name__, image_field())}


LIBRARY = Sorl()

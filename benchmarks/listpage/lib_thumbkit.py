"""thumbkit: ``thumbkit.fields.ImageField`` with declared thumbnails, over each store.

Templates: ``accessor`` reads ``p.photo.thumbnails.small`` / ``.card`` (automatic batching,
no prefetch call in the view); ``tag`` uses the ``{% thumbnail %}`` block tag with the same
two specs. Configurations: the ``db`` store; the ``cache`` store on LocMemCache
(``cache-locmem``, filled from the db store in each measuring process, since a LocMemCache
dies with its process) and on Django's RedisCache (``cache-redis``); the ``redis`` store;
and the db store plus a manifest column on the row (``manifest``).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from ..common import REDIS_URL, Env
from .base import Library, image_field, img, profile_model

THUMBNAILS = {"small": "100x100 crop", "card": {"size": "250x250", "crop": "center"}}
STORES: dict[str, tuple[str, dict[str, Any]]] = {
    "db": ("db", {}),
    "cache-locmem": ("cache", {"cache": "default"}),
    "cache-redis": ("cache", {"cache": "redis"}),
    "redis": ("redis", {"url": REDIS_URL}),
    "manifest": ("db", {}),
}


def _tag(size: str) -> str:
    body = img("{{ t.url }}", "{{ t.width }}", "{{ t.height }}")
    return f'{{% thumbnail p.photo "{size}" crop="center" as t %}}{body}{{% endthumbnail %}}'


ACCESSOR = (
    "{% with s=p.photo.thumbnails.small c=p.photo.thumbnails.card %}"
    + img("{{ s.url }}", "{{ s.width }}", "{{ s.height }}")
    + img("{{ c.url }}", "{{ c.width }}", "{{ c.height }}")
    + "{% endwith %}"
)


class Thumbkit(Library):
    name = "thumbkit"
    thumbs = "thumbkit"
    load = "thumbkit"
    configs = {
        "db": "db store",
        "cache-locmem": "cache store, LocMemCache",
        "cache-redis": "cache store, Django RedisCache",
        "redis": "redis store",
        "manifest": "db store + manifest column",
    }
    redis_configs = frozenset({"cache-redis", "redis"})
    templates = {"accessor": ACCESSOR, "tag": _tag("100x100") + _tag("250x250")}

    def settings(self, config: str, env: Env) -> dict[str, Any]:
        store, options = STORES[config]
        if store == "redis":
            options = {**options, "prefix": f"{env.mark}:thumbkit:"}
        thumbkit = {"STORE": store, "STORE_OPTIONS": options, "PREFIX": self.thumbs}
        return {"APPS": ["thumbkit"], "THUMBKIT": thumbkit}

    def models(self) -> dict[str, type[models.Model]]:
        from thumbkit.fields import ImageField

        plain = profile_model("Profile", __name__, image_field(ImageField, thumbnails=THUMBNAILS))
        manifest = profile_model(
            "ProfileManifest",
            __name__,
            image_field(ImageField, thumbnails=THUMBNAILS, manifest_field="photo_thumbs"),
            photo_thumbs=models.JSONField(default=dict, blank=True, editable=False),
        )
        return {"Profile": plain, "ProfileManifest": manifest}

    def model_for(self, config: str) -> str:
        return "ProfileManifest" if config == "manifest" else "Profile"

    def photo_dir(self, model: str) -> str:
        # Other file names than Profile's, so the manifest rows get thumbnails (and manifests)
        # of their own instead of finding Profile's records in the shared db store.
        return "photos-m" if model == "ProfileManifest" else "photos"

    def warm(self, config: str, render: Any) -> None:
        if config in {"db", "manifest"}:
            super().warm(config, render)
        elif config in {"cache-redis", "redis"}:
            copy_records()

    def prepare(self, config: str) -> None:
        if config == "cache-locmem":
            copy_records()


def copy_records() -> None:
    """Fill the configured store with the db store's records (the files exist already)."""
    from thumbkit.stores import get_store
    from thumbkit.stores.db import DatabaseStore

    get_store().set_many(list(DatabaseStore().iter_all()))


LIBRARY = Thumbkit()

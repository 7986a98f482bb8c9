"""thumbkit: ``thumbkit.fields.ImageField`` with declared thumbnails, over each store.

Templates: ``accessor`` reads ``p.photo.thumbnails.small`` / ``.card`` (automatic batching,
no prefetch call in the view); ``tag`` uses the ``{% thumbnail %}`` block tag with the same
two specs. Configurations: the ``db`` store; the ``cache`` store on LocMemCache
(``cache-locmem``, filled from the db store in each measuring process, since a LocMemCache
dies with its process) and on Django's RedisCache (``cache-redis``); the ``redis`` store;
and the db store plus a manifest column on the row (``manifest``).

The ``plain-db`` and ``plain-redis`` configurations keep Django's own ``models.ImageField``
(no thumbkit field, nothing declared): the ``property`` template reads two model properties
that call ``thumbkit.get_thumbnail(self.photo, ...)``, the ``tag`` template is the same
``{% thumbnail p.photo ... %}`` block tag. Whether those rows batch is up to thumbkit's
automatic batching for plain fields; the counts say what it did.
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
    "plain-db": ("db", {}),
    "plain-redis": ("redis", {"url": REDIS_URL}),
}
PLAIN = frozenset({"plain-db", "plain-redis"})


def _tag(size: str) -> str:
    body = img("{{ t.url }}", "{{ t.width }}", "{{ t.height }}")
    return f'{{% thumbnail p.photo "{size}" crop="center" as t %}}{body}{{% endthumbnail %}}'


ACCESSOR = (
    "{% with s=p.photo.thumbnails.small c=p.photo.thumbnails.card %}"
    + img("{{ s.url }}", "{{ s.width }}", "{{ s.height }}")
    + img("{{ c.url }}", "{{ c.width }}", "{{ c.height }}")
    + "{% endwith %}"
)
PROPERTY = (
    "{% with s=p.thumb_small c=p.thumb_card %}"
    + img("{{ s.url }}", "{{ s.width }}", "{{ s.height }}")
    + img("{{ c.url }}", "{{ c.width }}", "{{ c.height }}")
    + "{% endwith %}"
)


class PlainPhoto:
    """The properties of the plain-field model: what a sorl user writes after switching the
    import (``get_thumbnail`` in a property, the field left as Django's)."""

    photo: Any

    @property
    def thumb_small(self) -> Any:
        import thumbkit

        return thumbkit.get_thumbnail(self.photo, "100x100", crop="center")

    @property
    def thumb_card(self) -> Any:
        import thumbkit

        return thumbkit.get_thumbnail(self.photo, "250x250", crop="center")


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
        "plain-db": "models.ImageField, db store",
        "plain-redis": "models.ImageField, redis store",
    }
    redis_configs = frozenset({"cache-redis", "redis", "plain-redis"})
    templates = {
        "accessor": ACCESSOR,
        "tag": _tag("100x100") + _tag("250x250"),
        "property": PROPERTY,
    }

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
        django_field = profile_model("ProfilePlain", __name__, image_field(), (PlainPhoto,))
        return {"Profile": plain, "ProfileManifest": manifest, "ProfilePlain": django_field}

    def model_for(self, config: str) -> str:
        if config in PLAIN:
            return "ProfilePlain"
        return "ProfileManifest" if config == "manifest" else "Profile"

    def photo_dir(self, model: str) -> str:
        # Other file names than Profile's, so the manifest rows get thumbnails (and manifests)
        # of their own instead of finding Profile's records in the shared db store.
        return "photos-m" if model == "ProfileManifest" else "photos"

    def templates_for(self, config: str) -> list[str]:
        return ["property", "tag"] if config in PLAIN else ["accessor", "tag"]

    def warm(self, config: str, render: Any) -> None:
        if config in {"db", "manifest", "plain-db"}:
            super().warm(config, render)
        elif config in {"cache-redis", "redis"}:
            copy_records()
        elif config == "plain-redis":
            copy_records()
            super().warm(config, render)  # makes only what the db store's records lack

    def prepare(self, config: str) -> None:
        if config == "cache-locmem":
            copy_records()


def copy_records() -> None:
    """Fill the configured store with the db store's records (the files exist already)."""
    from thumbkit.lookup.stores import get_store
    from thumbkit.lookup.stores.db import DatabaseStore

    get_store().set_many(list(DatabaseStore().iter_all()))


LIBRARY = Thumbkit()

"""easy-thumbnails 2.10: the ``{% thumbnail %}`` tag and the ``thumbnail_url`` filter with aliases.

Thumbnail dimensions are cached in its table (``THUMBNAIL_CACHE_DIMENSIONS``), otherwise
``t.width`` would open every thumbnail. On a local storage it checks the source and
thumbnail modification times on the storage for each thumbnail (remote storages use its
tables instead).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from ..common import Env
from .base import Library, image_field, img, profile_model


def _tag(size: str) -> str:
    body = img("{{ t.url }}", "{{ t.width }}", "{{ t.height }}")
    return f"{{% thumbnail p.photo {size} crop as t %}}{body}"


def _alias(alias: str, side: str) -> str:
    return img(f"{{{{ p.photo|thumbnail_url:'{alias}' }}}}", side, side)


class Easy(Library):
    name = "easy"
    thumbs = "easy"
    load = "thumbnail"
    configs = {"default": "Source/Thumbnail tables, CACHE_DIMENSIONS, local storage"}
    templates = {
        "tag": _tag("100x100") + _tag("250x250"),
        "alias": _alias("small", "100") + _alias("card", "250"),
    }

    def settings(self, config: str, env: Env) -> dict[str, Any]:
        return {
            "APPS": ["easy_thumbnails"],
            "THUMBNAIL_ALIASES": {
                "": {
                    "small": {"size": (100, 100), "crop": True},
                    "card": {"size": (250, 250), "crop": True},
                }
            },
            "THUMBNAIL_BASEDIR": self.thumbs,
            "THUMBNAIL_CACHE_DIMENSIONS": True,
            "THUMBNAIL_QUALITY": 85,
            "THUMBNAIL_DEBUG": True,
            "STORAGE_ALIASES": ["easy_thumbnails"],
        }

    def models(self) -> dict[str, type[models.Model]]:
        return {"Profile": profile_model("Profile", __name__, image_field())}


LIBRARY = Easy()

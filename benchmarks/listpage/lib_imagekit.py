"""django-imagekit 6: two ``ImageSpecField``s (ResizeToFill 100x100 and 250x250).

``jit``: JustInTime strategy, cache-file state in LocMemCache (a fresh process asks the
storage whether each file exists); ``jit-redis``: the same with the state in Django's
RedisCache; ``optimistic``: the Optimistic strategy, which assumes the files exist. Width
and height are literals: asking imagekit for them opens the file.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from ..common import Env
from .base import Library, image_field, img, profile_model

STRATEGIES = {
    "jit": "imagekit.cachefiles.strategies.JustInTime",
    "jit-redis": "imagekit.cachefiles.strategies.JustInTime",
    "optimistic": "imagekit.cachefiles.strategies.Optimistic",
}


class Imagekit(Library):
    name = "imagekit"
    thumbs = "imagekit"
    configs = {
        "jit": "JustInTime, state in LocMemCache",
        "jit-redis": "JustInTime, state in Django RedisCache",
        "optimistic": "Optimistic (assumes files exist)",
    }
    redis_configs = frozenset({"jit-redis"})
    templates = {
        "spec": img("{{ p.photo_small.url }}", "100", "100")
        + img("{{ p.photo_card.url }}", "250", "250")
    }

    def settings(self, config: str, env: Env) -> dict[str, Any]:
        return {
            "APPS": ["imagekit"],
            "IMAGEKIT_DEFAULT_CACHEFILE_STRATEGY": STRATEGIES[config],
            "IMAGEKIT_CACHE_BACKEND": "redis" if config == "jit-redis" else "default",
            "IMAGEKIT_CACHE_PREFIX": f"{env.mark}-imagekit:",
            "IMAGEKIT_CACHEFILE_DIR": self.thumbs,
        }

    def models(self) -> dict[str, type[models.Model]]:
        from imagekit.models import ImageSpecField
        from imagekit.processors import ResizeToFill

        def spec(side: int) -> Any:
            return ImageSpecField(
                source="photo",
                processors=[ResizeToFill(side, side)],
                format="JPEG",
                options={"quality": 85},
            )

        model = profile_model(
            "Profile", __name__, image_field(), photo_small=spec(100), photo_card=spec(250)
        )
        return {"Profile": model}

    def warm(self, config: str, render: Any) -> None:
        if config != "optimistic":  # Optimistic never generates on access
            super().warm(config, render)


LIBRARY = Imagekit()

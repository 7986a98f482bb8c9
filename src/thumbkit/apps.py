from __future__ import annotations

from django.apps import AppConfig


class ThumbkitConfig(AppConfig):
    name = "thumbkit"
    verbose_name = "thumbkit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            generators,  # noqa: F401  (registers thumbkit:thumbnail)
        )
        from .lifecycle import write_manifest
        from .registry import autodiscover
        from .signals import thumbnails_deleted, thumbnails_generated

        thumbnails_generated.connect(write_manifest, dispatch_uid="thumbkit:manifest")
        thumbnails_deleted.connect(write_manifest, dispatch_uid="thumbkit:manifest-deleted")
        autodiscover()  # each installed app's ``imagegenerators`` module

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import AppConfig


class ThumbkitConfig(AppConfig):
    name = "thumbkit"
    verbose_name = "thumbkit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .adapters import (
            checks,  # noqa: F401  (registers the system checks)
        )
        from .adapters.lifecycle import write_manifest
        from .lookup import (
            generators,  # noqa: F401  (registers thumbkit:thumbnail)
        )
        from .lookup.registry import autodiscover
        from .signals import thumbnails_deleted, thumbnails_generated

        thumbnails_generated.connect(write_manifest, dispatch_uid="thumbkit:manifest")
        thumbnails_deleted.connect(write_manifest, dispatch_uid="thumbkit:manifest-deleted")
        autodiscover()  # each installed app's ``imagegenerators`` module
        _answer_the_lookup_layer()
        _batch_every_file_field()
        _listen_for_metrics()


def _answer_the_lookup_layer() -> None:
    """Fill ``thumbkit.lookup.hooks``: the lookup layer asks the adapters through it, never by
    import."""
    from .adapters.endpoint import signed_record
    from .adapters.peers import peer_sources
    from .lookup import hooks
    from .lookup.api import get_spec
    from .lookup.generators import ImageSpec

    hooks.peer_sources = peer_sources
    hooks.thumbnail_enqueuer = _thumbnail_enqueuer
    hooks.field_thumbnails_enqueuer = _field_thumbnails_enqueuer
    hooks.signed_record = signed_record
    hooks.spec_from_text = get_spec
    hooks.image_spec_class = ImageSpec


def _batch_every_file_field() -> None:
    """Rows of any model with a file field batch their thumbnail lookups
    (``thumbkit.adapters.peers``): the installed models now, models created later (tests, dynamic
    models) when prepared."""
    from django.apps import apps
    from django.db.models.signals import class_prepared

    from .adapters.peers import follow_model

    for model in apps.get_models(include_auto_created=True):
        follow_model(model)
    class_prepared.connect(_prepared, dispatch_uid="thumbkit:follow-models")


def _prepared(sender: type[Any], **kwargs: Any) -> None:
    from .adapters.peers import follow_model

    follow_model(sender)


def _listen_for_metrics() -> None:
    """Connect what ``THUMBKIT["METRICS"]`` asks for (nothing by default: no cost), and
    register its system check."""
    from .adapters import stats  # noqa: F401  (registers the metrics check)
    from .lookup import metrics

    metrics.start()


def _thumbnail_enqueuer() -> Callable[..., Any]:
    # Imported when first needed: without a Tasks framework the import raises ConfigurationError.
    from .tasks import enqueue_thumbnail

    return enqueue_thumbnail


def _field_thumbnails_enqueuer() -> Callable[..., Any]:
    from .tasks import enqueue_field_thumbnails  # as above

    return enqueue_field_thumbnails

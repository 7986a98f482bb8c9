"""Background generation through Django's Tasks framework.

``django.tasks`` on Django 6, the ``django_tasks`` backport on 5.2. The task is declared on
the default backend and queue (Django validates those at import); the backend and queue
chosen in ``THUMBKIT["TASK_BACKEND"]`` / ``["TASK_QUEUE"]`` are applied when enqueueing.
Arguments are JSON values only, and the task is idempotent: a job for a file the row no
longer has, or for thumbnails that exist already, does nothing.
"""

from __future__ import annotations

from typing import Any

from .conf import get_settings
from .exceptions import ConfigurationError

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    try:
        from django_tasks import task  # type: ignore[no-redef,import-not-found,unused-ignore]
    except ImportError as exc:
        raise ConfigurationError(
            'THUMBKIT["UPLOAD"] = "task" needs Django >= 6.0 or the django-tasks backport.'
        ) from exc


@task()
def generate_field_thumbnails(label: str, pk: Any, attname: str, name: str) -> int:
    """Make the declared thumbnails of ``label`` row ``pk``'s ``attname`` file ``name``."""
    from .lifecycle import generate_declared

    return generate_declared(label, pk, attname, name)


def enqueue_field_thumbnails(label: str, pk: Any, attname: str, name: str) -> Any:
    settings = get_settings()
    configured = generate_field_thumbnails.using(
        backend=settings.task_backend, queue_name=settings.task_queue
    )
    # Task arguments must survive JSON: keep int keys, send anything else (UUIDs) as text.
    key = pk if isinstance(pk, int | str) else str(pk)
    return configured.enqueue(label, key, attname, name)

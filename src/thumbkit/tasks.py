"""Background generation through Django's Tasks framework.

Two tasks: the declared thumbnails of an uploaded file (``THUMBKIT["UPLOAD"] = "task"``),
and one thumbnail for the ``deferred`` strategy.

``django.tasks`` on Django 6, the ``django_tasks`` backport on 5.2. Django validates a task
against its backend and queue when the task is declared, so this module (imported only when
``THUMBKIT["UPLOAD"]`` is ``"task"``, by the deferred strategy, or by a worker running a
task) declares them on the
backend and queue of ``THUMBKIT["TASK_BACKEND"]`` / ``["TASK_QUEUE"]``: a project whose
``TASKS`` has no ``"default"`` alias, or whose backend lists its queues, can still import it.
They are applied again at each enqueue, so changed settings take effect.

Arguments are JSON values only, and the task is idempotent: a job for a file the row no
longer has, or for thumbnails that exist already, does nothing.
"""

from __future__ import annotations

import logging
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
            'THUMBKIT["UPLOAD"] = "task" and the "deferred" strategy need Django >= 6.0 or '
            "the django-tasks backport."
        ) from exc


logger = logging.getLogger("thumbkit")

_declared = get_settings()


@task(backend=_declared.task_backend, queue_name=_declared.task_queue)
def generate_field_thumbnails(label: str, pk: Any, attname: str, name: str) -> int:
    """Make the declared thumbnails of ``label`` row ``pk``'s ``attname`` file ``name``."""
    from .adapters.lifecycle import generate_declared

    return generate_declared(label, pk, attname, name)


def enqueue_field_thumbnails(label: str, pk: Any, attname: str, name: str) -> Any:
    settings = get_settings()
    configured = generate_field_thumbnails.using(
        backend=settings.task_backend, queue_name=settings.task_queue
    )
    # Task arguments must survive JSON: keep int keys, send anything else (UUIDs) as text.
    key = pk if isinstance(pk, int | str) else str(pk)
    return configured.enqueue(label, key, attname, name)


@task(backend=_declared.task_backend, queue_name=_declared.task_queue)
def generate_thumbnail(storage: str, name: str, ref: str) -> int:
    """Make one thumbnail for the deferred strategy: the source ``name`` on the STORAGES
    alias ``storage``, and the spec the reference ``ref`` rebuilds (``thumbkit.lookup.refs``).

    Returns 1 if it was made, 0 if it existed already or the source cannot be used (logged:
    retrying cannot help a missing or unreadable file).
    """
    from django.core.files.storage import storages

    from .exceptions import SourceError
    from .lookup import api, refs, strategies
    from .lookup.source import coerce

    try:
        source = coerce(name, storage=storages[storage])
        return api.ensure(source, [refs.spec_from_ref(ref, source=source)])
    except SourceError:
        logger.warning("Cannot make the thumbnail of %r (%s)", name, ref, exc_info=True)
        return 0
    finally:
        strategies.release((storage, name, ref))


def enqueue_thumbnail(storage: str, name: str, ref: str) -> Any:
    settings = get_settings()
    configured = generate_thumbnail.using(
        backend=settings.task_backend, queue_name=settings.task_queue
    )
    return configured.enqueue(storage, name, ref)

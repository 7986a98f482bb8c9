"""Keeping declared thumbnails in step with their model's file.

Save: a new file's declared thumbnails are made after commit; a replaced or cleared file's
thumbnails (files and records) are removed after commit; a file overwritten under the same
name gets a new version, so new keys, names and URLs. Delete: thumbnails go after commit.
Nothing happens for a rolled-back transaction. Lookups on a field resolve the instance's
peers in one round trip, or none when a manifest column carries the records.
"""

from __future__ import annotations

import logging
import secrets
from functools import partial
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models, transaction
from django.db.models.fields.files import FieldFile

from . import api, batch, peers
from .conf import get_settings
from .keys import source_key
from .source import Source, coerce
from .spec import Spec
from .stores import get_store
from .thumbnail import Thumbnail

if TYPE_CHECKING:
    from .fields import ImageField

logger = logging.getLogger("thumbkit")

INITIAL = "_thumbkit_initial"
PENDING = "_thumbkit_pending"


def thumbnail_of(file: FieldFile, spec: Spec) -> Thumbnail:
    """A declared (or any) thumbnail of a field's file, batching the instance's peers."""
    src = coerce(file)
    if not batch.is_complete(src) and file.instance is not None and file.instance.pk is not None:
        peers.fetch(file.field, file.instance, load_instances)
    return api.get_thumbnail(file, spec)


def load_instances(instances: list[models.Model]) -> None:
    """Resolve every thumbkit field of ``instances``: manifests, then one store read."""
    from .fields import thumbkit_fields

    pending: list[Source] = []
    for instance in instances:
        for field in thumbkit_fields(type(instance)):
            src = _loaded_source(instance, field)
            if src is None or batch.is_complete(src):
                continue
            records = _manifest_records(instance, field, src)
            if records is None:
                pending.append(src)
            else:
                batch.fill(src, records)
    batch.load(pending)


def _loaded_source(instance: models.Model, field: ImageField) -> Source | None:
    if field.attname not in instance.__dict__:
        return None  # deferred: loading it would cost a query per row
    file = getattr(instance, field.attname)
    return coerce(file) if file else None


def _manifest_records(
    instance: models.Model, field: ImageField, src: Source
) -> dict[str, Thumbnail] | None:
    name = field.manifest_field
    if name is None or name not in instance.__dict__:
        return None
    return batch.from_manifest(instance.__dict__[name], source_key(src))


# --- signals -------------------------------------------------------------------------------


def remember(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """``post_init``: remember the file names the row was loaded with."""
    from .fields import thumbkit_fields

    instance.__dict__[INITIAL] = {
        f.attname: instance.__dict__.get(f.attname) or "" for f in thumbkit_fields(sender)
    }


def note_save(instance: models.Model, field: ImageField, uploading: bool) -> None:
    """Called by the field's ``pre_save``, after the file was written to storage."""
    initial = instance.__dict__.get(INITIAL, {}).get(field.attname, "")
    current = getattr(instance, field.attname).name or ""
    if uploading or current != initial:
        instance.__dict__.setdefault(PENDING, {})[field.attname] = (initial, current, uploading)
        if field.manifest_field:
            # The manifest describes the old file; the row must not keep it for the new one.
            setattr(instance, field.manifest_field, {})


def saved(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    """``post_save``: schedule the file's thumbnail work for after commit."""
    pending = instance.__dict__.pop(PENDING, {})
    initial = instance.__dict__.setdefault(INITIAL, {})
    for attname, (old, new, uploading) in pending.items():
        initial[attname] = new
        job = partial(after_commit, sender._meta.label, instance.pk, attname, old, new, uploading)
        transaction.on_commit(job, using=using)


def deleted(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    """``post_delete``: the row is gone, so are its thumbnails (after commit)."""
    from .fields import thumbkit_fields

    for field in thumbkit_fields(sender):
        name = instance.__dict__.get(field.attname)
        name = getattr(name, "name", name)
        if name:
            job = partial(forget, sender._meta.label, field.attname, str(name))
            transaction.on_commit(job, using=using)


# --- work after commit ---------------------------------------------------------------------


def after_commit(label: str, pk: Any, attname: str, old: str, new: str, uploading: bool) -> None:
    field = _field(label, attname)
    if old and (old != new or uploading):
        forget(label, attname, old)
    if not new:
        return
    if uploading and old == new:
        # Overwritten in place: a new version gives new keys, so no old URL is ever served.
        src = coerce(new, storage=field.storage)
        get_store().set_many([batch.version_record(src, secrets.token_hex(4))])
    if (uploading or old != new) and field.generate_on_save and field.thumbnails:
        dispatch(label, pk, attname, new)


def forget(label: str, attname: str, name: str) -> None:
    """Delete the thumbnails and records of a file, keeping the file itself."""
    field = _field(label, attname)
    api.delete(coerce(name, storage=field.storage), delete_file=False)


def dispatch(label: str, pk: Any, attname: str, name: str) -> None:
    """Generate now, or enqueue the task when ``THUMBKIT["UPLOAD"] == "task"``."""
    mode = get_settings().upload
    if mode == "off":
        return
    if mode == "task":
        from .tasks import enqueue_field_thumbnails

        enqueue_field_thumbnails(label, pk, attname, name)
    else:
        generate_declared(label, pk, attname, name)


def generate_declared(label: str, pk: Any, attname: str, name: str) -> int:
    """Make the declared thumbnails of one row's file; a no-op if the file changed since."""
    model = apps.get_model(label)
    instance = model._base_manager.filter(pk=pk).first()
    if instance is None:
        return 0
    file = getattr(instance, attname)
    if not file or file.name != name:
        return 0  # stale job: the row has moved on, its own job will do the work
    field = _field(label, attname)
    load_instances([instance])
    return api.ensure(file, field.declared_specs())


def write_manifest(sender: Any, source: Source, thumbnails: list[Thumbnail], **kwargs: Any) -> None:
    """``thumbnails_generated``: refresh the manifest column of the row the source came from."""
    from .fields import ImageField

    origin = source.origin
    field = getattr(origin, "field", None)
    instance = getattr(origin, "instance", None)
    if not isinstance(field, ImageField) or not field.manifest_field or instance is None:
        return
    if instance.pk is None:
        return
    key = source_key(source)
    records = get_store().get_sources([key]).get(key, {})
    manifest = batch.to_manifest(key, records.values())
    updated = (
        type(instance)
        ._base_manager.filter(pk=instance.pk, **{field.attname: source.name})
        .update(**{field.manifest_field: manifest})
    )
    if updated:
        instance.__dict__[field.manifest_field] = manifest


def _field(label: str, attname: str) -> ImageField:
    from .fields import ImageField

    field = apps.get_model(label)._meta.get_field(attname)
    assert isinstance(field, ImageField)
    return field

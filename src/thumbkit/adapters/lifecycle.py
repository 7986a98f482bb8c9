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
import weakref
from functools import partial
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models, transaction
from django.db.models.fields.files import FieldFile

from ..conf import get_settings
from ..core.spec import Spec
from ..exceptions import GenerationError, LockTimeout, SourceError, StoreError
from ..lookup import api, batch, hooks, sourcesize
from ..lookup.keys import source_key
from ..lookup.memo import ATTRIBUTE
from ..lookup.source import Source, coerce
from ..lookup.stores import get_store
from ..lookup.thumbnail import Thumbnail
from . import peers

if TYPE_CHECKING:  # type-only: fields imports this module
    from ..fields import ImageField

logger = logging.getLogger("thumbkit")

INITIAL = "_thumbkit_initial"
PENDING = "_thumbkit_pending"
WRITTEN = "_thumbkit_written"
PLAIN = "_thumbkit_plain"  # pre_save state of ImageSpecField sources that are plain fields
SIZES = "_thumbkit_upload_sizes"  # oriented size of each file written through a field
MEMO = ATTRIBUTE  # the one attribute a file object's Memo lives in (thumbkit.lookup.memo)

# Failures of thumbnail work after a save: logged, because the save itself succeeded.
RECOVERABLE = (SourceError, GenerationError, StoreError, LockTimeout)


def load_instances(instances: list[models.Model]) -> None:
    """Resolve every thumbkit field of ``instances``: manifests, then one store read."""
    pending: list[Source] = []
    for instance in instances:
        for field in peers.thumbkit_fields(type(instance)):
            src = _loaded_source(instance, field)
            if src is None or batch.is_complete(src):
                continue
            records = _manifest_records(instance, field, src)
            if records is None:
                pending.append(src)
            else:
                batch.fill(src, records)
    batch.load_records(pending, peers=False)


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


def initialised(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """``post_init``: join the cohort of rows loaded together, remember the file names."""
    peers.join(sender, instance)
    remember(sender, instance)


def remember(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """``post_init``: remember the file names the row was loaded with."""
    instance.__dict__[INITIAL] = {
        f.attname: _stored_name(instance.__dict__.get(f.attname))
        for f in peers.followed_fields(sender)
    }


def _stored_name(value: Any) -> str:
    # What the row holds in the database: a name, or a FieldFile already written. An upload
    # given to the constructor is not stored yet.
    if isinstance(value, str):
        return value
    if isinstance(value, FieldFile) and getattr(value, "_committed", False):
        return value.name or ""
    return ""


def mark_written(instance: models.Model, attname: str) -> None:
    """A file was written through the field: the row's next save has a new source."""
    instance.__dict__.setdefault(WRITTEN, set()).add(attname)


def take_written(instance: models.Model, attname: str) -> bool:
    written: set[str] = instance.__dict__.get(WRITTEN, set())
    if attname in written:
        written.discard(attname)
        return True
    return False


def measure_upload(instance: models.Model, field: ImageField, content: Any) -> None:
    """Called with the content a file field writes (an upload, ``photo.save(name, data)``):
    when the field keeps a manifest, remember its oriented size (from its header) for
    :func:`note_save`, which writes it there for predicted records
    (``thumbkit.lookup.sourcesize``)."""
    if field.manifest_field:
        size = sourcesize.measure(content)
        instance.__dict__.setdefault(SIZES, {})[field.attname] = size


def note_save(instance: models.Model, field: ImageField, uploading: bool) -> None:
    """Called by the field's ``pre_save``, after the file was written to storage."""
    # A new row gets its declared thumbnails, whatever file it was created with.
    adding = instance._state.adding
    initial = "" if adding else _initial(instance, field.attname)
    current = getattr(instance, field.attname).name or ""
    pending = instance.__dict__.setdefault(PENDING, {})
    if field.attname in pending:
        # Django calls pre_save twice when an UPDATE finds no row and it INSERTs instead.
        uploading = uploading or pending[field.attname][2]
    # (pre_save may run twice for one save: the size stays until post_save drops it.)
    size = instance.__dict__.get(SIZES, {}).get(field.attname) if uploading else None
    if uploading or current != initial:
        pending[field.attname] = (initial, current, uploading)
        if field.manifest_field and (uploading or not adding):
            # The manifest describes the old file; the row must not keep it for the new one.
            # A new row given a stored file keeps the manifest it was given (bulk copies).
            # An upload's own size is kept (records unknown until its thumbnails are made).
            manifest = {}
            if size is not None:
                key = source_key(coerce(getattr(instance, field.attname)))
                manifest = batch.to_manifest(key, None, size)
            setattr(instance, field.manifest_field, manifest)


def _initial(instance: models.Model, attname: str) -> str:
    name: str = instance.__dict__.get(INITIAL, {}).get(attname, "")
    return name


def presaving(
    sender: type[models.Model],
    instance: models.Model,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """``pre_save``: for source fields that are not thumbkit's (a plain ImageField an
    ImageSpecField reads), note what ``ImageField.pre_save`` notes for its own file: a new
    row, and an upload not written yet."""
    plain = {}
    for field in peers.source_fields(sender):
        if peers.is_image_field(field) or field.attname not in instance.__dict__:
            continue
        if update_fields is not None and field.name not in update_fields:
            continue
        file = getattr(instance, field.attname)
        fresh = bool(file) and not getattr(file, "_committed", True)
        plain[field.attname] = (instance._state.adding, fresh)
    if plain:
        instance.__dict__[PLAIN] = plain


def _note_plain(instance: models.Model) -> None:
    # After the save wrote the file: its stored name is known now.
    for attname, (adding, fresh) in instance.__dict__.pop(PLAIN, {}).items():
        initial = "" if adding else _initial(instance, attname)
        current = getattr(instance, attname).name or ""
        if fresh or current != initial:
            instance.__dict__.setdefault(PENDING, {})[attname] = (initial, current, fresh)


def saved(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    """``post_save``: schedule the file's thumbnail work for after commit."""
    _note_plain(instance)
    instance.__dict__.pop(SIZES, None)
    pending = instance.__dict__.pop(PENDING, {})
    ref, label = weakref.ref(instance), sender._meta.label
    for attname, (old, new, uploading) in pending.items():
        job = partial(_committed, ref, label, instance.pk, attname, old, new, uploading)
        transaction.on_commit(job, using=using)


def _committed(
    ref: weakref.ref[models.Model],
    label: str,
    pk: Any,
    attname: str,
    old: str,
    new: str,
    uploading: bool,
) -> None:
    # Only a committed save changes what the row holds: after a rollback the instance still
    # compares with the old name, so saving it again redoes the work.
    instance = ref()
    if instance is not None:
        instance.__dict__.setdefault(INITIAL, {})[attname] = new
    after_commit(label, pk, attname, old, new, uploading)


def deleting(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """``pre_delete``: load a deferred file name while the row still exists."""
    deferred = [
        f.attname for f in peers.source_fields(sender) if f.attname not in instance.__dict__
    ]
    if deferred and instance.pk is not None:
        instance.refresh_from_db(fields=deferred)


def deleted(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    """``post_delete``: the row is gone, so are its thumbnails (after commit)."""
    for field in peers.source_fields(sender):
        name = instance.__dict__.get(field.attname)
        name = getattr(name, "name", name)
        if name:
            job = partial(_forget_deleted, sender._meta.label, field.attname, str(name))
            transaction.on_commit(job, using=using)


# --- work after commit ---------------------------------------------------------------------


def after_commit(label: str, pk: Any, attname: str, old: str, new: str, uploading: bool) -> None:
    """Remove the old file's thumbnails, version an overwritten file, make the new ones.

    Runs in the request that saved (sync mode): a source that cannot be read or a storage
    that fails is logged, never turned into an error page for a save that succeeded.
    """
    field = _field(label, attname)
    try:
        if old and old == new and uploading:
            # Overwritten in place: a new version gives new keys, names and URLs.
            forget(label, attname, old)
            src = coerce(new, storage=field.storage)
            get_store().set_many([batch.version_record(src, secrets.token_hex(4))])
            _clear_manifest(field, pk, new)
        elif old and old != new:
            _forget_unused(label, attname, old)
        if new and (uploading or old != new):
            dispatch(label, pk, attname, new)
    except RECOVERABLE:
        logger.warning("Thumbnails of %s %s.%s failed", label, pk, attname, exc_info=True)


def _clear_manifest(field: models.FileField, pk: Any, name: str) -> None:
    # pre_save empties the manifest only when its column comes after the file's: here it is
    # emptied whatever the order, or the row would describe the old version of the name.
    column = getattr(field, "manifest_field", None)
    if column:
        rows = field.model._base_manager.filter(pk=pk, **{field.attname: name})
        rows.update(**{column: {}})


def forget(label: str, attname: str, name: str) -> None:
    """Delete the thumbnails and records of a file, keeping the file itself."""
    field = _field(label, attname)
    api.forget(coerce(name, storage=field.storage))


def _forget_deleted(label: str, attname: str, name: str) -> None:
    try:
        _forget_unused(label, attname, name)
    except RECOVERABLE:
        logger.warning("Removing the thumbnails of %s failed", name, exc_info=True)


def _forget_unused(label: str, attname: str, name: str) -> None:
    # Rows may share a file (copies, fixtures): its thumbnails stay while one still uses it.
    model = apps.get_model(label)
    if not model._base_manager.filter(**{attname: name}).exists():
        forget(label, attname, name)


def dispatch(label: str, pk: Any, attname: str, name: str) -> None:
    """Generate now, or enqueue the task when ``THUMBKIT["UPLOAD"] == "task"``.

    What is made: the field's declared thumbnails (``generate_on_save``) and the images of
    the ImageSpecFields reading the file whose strategy is optimistic; those whose strategy
    is deferred are always left to the task.
    """
    field = _field(label, attname)
    declared = getattr(field, "generate_on_save", False) and bool(getattr(field, "thumbnails", {}))
    modes = {f.save_mode() for f in peers.spec_fields(apps.get_model(label), attname)}
    now = declared or "generate" in modes
    mode = get_settings().upload
    if mode == "task" and (now or "enqueue" in modes):
        enqueue(label, pk, attname, name)
        return
    if now and mode != "off":
        generate_declared(label, pk, attname, name, deferred=False)
    if "enqueue" in modes:
        enqueue(label, pk, attname, name)


def enqueue(label: str, pk: Any, attname: str, name: str) -> None:
    # tasks.enqueue_field_thumbnails (tasks imports this module), set at AppConfig.ready()
    hooks.field_thumbnails_enqueuer()(label, pk, attname, name)


def generate_declared(label: str, pk: Any, attname: str, name: str, deferred: bool = True) -> int:
    """Make the declared thumbnails of one row's file, and the images of the ImageSpecFields
    that read it and are made on save (optimistic; deferred too unless ``deferred=False``);
    a no-op if the file changed since."""
    model = apps.get_model(label)
    instance = model._base_manager.filter(pk=pk).first()
    if instance is None:
        return 0
    file = getattr(instance, attname)
    if not file or file.name != name:
        return 0  # stale job: the row has moved on, its own job will do the work
    field = _field(label, attname)
    load_instances([instance])
    try:
        return api.ensure(file, _save_specs(field, instance, deferred))
    except SourceError:
        # Retrying cannot help a missing or unreadable file: say so once and stop.
        logger.warning("Cannot make the thumbnails of %s %s.%s", label, pk, attname, exc_info=True)
        return 0


def _save_specs(field: models.FileField, instance: models.Model, deferred: bool) -> list[Spec]:
    declared = peers.is_image_field(field) and field.generate_on_save
    file = getattr(instance, field.attname)
    # For this file: a centre crop follows the focal point its row keeps.
    specs = field.declared_specs(file) if peers.is_image_field(field) and declared else []
    wanted = {"generate", "enqueue"} if deferred else {"generate"}
    for spec_field in peers.spec_fields(type(instance), field.attname):
        if spec_field.save_mode() in wanted:
            specs.append(spec_field.spec_for(file))
    return specs


def write_manifest(sender: Any, source: Source, **kwargs: Any) -> None:
    """After generation or deletion: rewrite the manifest column of the source's row.

    Connected to ``thumbnails_generated`` and ``thumbnails_deleted``, so the column never
    names a file that is gone or misses one that was made through the row's own file.
    """
    origin = source.origin
    field = getattr(origin, "field", None)
    instance = getattr(origin, "instance", None)
    if not peers.is_image_field(field) or not field.manifest_field or instance is None:
        return
    if instance.pk is None:
        return
    key = source_key(source)
    records = get_store().get_sources([key]).get(key, {})
    # The source's size, written at upload, stays (as the row holds it: no query for it).
    size = batch.manifest_size(instance.__dict__.get(field.manifest_field), key)
    manifest = batch.to_manifest(key, records.values(), size)
    updated = (
        type(instance)
        ._base_manager.db_manager(instance._state.db)
        .filter(pk=instance.pk, **{field.attname: source.name})
        .update(**{field.manifest_field: manifest})
    )
    if updated:
        instance.__dict__[field.manifest_field] = manifest


def _field(label: str, attname: str) -> models.FileField:
    field = apps.get_model(label)._meta.get_field(attname)
    assert isinstance(field, models.FileField)
    return field

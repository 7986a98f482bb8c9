"""Explicit batching for querysets: ``ThumbnailQuerySet.prefetch_thumbnails()``.

Automatic batching (``thumbkit.adapters.peers``) covers rows that are all loaded before the first
thumbnail is asked for. ``.iterator()`` hands rows out one by one, and some code wants the
cost paid up front; for those::

    class Profile(models.Model):
        photo = ImageField(upload_to="photos", thumbnails={"small": "100x100 crop"})
        objects = ThumbnailQuerySet.as_manager()

    for profile in Profile.objects.prefetch_thumbnails("photo").iterator(chunk_size=500):
        profile.photo.thumbnails.small.url      # one store round trip per 500 rows

    Post.objects.select_related("author").prefetch_thumbnails("author__photo")
    Team.objects.prefetch_related("members").prefetch_thumbnails("members__photo")

Evaluating the queryset reads every thumbnail record of every named file field of its rows
(any spec, declared or not) in one store round trip, none for rows whose manifest column
describes them. An explicit prefetch is not a lazy fetch: it works under ``FETCH_RAISE``.
For lists of instances built by hand, :func:`prefetch_objects` does the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.query import ModelIterable

from ..lookup import batch
from ..lookup.source import Source, coerce

DEFAULT_CHUNK = 2000  # Django's own default for iterator()


@dataclass(frozen=True)
class Path:
    """``"author__photo"`` resolved: relations to follow, then the file field's attname."""

    text: str
    steps: tuple[tuple[str, bool], ...]  # (accessor, is a to-many relation)
    attname: str


def resolve_path(model: type[models.Model], text: str) -> Path:
    """Check a ``prefetch_thumbnails`` field name against the model; raise if it is wrong."""
    steps: list[tuple[str, bool]] = []
    parts = text.split(LOOKUP_SEP)
    for part in parts[:-1]:
        field = model._meta.get_field(part)
        if not field.is_relation or field.related_model is None:
            raise ValueError(f"prefetch_thumbnails({text!r}): {part!r} is not a relation.")
        accessor = field.get_accessor_name() if isinstance(field, ForeignObjectRel) else field.name
        steps.append((str(accessor), bool(field.many_to_many or field.one_to_many)))
        model = field.related_model
    field = model._meta.get_field(parts[-1])
    if not isinstance(field, models.FileField):
        raise ValueError(
            f"prefetch_thumbnails({text!r}): {model._meta.label}.{parts[-1]} is not a file field."
        )
    return Path(text, tuple(steps), field.attname)


def default_paths(model: type[models.Model]) -> tuple[Path, ...]:
    """Every image field of the model (thumbkit's and Django's)."""
    return tuple(
        resolve_path(model, f.name)
        for f in model._meta.concrete_fields
        if isinstance(f, models.ImageField)
    )


def prefetch_objects(instances: Iterable[models.Model], *field_names: str) -> None:
    """Resolve the thumbnails of ``instances`` (one model) in one store round trip.

    ``field_names`` name file fields, through relations too (``"author__photo"``); none
    means every image field of the model. Explicit: no peers are added, and Django's fetch
    mode is not consulted for the thumbnails (relations are followed as Django does).
    """
    objs = list(instances)
    if not objs:
        return
    model = type(objs[0])
    paths = [resolve_path(model, n) for n in field_names] or list(default_paths(model))
    load_paths(objs, paths)


def load_paths(instances: Sequence[models.Model], paths: Iterable[Path]) -> None:
    sources: list[Source] = []
    for path in paths:
        for obj in _follow(instances, path.steps):
            # A deferred field stays deferred: loading it would cost a query per row.
            if path.attname in obj.__dict__ and (file := getattr(obj, path.attname)):
                sources.append(coerce(file))
    batch.load_records(sources, peers=False)


def _follow(instances: Iterable[models.Model], steps: Sequence[tuple[str, bool]]) -> list[Any]:
    level: dict[int, Any] = {id(obj): obj for obj in instances}
    for accessor, many in steps:
        below: dict[int, Any] = {}
        for obj in level.values():
            for related in _related(obj, accessor, many):
                below[id(related)] = related
        level = below
    return list(level.values())


def _related(obj: models.Model, accessor: str, many: bool) -> list[Any]:
    if many:
        return list(getattr(obj, accessor).all())
    try:
        value = getattr(obj, accessor)
    except ObjectDoesNotExist:  # a reverse one-to-one with no row
        return []
    return [] if value is None else [value]


class ThumbnailQuerySet(models.QuerySet[Any]):
    """A QuerySet whose ``prefetch_thumbnails()`` batches its rows' thumbnail lookups."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._thumbkit_paths: tuple[Path, ...] = ()

    def prefetch_thumbnails(self, *field_names: str) -> ThumbnailQuerySet:
        """Resolve the thumbnails of these file fields (default: every image field) for all
        rows in one store round trip when the queryset is evaluated; one per chunk with
        ``.iterator(chunk_size=N)``. Names may follow relations: ``"author__photo"``.
        """
        new = [resolve_path(self.model, n) for n in field_names] or default_paths(self.model)
        clone = self.all()
        known = {p.text for p in self._thumbkit_paths}
        clone._thumbkit_paths = (*self._thumbkit_paths, *(p for p in new if p.text not in known))
        return clone

    def _clone(self) -> ThumbnailQuerySet:
        clone: ThumbnailQuerySet = super()._clone()  # type: ignore[misc]
        clone._thumbkit_paths = self._thumbkit_paths
        return clone

    def _batches(self) -> bool:
        return bool(self._thumbkit_paths) and issubclass(self._iterable_class, ModelIterable)

    def _fetch_all(self) -> None:
        fresh = self._result_cache is None
        super()._fetch_all()
        if fresh and self._batches() and self._result_cache:
            load_paths(self._result_cache, self._thumbkit_paths)

    def _iterator(self, use_chunked_fetch: bool, chunk_size: int | None) -> Iterator[Any]:
        rows: Iterator[Any] = super()._iterator(  # type: ignore[misc]
            use_chunked_fetch, chunk_size
        )
        if not self._batches():
            yield from rows
            return
        while chunk := list(islice(rows, chunk_size or DEFAULT_CHUNK)):
            load_paths(chunk, self._thumbkit_paths)
            yield from chunk

    async def aiterator(self, chunk_size: int = DEFAULT_CHUNK) -> AsyncIterator[Any]:
        rows = super().aiterator(chunk_size)
        if not self._batches():
            async for row in rows:
                yield row
            return
        load = sync_to_async(load_paths)
        chunk: list[Any] = []
        async for row in rows:
            chunk.append(row)
            if len(chunk) >= chunk_size:
                await load(chunk, self._thumbkit_paths)
                for item in chunk:
                    yield item
                chunk = []
        if chunk:
            await load(chunk, self._thumbkit_paths)
            for item in chunk:
                yield item

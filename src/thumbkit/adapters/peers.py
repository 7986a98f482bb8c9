"""Automatic batching: which model instances were loaded together.

Under Django's default fetch mode nothing records which instances came from one queryset,
so thumbkit keeps a *cohort* per model and thread: every instance of a model with a file
field (thumbkit's, Django's ``ImageField``/``FileField`` or a third-party subclass) joins the
open cohort when it is initialised (``post_init``, connected by :func:`follow_model`). The
first thumbnail looked up on any member resolves the whole cohort in one store round trip,
and closes it: instances created after that start a new cohort. A queryset, a paginator
page, the rows of ``select_related``/``prefetch_related`` are all created before the template
asks for their first thumbnail, so they are resolved together with no change to views or
templates.

Under Django 6.1's ``FETCH_PEERS`` thumbkit uses Django's own peers instead, and under
``FETCH_RAISE`` a lookup that is not already resolved raises ``FieldFetchBlocked``.

Cohorts hold weak references only, are per thread, start afresh with every request and
never grow past ``MAX_COHORT`` live members; a pickled or deep-copied instance gets an empty
cohort of its own (it resolves alone unless prefetched explicitly). ``.iterator()`` creates
its rows one at a time, so its rows batch only through ``ThumbnailQuerySet.prefetch_thumbnails``
(one read per chunk).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from django.core.signals import request_started
from django.db.models import FileField, Model
from django.db.models import ImageField as DjangoImageField
from django.db.models.signals import post_init
from django.dispatch import receiver

from ..exceptions import SourceError
from ..lookup.source import Source, coerce

if TYPE_CHECKING:  # type-only: fields and specfields import this module
    from ..fields import ImageField
    from .specfields import ImageSpecField

FETCH_ONE: Any
try:  # Django >= 6.1
    from django.db.models import FETCH_ONE
except ImportError:  # Django 5.2 has no fetch modes
    FETCH_ONE = None

# A cohort with this many live members is closed, so a batch job that loads millions of
# rows without asking for a thumbnail never holds an unbounded list.
MAX_COHORT = 10_000

_local = threading.local()

# Per model, the file fields that ImageSpecFields read their source from (a plain
# models.ImageField included): their rows batch like thumbkit ImageFields' rows.
_spec_sources: dict[type[Model], set[str]] = {}


# thumbkit.fields.ImageField (its subclasses match too), registered when fields is imported:
# fields imports this module, so lifecycle and this module recognise it without importing it.
_image_fields: tuple[type, ...] = ()

# Per model, its ImageSpecFields (registered by specfields at contribute_to_class).
_spec_fields: dict[type[Model], list[Any]] = {}


def add_image_field_class(cls: type) -> None:
    global _image_fields
    _image_fields = (*_image_fields, cls)
    followed_fields.cache_clear()
    batched_fields.cache_clear()


def is_image_field(field: object) -> TypeGuard[ImageField]:
    """Whether ``field`` is a thumbkit ``ImageField``."""
    return isinstance(field, _image_fields)


def thumbkit_fields(model: type[Model]) -> list[ImageField]:
    # isinstance inline (not is_image_field): this runs per row, in post_init too
    return cast(
        "list[ImageField]", [f for f in model._meta.concrete_fields if isinstance(f, _image_fields)]
    )


@functools.cache
def batched_fields(model: type[Model]) -> tuple[FileField, ...]:
    """The file fields a lookup on one row reads for all its peers: the fields thumbkit
    follows and every image field (Django's ``ImageField`` and its subclasses).

    A plain ``FileField`` joins only when it is the one asked for (:func:`peer_sources`),
    so a model's document field adds no keys to the read of its photos.
    """
    follows = {f.attname for f in source_fields(model)}
    return tuple(
        f
        for f in model._meta.concrete_fields
        if isinstance(f, FileField) and (f.attname in follows or isinstance(f, DjangoImageField))
    )


def source_fields(model: type[Model]) -> list[FileField]:
    """The file fields thumbkit follows on ``model``: its thumbkit ImageFields and the
    fields its ImageSpecFields take their source from (any FileField)."""
    return list(followed_fields(model))


@functools.cache
def followed_fields(model: type[Model]) -> tuple[FileField, ...]:
    """:func:`source_fields`, computed once per model: ``post_init`` asks on every row."""
    extra = spec_sources(model)
    return tuple(
        f
        for f in model._meta.concrete_fields
        # a thumbkit ImageField is a FileField too
        if isinstance(f, FileField) and (isinstance(f, _image_fields) or f.attname in extra)
    )


def add_spec_field(model: type[Model], field: ImageSpecField) -> None:
    _spec_fields.setdefault(model, []).append(field)


def spec_fields(model: type[Model], source: str | None = None) -> list[ImageSpecField]:
    """The ImageSpecFields of ``model`` (inherited ones too), optionally of one source."""
    found = [f for klass in model.__mro__ for f in _spec_fields.get(klass, ())]
    return [f for f in found if source is None or f.source == source]


def add_spec_source(model: type[Model], attname: str) -> None:
    _spec_sources.setdefault(model, set()).add(attname)
    _spec_sources_of.cache_clear()
    followed_fields.cache_clear()
    batched_fields.cache_clear()


def spec_sources(model: type[Model]) -> frozenset[str]:
    """The ImageSpecField source fields of ``model`` (registered on it or a parent)."""
    return _spec_sources_of(model)


@functools.cache
def _spec_sources_of(model: type[Model]) -> frozenset[str]:
    return frozenset(name for klass in model.__mro__ for name in _spec_sources.get(klass, ()))


class Cohort:
    """Weak references to instances loaded together (never pickled: it copies as empty)."""

    __slots__ = ("__weakref__", "refs")

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Model]] = []

    def members(self) -> list[Model]:
        return [obj for ref in self.refs if (obj := ref()) is not None]

    def has_room(self) -> bool:
        """Room for one more; a full cohort first drops the references of dead instances.

        A long-lived thread that loads rows without ever asking for a thumbnail fills its
        cohort with dead references; pruning them (rather than starting a new cohort at an
        arbitrary row) keeps the rows of one page in one cohort. It only continues when at
        least half of it is free again, so pruning costs O(1) per member on average.
        """
        if len(self.refs) < MAX_COHORT:
            return True
        self.refs = [ref for ref in self.refs if ref() is not None]
        return len(self.refs) < MAX_COHORT // 2

    def __reduce__(self) -> tuple[type[Cohort], tuple[()]]:
        return (Cohort, ())


def _open() -> dict[type[Model], Cohort]:
    cohorts: dict[type[Model], Cohort] | None = getattr(_local, "cohorts", None)
    if cohorts is None:
        cohorts = _local.cohorts = {}
    return cohorts


def join(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """``post_init`` receiver: add the instance to its model's open cohort.

    It runs for every row of every model with a file field, so it does the least it can:
    one dict lookup, one weak reference, one append (``has_room`` only when it is full).
    """
    cohorts: dict[type[Model], Cohort] | None = getattr(_local, "cohorts", None)
    if cohorts is None:  # this thread's first row
        cohorts = _local.cohorts = {}
    cohort = cohorts.get(sender)
    if cohort is None or (len(cohort.refs) >= MAX_COHORT and not cohort.has_room()):
        cohort = cohorts[sender] = Cohort()
    cohort.refs.append(weakref.ref(instance))
    instance.__dict__["_thumbkit_cohort"] = cohort


def follow_model(model: type[Model]) -> None:
    """Connect :func:`join` for a concrete model with a file field (at ``AppConfig.ready()``
    for the installed models, at ``class_prepared`` for later ones).

    The dispatch uid is the one thumbkit's own fields use for their ``post_init`` receiver,
    which joins too: a model with thumbkit fields keeps that one, and joins once.
    A model without file fields gets no receiver, so its rows cost nothing extra.
    """
    if model._meta.abstract or not any(
        isinstance(f, FileField) for f in model._meta.concrete_fields
    ):
        return
    uid = f"thumbkit:{model._meta.label}:init"
    post_init.connect(join, sender=model, dispatch_uid=uid, weak=False)


@receiver(request_started, dispatch_uid="thumbkit:peers:request")
def close_all(**kwargs: Any) -> None:
    """Close this thread's open cohorts: rows of one request never batch with the next's."""
    _local.cohorts = {}


def peers_of(instance: Model) -> list[Model]:
    """The instance's cohort (closing it), or just the instance."""
    cohort: Cohort | None = instance.__dict__.get("_thumbkit_cohort")
    if cohort is None:
        return [instance]
    cohorts = _open()
    if cohorts.get(type(instance)) is cohort:
        del cohorts[type(instance)]
    members = cohort.members()
    return members if any(m is instance for m in members) else [instance, *members]


class Fetcher:
    """Django's fetcher protocol (``fetch_one``/``fetch_many``, ``field``) for fetch modes."""

    def __init__(self, field: Any, load: Callable[[list[Model]], None]) -> None:
        self.field = field
        self._load = load

    def fetch_one(self, instance: Model) -> None:
        self._load(peers_of(instance))

    def fetch_many(self, instances: list[Model]) -> None:
        self._load(list(instances))


def fetch(field: Any, instance: Model, load: Callable[[list[Model]], None]) -> None:
    """Resolve ``instance`` and its peers as Django's fetch mode for it says.

    The default mode (and Django < 6.1) uses thumbkit's cohorts; ``FETCH_PEERS`` and custom
    modes go through Django, so ``FETCH_RAISE`` raises like Django does.
    """
    mode = getattr(instance._state, "fetch_mode", None)
    fetcher = Fetcher(field, load)
    if mode is None or mode is FETCH_ONE:
        fetcher.fetch_one(instance)
    else:
        mode.fetch(fetcher, instance)


def peer_sources(sources: Iterable[Source]) -> list[Source]:
    """The sources of the file fields of the instances ``sources`` came from and their peers
    (per each instance's fetch mode, which may raise ``FieldFetchBlocked``).

    For every peer that is its :func:`batched_fields` plus the fields asked for here.
    Sources that are not the file of a saved model instance have no peers.
    Deferred and empty fields are left out: loading them would cost a query per row.
    """
    found: dict[int, Model] = {}
    asked: dict[type[Model], set[str]] = {}

    def collect(instances: list[Model]) -> None:
        found.update((id(obj), obj) for obj in instances)

    for src in sources:
        field = getattr(src.origin, "field", None)
        instance = getattr(src.origin, "instance", None)
        if instance is None or instance.pk is None or not isinstance(field, FileField):
            continue
        asked.setdefault(type(instance), set()).add(field.attname)
        if id(instance) not in found:
            fetch(field, instance, collect)
    names: dict[type[Model], list[str]] = {}
    return [
        src for obj in found.values() for src in _loaded_sources(obj, _names(obj, asked, names))
    ]


def _names(
    instance: Model, asked: dict[type[Model], set[str]], known: dict[type[Model], list[str]]
) -> list[str]:
    """The attnames read for an instance of its model: its batched fields, then those
    asked for; worked out once per model for a whole cohort, not per row."""
    model = type(instance)
    found = known.get(model)
    if found is None:
        found = [f.attname for f in batched_fields(model)]
        found += sorted(asked.get(model, set()).difference(found))
        known[model] = found
    return found


def _loaded_sources(instance: Model, names: list[str]) -> list[Source]:
    sources = []
    loaded = instance.__dict__
    for name in names:
        if name in loaded and (file := getattr(instance, name)):
            try:
                sources.append(coerce(file))
            except SourceError:
                # A peer's unusable name (a NUL byte, too long) fails that row's own lookup,
                # where a template degrades it; it must not fail the row that was asked for.
                continue
    return sources

"""Automatic batching: which model instances were loaded together.

Under Django's default fetch mode nothing records which instances came from one queryset,
so thumbkit keeps a *cohort* per model and thread: every instance of a model with thumbkit
fields joins the open cohort when it is initialised (``post_init``). The first thumbnail
looked up on any member resolves the whole cohort in one store round trip, and closes it:
instances created after that start a new cohort. A queryset, a paginator page, the rows of
``select_related``/``prefetch_related`` are all created before the template asks for their
first thumbnail, so they are resolved together with no change to views or templates.

Under Django 6.1's ``FETCH_PEERS`` thumbkit uses Django's own peers instead, and under
``FETCH_RAISE`` a lookup that is not already resolved raises ``FieldFetchBlocked``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from django.db.models import Model

FETCH_ONE: Any
try:  # Django >= 6.1
    from django.db.models import FETCH_ONE
except ImportError:  # Django 5.2 has no fetch modes
    FETCH_ONE = None

# A cohort this big is closed, so a batch job that loads millions of rows without asking
# for a thumbnail never holds an unbounded list.
MAX_COHORT = 10_000

_local = threading.local()


class Cohort:
    """Weak references to instances loaded together (never pickled: it copies as empty)."""

    __slots__ = ("__weakref__", "refs")

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Model]] = []

    def members(self) -> list[Model]:
        return [obj for ref in self.refs if (obj := ref()) is not None]

    def __reduce__(self) -> tuple[type[Cohort], tuple[()]]:
        return (Cohort, ())


def _open() -> dict[type[Model], Cohort]:
    cohorts: dict[type[Model], Cohort] | None = getattr(_local, "cohorts", None)
    if cohorts is None:
        cohorts = _local.cohorts = {}
    return cohorts


def join(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """``post_init`` receiver: add the instance to its model's open cohort."""
    cohorts = _open()
    cohort = cohorts.get(sender)
    if cohort is None or len(cohort.refs) >= MAX_COHORT:
        cohort = cohorts[sender] = Cohort()
    cohort.refs.append(weakref.ref(instance))
    instance.__dict__["_thumbkit_cohort"] = cohort


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

"""Strategies: what a lookup returns for a thumbnail the store does not have yet.

``lazy`` (the default)
    generate it now, under a per-key lock: concurrent callers for the same thumbnail wait
    for the one holding the lock and read its result (imagekit's JustInTime).
``optimistic``
    never generate during a render: assume the file exists and return its predicted record
    (the deterministic name, size unknown). Files are made when the source is saved
    (declared thumbnails) or by ``api.ensure`` and the commands (imagekit's Optimistic).
``deferred``
    enqueue a Django task that makes it (once per key and process while pending) after the
    transaction commits, and return ``THUMBKIT["DEFERRED_FALLBACK"]`` now.
``on_demand``
    return a record whose URL is a signed URL to thumbkit's endpoint, which makes the file
    on the first browser request and redirects to it; once the store has the record, the
    direct URL is rendered. A ``format=auto`` spec always renders the signed URL: the
    endpoint picks the format from each request's ``Accept`` header.

A strategy is chosen per spec (``spec.strategy``), so per field or generator too, else by
``THUMBKIT["STRATEGY"]``; either may also be the dotted path of a class like these.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any, Protocol, TypeGuard

from django.db import transaction
from django.utils.module_loading import import_string

from ..conf import get_settings, on_reset
from ..core.spec import AUTO, Spec
from ..exceptions import ConfigurationError, LockTimeout, SourceError
from . import failures, hooks, refs
from .fallback import fallback, predicted
from .generate import generate
from .source import Source
from .stores import get_store
from .thumbnail import Placeholder, Thumbnail

logger = logging.getLogger("thumbkit")

Items = Sequence[tuple[Spec, str]]
Served = Mapping[str, Thumbnail | Placeholder]


class Strategy(Protocol):
    """Decide what to return for thumbnails missing from the store.

    ``on_missing`` gets one source and its missing (spec, key) items, and returns what can be
    served now, by key: stored records, or stand-ins (a :class:`Placeholder`, or a record
    of unknown size, width 0). Example, a strategy that always shows the source::

        class ShowSource:
            def on_missing(self, source, items):
                return {key: fallback(source, spec, key, "source") for spec, key in items}
    """

    def on_missing(self, source: Source, items: Items) -> Served:
        """Return what can be served now for the missing (spec, key) items, by key."""


class Lazy:
    def on_missing(self, source: Source, items: Items) -> Served:
        return generate_locked(source, items)


class Optimistic:
    def on_missing(self, source: Source, items: Items) -> Served:
        return {key: predicted(source, spec, key) for spec, key in items}


class Deferred:
    def on_missing(self, source: Source, items: Items) -> Served:
        enqueue = hooks.thumbnail_enqueuer()  # raises ConfigurationError without Tasks
        alias = refs.storage_alias(source, "deferred")
        # Every reference first: a spec that has none raises before anything is claimed.
        jobs = [(alias, source.name, refs.require(spec, "deferred")) for spec, _key in items]
        for job in jobs:
            if _claim(job):
                transaction.on_commit(functools.partial(_enqueue, enqueue, job))
        mode = get_settings().deferred_fallback
        return {key: fallback(source, spec, key, mode) for spec, key in items}


class OnDemand:
    def on_missing(self, source: Source, items: Items) -> Served:
        signed_record = (
            hooks.signed_record
        )  # thumbkit.adapters.endpoint's, set at AppConfig.ready()
        return {key: signed_record(source, spec, key) for spec, key in items}


STRATEGIES: dict[str, type[Strategy]] = {
    "lazy": Lazy,
    "optimistic": Optimistic,
    "deferred": Deferred,
    "on_demand": OnDemand,
}


def strategy_name(spec: Spec) -> str:
    return spec.strategy or get_settings().strategy


def negotiated(spec: Spec) -> bool:
    """True for a ``format=auto`` spec served on demand: the endpoint picks its format per
    request, so a page always renders the signed URL, never a stored file's."""
    return spec.format == AUTO and strategy_name(spec) == "on_demand"


@on_reset
@functools.lru_cache(maxsize=64)
def get_strategy(name: str | None = None) -> Strategy:
    """The strategy ``name`` (a built-in name or a class's dotted path; None: the setting)."""
    name = name or get_settings().strategy
    cls = STRATEGIES.get(name)
    if cls is None:
        try:
            cls = import_string(name) if "." in name else None
        except ImportError:
            cls = None
    if cls is None or not callable(getattr(cls, "on_missing", None)):
        raise ConfigurationError(
            f"Unknown strategy {name!r}: use one of {', '.join(STRATEGIES)} or the dotted "
            "path of a class with an on_missing(source, items) method."
        )
    return cls()


def is_stored(record: object) -> TypeGuard[Thumbnail]:
    """True for a record the store has; stand-ins (placeholders, predicted or signed
    records) must not be remembered as made. Predicted and signed records may know their
    size, so they are told apart by their class (subclasses of Thumbnail), not by it."""
    return type(record) is Thumbnail and record.width > 0


# --- deferred: one enqueue per job and process while it is pending -------------------------

# A job is (storage alias, source name, spec reference): the task's arguments. A job that
# was enqueued less than PENDING_SECONDS ago is not enqueued again (a busy page would
# otherwise flood the queue while the worker catches up); after that, one more is allowed,
# in case the first was lost. The task itself forgets its job when it ran here.
PENDING_SECONDS = 300.0
PENDING_MAX = 10_000
_pending: dict[tuple[str, str, str], float] = {}
_pending_lock = threading.Lock()


def _claim(job: tuple[str, str, str]) -> bool:
    now = time.monotonic()
    with _pending_lock:
        since = _pending.get(job)
        if since is not None and now - since < PENDING_SECONDS:
            return False
        if len(_pending) >= PENDING_MAX:
            _pending.clear()  # bounded memory; at worst a few jobs are enqueued twice
        _pending[job] = now
        return True


def release(job: tuple[str, str, str]) -> None:
    with _pending_lock:
        _pending.pop(job, None)


def _enqueue(enqueue: Callable[..., Any], job: tuple[str, str, str]) -> None:
    # After commit: a queue that fails must not turn the page into an error page.
    try:
        enqueue(*job)
    except Exception:
        release(job)
        logger.warning("Could not enqueue the thumbnail job %s", job, exc_info=True)


# --- generation under the store lock -------------------------------------------------------


def generate_locked(source: Source, items: Items) -> dict[str, Thumbnail]:
    """Generate the items nobody else is generating; wait for and read the others.

    The source's failure record is read with the records (same round trip): when the lock
    holder failed on the source, or failed before, every caller raises its error at once
    instead of reading the source again or waiting for a LockTimeout.
    """
    store = get_store()
    timeout = get_settings().lock_timeout
    pending = {key: spec for spec, key in items}
    failure_key = failures.key_if_remembered(source)
    results: dict[str, Thumbnail] = {}
    deadline = time.monotonic() + timeout
    delay = 0.01
    while pending:
        with ExitStack() as stack:
            won = [k for k in pending if stack.enter_context(store.lock(k, timeout))]
            if won:
                # Someone may have finished (or failed) between our store read and the lock.
                done, previous = _read(store, source, won, failure_key, pending)
                todo = [(pending[k], k) for k in won if k not in done]
                results.update(done)
                if todo:
                    results.update(_generate(source, todo, previous))
                for key in won:
                    del pending[key]
        if pending:
            found, _ = _read(store, source, list(pending), failure_key, pending)
            results.update(found)
            for key in found:
                del pending[key]
            if pending and time.monotonic() > deadline:
                raise LockTimeout(
                    f"Waited {timeout}s for another process to generate {len(pending)} "
                    f"thumbnail(s) of {source.name!r}."
                )
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
    return results


def _read(
    store: Any, source: Source, keys: list[str], failure_key: str | None, specs: Mapping[str, Spec]
) -> tuple[dict[str, Thumbnail], Thumbnail | None]:
    """The stored records among ``keys``, and the source's failure record (one round trip).

    A live failure that covers the spec of one of ``keys`` is raised.
    """
    found: dict[str, Thumbnail] = store.get_many([*keys, failure_key] if failure_key else keys)
    previous = found.pop(failure_key, None) if failure_key else None
    if previous is not None:
        failures.check(source, {previous.key: previous}, [specs[k] for k in keys])
    return found, previous


def _generate(source: Source, todo: Items, previous: Thumbnail | None) -> dict[str, Thumbnail]:
    try:
        return generate(source, todo)
    except SourceError as exc:
        # Recorded before the lock is released, so the waiters find it on their next poll.
        failures.record(source, exc, [spec for spec, _ in todo], previous)
        raise

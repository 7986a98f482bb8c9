"""Strategies: what happens when a thumbnail is not in the store yet.

``lazy`` (the default) generates it now, under a per-key lock: concurrent callers for the
same thumbnail wait for the one that holds the lock and read its result.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Protocol

from .conf import get_settings
from .exceptions import ConfigurationError, LockTimeout
from .generate import generate
from .source import Source
from .spec import Spec
from .stores import get_store
from .thumbnail import Thumbnail


class Strategy(Protocol):
    """Decide what to return for thumbnails missing from the store.

    Example, a strategy that never generates (missing thumbnails are simply absent)::

        class Never:
            def on_missing(self, source, items):
                return {}
    """

    def on_missing(self, source: Source, items: Sequence[tuple[Spec, str]]) -> dict[str, Thumbnail]:
        """Return what can be served now for the missing (spec, key) items, by key."""


class Lazy:
    def on_missing(self, source: Source, items: Sequence[tuple[Spec, str]]) -> dict[str, Thumbnail]:
        return generate_locked(source, items)


STRATEGIES: dict[str, type[Strategy]] = {"lazy": Lazy}


def get_strategy(name: str | None = None) -> Strategy:
    name = name or get_settings().strategy
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ConfigurationError(f"Unknown THUMBKIT['STRATEGY'] {name!r}.") from None


def generate_locked(source: Source, items: Sequence[tuple[Spec, str]]) -> dict[str, Thumbnail]:
    """Generate the items nobody else is generating; wait for and read the others."""
    store = get_store()
    timeout = get_settings().lock_timeout
    pending = {key: spec for spec, key in items}
    results: dict[str, Thumbnail] = {}
    deadline = time.monotonic() + timeout
    delay = 0.01
    while pending:
        with ExitStack() as stack:
            won = [k for k in pending if stack.enter_context(store.lock(k, timeout))]
            if won:
                # Someone may have finished between our store read and taking the lock.
                done = store.get_many(won)
                todo = [(pending[k], k) for k in won if k not in done]
                results.update(done)
                if todo:
                    results.update(generate(source, todo))
                for key in won:
                    del pending[key]
        if pending:
            found = store.get_many(list(pending))
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

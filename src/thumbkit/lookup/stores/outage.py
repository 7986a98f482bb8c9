"""Store outages as page lookups see them: logged once, and not retried for a while.

When a lookup finds the store unreachable, :data:`OUTAGE` remembers it for
``STORE_RETRY_AFTER`` seconds; lookups in that window fail at once, without waiting for the
store's timeout again, so a page of a hundred thumbnails waits for one timeout, not a
hundred. The first failure of an outage logs one warning; while it lasts, a reminder is
logged at most once a minute, and its end is logged once at INFO.

The state is per process, and is reset when settings change (tests start afresh).
"""

from __future__ import annotations

import logging
import threading
import time

from ...conf import on_reset
from ...exceptions import StoreUnavailable

logger = logging.getLogger("thumbkit")

REMIND_EVERY = 60.0  # seconds between warnings while one outage lasts
_NOTED = "_thumbkit_outage_noted"


class Outage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cache_clear()

    def cache_clear(self) -> None:
        """Forget any outage (the ``conf.on_reset`` hook: called when settings change)."""
        self.until = 0.0  # monotonic time before which the store is not asked
        self.since: float | None = None  # start of the current outage
        self.warned = 0.0
        self.skipped = 0  # lookups answered without asking the store, this outage
        self.error = ""

    @property
    def active(self) -> bool:
        return self.since is not None

    def check(self) -> None:
        """Raise StoreUnavailable at once while a recent failure says the store is down."""
        if self.until and time.monotonic() < self.until:
            with self._lock:
                self.skipped += 1
            exc = StoreUnavailable(f"The metadata store is unavailable: {self.error}")
            setattr(exc, _NOTED, True)
            raise exc

    def failed(self, exc: StoreUnavailable, retry_after: float) -> None:
        """Record a failure of the store (once per exception); warn if the outage is new."""
        if getattr(exc, _NOTED, False):
            return
        setattr(exc, _NOTED, True)
        now = time.monotonic()
        with self._lock:
            new = self.since is None
            if new:
                self.since, self.skipped = now, 0
            self.until = now + retry_after
            self.error = str(exc)
            warn = new or now - self.warned >= REMIND_EVERY
            if warn:
                self.warned = now
            skipped, since = self.skipped, self.since
        if new:
            logger.warning(
                "The metadata store is unavailable (lookups do not ask it again for %.1fs): %s",
                retry_after,
                exc,
            )
        elif warn:
            assert since is not None
            logger.warning(
                "The metadata store is still unavailable after %.0fs "
                "(%d lookups answered without it): %s",
                now - since,
                skipped,
                exc,
            )

    def succeeded(self) -> None:
        """The store answered: end the outage, if there was one."""
        if self.since is None:
            return
        with self._lock:
            since, skipped = self.since, self.skipped
            self.cache_clear()
        if since is not None:
            logger.info(
                "The metadata store is back after %.1fs (%d lookups answered without it).",
                time.monotonic() - since,
                skipped,
            )


OUTAGE = on_reset(Outage())

"""Metrics: thumbkit's signals counted in process, and handed to Prometheus or OpenTelemetry.

``THUMBKIT["METRICS"]`` says what listens (``docs/metrics.md``):

``None`` (the default)
    nothing. No receiver is connected, so the senders skip building their arguments and
    reading the clock (they test ``signal.receivers`` first).
``"counters"``
    :data:`counters`, totals since the process started; ``manage.py thumbkit_stats``
    prints them, ``counters.snapshot()`` returns them.
``"prometheus"``, ``"otel"``
    the counters, plus ``prometheus_client`` metrics on its default registry
    (``thumbkit_hits_total``, ...), or instruments of an OpenTelemetry meter named
    ``"thumbkit"`` from the global meter provider (``thumbkit.hits``, ...).

A list names several. Each sink gets the same five events (:class:`Sink`); one receiver per
signal hands them to every sink, so adding a sink costs no more dispatch.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django.conf import settings as django_settings
from django.core.signals import setting_changed

from ..conf import metric_names
from ..exceptions import StoreUnavailable
from ..signals import store_read, thumbnail_error, thumbnail_hit, thumbnail_miss
from ..signals import thumbnails_generated as generated_signal
from .thumbnail import Thumbnail

logger = logging.getLogger("thumbkit")

SINKS = ("counters", "prometheus", "otel")
# sink -> (module it needs, extra that installs it)
SINK_MODULES = {
    "prometheus": ("prometheus_client", "prometheus"),
    "otel": ("opentelemetry.metrics", "otel"),
}

GENERATE, STORE = "generate", "store"  # the stages an error is counted under


class Sink(Protocol):
    """Where the events go. Every method is called from the thread that saw the event."""

    def hit(self, count: int) -> None:
        """``count`` lookups were answered by stored records."""

    def miss(self, count: int, strategy: str) -> None:
        """``count`` thumbnails were missing from the store; ``strategy`` serves them."""

    def generated(self, count: int, seconds: float, size: int) -> None:
        """One source's ``count`` thumbnails were made in ``seconds``, ``size`` bytes."""

    def error(self, stage: str) -> None:
        """Generating (``"generate"``) or reading the store (``"store"``) failed."""

    def store_read(self, seconds: float, failed: bool) -> None:
        """One batch read of the store took ``seconds`` (and failed, if ``failed``)."""


FIELDS = (
    "hits",
    "misses",
    "generations",  # sources whose thumbnails were made (one pass each)
    "generated",  # thumbnails made
    "generated_bytes",
    "generation_seconds",
    "errors",  # generation errors and failed store reads
    "store_reads",
    "store_read_seconds",
    "store_errors",
)


class Counters:
    """Totals of the events in this process, under a lock (``hits`` and the rest)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = dict.fromkeys(FIELDS, 0)
        self._by_strategy: dict[str, int] = {}

    def _add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._values[name] += amount

    def hit(self, count: int) -> None:
        self._add(hits=count)

    def miss(self, count: int, strategy: str) -> None:
        with self._lock:
            self._values["misses"] += count
            self._by_strategy[strategy] = self._by_strategy.get(strategy, 0) + count

    def generated(self, count: int, seconds: float, size: int) -> None:
        self._add(generations=1, generated=count, generation_seconds=seconds, generated_bytes=size)

    def error(self, stage: str) -> None:
        self._add(errors=1)

    def store_read(self, seconds: float, failed: bool) -> None:
        self._add(store_reads=1, store_read_seconds=seconds, store_errors=int(failed))

    def snapshot(self) -> dict[str, Any]:
        """The totals (counts as ints, seconds as floats), and ``misses_by_strategy``."""
        with self._lock:
            values: dict[str, Any] = {
                name: float(value) if name.endswith("seconds") else int(value)
                for name, value in self._values.items()
            }
            values["misses_by_strategy"] = dict(sorted(self._by_strategy.items()))
        return values

    def reset(self) -> None:
        with self._lock:
            self._values = dict.fromkeys(FIELDS, 0)
            self._by_strategy = {}


#: This process's totals (kept while ``THUMBKIT["METRICS"]`` is set).
counters = Counters()

_sinks: list[Sink] = []


def sinks() -> list[Sink]:
    """The sinks listening now (a copy)."""
    return list(_sinks)


def use(new: Sequence[Sink]) -> None:
    """Listen with exactly ``new``; with none, disconnect (the senders then skip all work)."""
    _sinks[:] = list(new)
    for signal, receiver in _RECEIVERS:
        if _sinks:
            signal.connect(receiver, sender=Thumbnail, dispatch_uid=_uid(receiver), weak=False)
        else:
            signal.disconnect(sender=Thumbnail, dispatch_uid=_uid(receiver))


def configure(names: Sequence[str] | None = None) -> list[Sink]:
    """Listen as ``names`` (default: ``THUMBKIT["METRICS"]``) says; return the sinks.

    A sink whose package is missing is left out with a warning (the system check
    ``thumbkit.E017`` reports it), so a metrics setting never stops a site from starting.
    """
    wanted = _wanted() if names is None else tuple(names)
    built: list[Sink] = [counters] if wanted else []
    for name in wanted:
        if name == "counters":
            continue
        try:
            built.append(_exporter(name))
        except (ImportError, ValueError) as exc:
            logger.warning("metrics %r are off: %s", name, exc)
    use(built)
    return built


def _wanted() -> tuple[str, ...]:
    # Only this key is read: the rest of THUMBKIT may be invalid (the system checks say so),
    # and this runs on every settings change.
    raw = getattr(django_settings, "THUMBKIT", None)
    return metric_names(raw.get("METRICS") if isinstance(raw, Mapping) else None)


@functools.cache  # one set of instruments per process: a registry refuses a second
def _exporter(name: str) -> Sink:
    if name == "prometheus":
        from .exporters import PrometheusSink

        return PrometheusSink()
    if name == "otel":
        from .exporters import OtelSink

        return OtelSink()
    raise ValueError(f"unknown metrics sink {name!r}; use one of {', '.join(SINKS)}")


def send_read(
    keys: Sequence[str],
    found: Mapping[str, Any],
    started: float,
    error: StoreUnavailable | None,
) -> None:
    """Send ``store_read`` for a batch read that began at ``started`` (``perf_counter``)."""
    seconds = time.perf_counter() - started
    store_read.send(
        sender=Thumbnail, sources=len(keys), found=len(found), seconds=seconds, error=error
    )


# -- the receivers: one per signal, for every sink ---------------------------------------


def _on_hit(*, thumbnails: Sequence[Thumbnail], **kwargs: Any) -> None:
    for sink in _sinks:
        sink.hit(len(thumbnails))


def _on_miss(*, keys: Sequence[str], strategy: str, **kwargs: Any) -> None:
    for sink in _sinks:
        sink.miss(len(keys), strategy)


def _on_generated(*, thumbnails: Sequence[Thumbnail], **kwargs: Any) -> None:
    seconds, size = float(kwargs.get("seconds", 0.0)), int(kwargs.get("bytes", 0))
    for sink in _sinks:
        sink.generated(len(thumbnails), seconds, size)


def _on_error(**kwargs: Any) -> None:
    for sink in _sinks:
        sink.error(GENERATE)


def _on_read(*, seconds: float, error: StoreUnavailable | None, **kwargs: Any) -> None:
    for sink in _sinks:
        sink.store_read(seconds, error is not None)
        if error is not None:
            sink.error(STORE)


_RECEIVERS = (
    (thumbnail_hit, _on_hit),
    (thumbnail_miss, _on_miss),
    (generated_signal, _on_generated),
    (thumbnail_error, _on_error),
    (store_read, _on_read),
)


def _uid(receiver: Any) -> str:
    return f"thumbkit:metrics:{receiver.__name__}"


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    # conf's own receiver (connected first, by conf's import) has dropped the old settings.
    if setting == "THUMBKIT" and _configured:
        configure()


_configured = False


def start() -> None:
    """Listen as the settings say, now and whenever they change (``AppConfig.ready()``)."""
    global _configured
    _configured = True
    setting_changed.connect(_setting_changed, dispatch_uid="thumbkit:metrics:settings")
    configure()

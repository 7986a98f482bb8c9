"""What ``thumbkit_stats`` reports, and the system check of ``THUMBKIT["METRICS"]``.

=============  ==========================================================
thumbkit.E017  THUMBKIT["METRICS"] names an unknown sink
thumbkit.E005  (shared) a sink's package is not installed: prometheus_client or
               opentelemetry-api
=============  ==========================================================
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.checks import CheckMessage, Error, register

from ..conf import user_settings
from ..lookup.batch import FAILED_SPEC, VERSION_SPEC
from ..lookup.metrics import SINK_MODULES, SINKS
from ..lookup.stores.base import MetadataStore
from ..lookup.thumbnail import Thumbnail
from .checks import importable


@register("thumbkit")
def check_metrics(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = user_settings().get("METRICS")
    if not value or not isinstance(value, str | list | tuple):
        return []  # off, or a wrong type (E009, from the settings check)
    names = [value] if isinstance(value, str) else list(value)
    errors: list[CheckMessage] = []
    for name in names:
        if not isinstance(name, str) or name.strip().lower() not in SINKS:
            errors.append(
                Error(
                    f"THUMBKIT['METRICS'] names {name!r}, which is not a metrics sink.",
                    hint=f"Use None, or one or a list of {', '.join(map(repr, SINKS))}.",
                    id="thumbkit.E017",
                )
            )
        elif (need := SINK_MODULES.get(name.strip().lower())) and not importable(need[0]):
            module, extra = need
            errors.append(
                Error(
                    f"THUMBKIT['METRICS'] = {value!r} needs the {module!r} package.",
                    hint=f"pip install 'django-thumbkit[{extra}]'",
                    id="thumbkit.E005",
                )
            )
    return errors


@dataclass
class StoreSummary:
    """What the store holds, counted from ``iter_all`` (a maintenance scan)."""

    records: int = 0
    thumbnails: int = 0
    versions: int = 0
    failures: int = 0
    sources: set[str] = field(default_factory=set)
    formats: Counter[str] = field(default_factory=Counter)
    storages: Counter[str] = field(default_factory=Counter)

    def add(self, record: Thumbnail) -> None:
        self.records += 1
        self.sources.add(record.source_key)
        if record.spec == VERSION_SPEC:
            self.versions += 1
        elif record.spec == FAILED_SPEC:
            self.failures += 1
        else:
            self.thumbnails += 1
            self.formats[record.format] += 1
            self.storages[record.storage_alias] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "thumbnails": self.thumbnails,
            "sources": len(self.sources),
            "versions": self.versions,
            "failures": self.failures,
            "formats": dict(self.formats.most_common()),
            "storages": dict(self.storages.most_common()),
        }


def summarize(records: Iterable[Thumbnail]) -> StoreSummary:
    summary = StoreSummary()
    for record in records:
        summary.add(record)
    return summary


@dataclass(frozen=True)
class Probe:
    """Timings of ``repeat`` batch reads (``get_sources``) of the same ``sources`` keys."""

    sources: int
    stored: int  # of those, the keys the store has records for
    seconds: tuple[float, ...]

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "stored": self.stored,
            "best_ms": round(self.best * 1000, 3),
            "median_ms": round(self.median * 1000, 3),
            "reads": len(self.seconds),
        }


def probe(store: MetadataStore, keys: Sequence[str], size: int, repeat: int) -> Probe:
    """Time ``repeat`` reads of ``size`` source keys: the stored ``keys`` first, made-up ones
    after (a store that cannot list its records is timed on keys it does not have)."""
    asked = list(keys[:size])
    asked += [secrets.token_hex(16) for _ in range(size - len(asked))]
    seconds = []
    stored = 0
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        found = store.get_sources(asked)
        seconds.append(time.perf_counter() - started)
        stored = len(found)
    return Probe(len(asked), stored, tuple(seconds))

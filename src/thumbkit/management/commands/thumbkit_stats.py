"""``manage.py thumbkit_stats [--probe N] [--repeat R] [--no-scan] [--json]``.

What the metadata store holds (records, thumbnails, sources, versions, remembered
failures, by format and storage), how long one batch read of ``N`` sources takes on it
(the round trip a page pays), and the counters of this process when ``THUMBKIT["METRICS"]``
keeps them. The counters are per process: a web server's own are read through its
Prometheus or OpenTelemetry exporter, or with ``call_command("thumbkit_stats")`` in it.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...adapters.stats import Probe, StoreSummary, probe, summarize
from ...conf import get_settings
from ...exceptions import StoreError
from ...lookup import metrics
from ...lookup.stores import get_store


class Command(BaseCommand):
    help = (
        "Print what the metadata store holds, the time of one batch read, and this "
        "process's thumbkit counters."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--probe", type=int, default=100, help="source keys per timed read (0: no timing)"
        )
        parser.add_argument("--repeat", type=int, default=5, help="timed reads (best is shown)")
        parser.add_argument(
            "--no-scan", action="store_true", help="do not list the records (a very large store)"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["probe"] < 0 or options["repeat"] < 1:
            raise CommandError("--probe must be 0 or more and --repeat 1 or more.")
        settings = get_settings()
        store = get_store()
        summary, why = (None, "skipped (--no-scan)") if options["no_scan"] else _scan(store)
        keys = sorted(summary.sources) if summary is not None else []
        timed = None
        if options["probe"]:
            try:
                timed = probe(store, keys, options["probe"], options["repeat"])
            except StoreError as exc:
                raise CommandError(f"The store cannot be read: {exc}") from exc
        report = {
            "store": settings.store,
            "store_class": f"{type(store).__module__}.{type(store).__qualname__}",
            "records": summary.as_dict() if summary is not None else None,
            "records_note": why,
            "read": timed.as_dict() if timed is not None else None,
            "metrics": list(settings.metrics),
            "counters": metrics.counters.snapshot() if metrics.sinks() else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
        else:
            self._print(report, summary, timed)

    def _print(
        self, report: dict[str, Any], summary: StoreSummary | None, timed: Probe | None
    ) -> None:
        out = self.stdout.write
        out(f"Store: {report['store']} ({report['store_class']})")
        if summary is None:
            out(f"Records: {report['records_note']}")
        else:
            out(
                f"Records: {summary.records:,} ({summary.thumbnails:,} thumbnails of "
                f"{len(summary.sources):,} sources, {summary.versions:,} versions, "
                f"{summary.failures:,} failures)"
            )
            for label, counts in (("format", summary.formats), ("storage", summary.storages)):
                if counts:
                    listed = ", ".join(f"{name} {n:,}" for name, n in counts.most_common())
                    out(f"  by {label}: {listed}")
        if timed is not None:
            out(
                f"Store read: {timed.sources} sources ({timed.stored} stored) in "
                f"{timed.best * 1000:.2f} ms (best of {len(timed.seconds)}; median "
                f"{timed.median * 1000:.2f} ms)"
            )
        counters = report["counters"]
        if counters is None:
            out("Counters: off (THUMBKIT['METRICS'] is not set; see docs/metrics.md)")
            return
        out(f"Counters of this process (THUMBKIT['METRICS'] = {report['metrics']!r}):")
        for name in metrics.FIELDS:
            value = counters[name]
            shown = f"{value:.4f}" if isinstance(value, float) else f"{value:,}"
            out(f"  {name:<20} {shown}")
        by_strategy = counters["misses_by_strategy"]
        if by_strategy:
            out("  misses by strategy: " + ", ".join(f"{k} {v:,}" for k, v in by_strategy.items()))


def _scan(store: Any) -> tuple[StoreSummary | None, str | None]:
    try:
        return summarize(store.iter_all()), None
    except NotImplementedError as exc:
        return None, f"not listed: {exc}"
    except StoreError as exc:
        raise CommandError(f"The store cannot be read: {exc}") from exc

"""The optional metrics sinks: Prometheus (``prometheus_client``) and OpenTelemetry.

Imported only when ``THUMBKIT["METRICS"]`` asks for them (``thumbkit.lookup.metrics``), so
neither package is needed otherwise. The names follow each ecosystem's conventions:
Prometheus counters end in ``_total`` and durations are ``_seconds`` histograms, as in
django-prometheus; OpenTelemetry instruments are dotted, with UCUM units.
"""

from __future__ import annotations

from typing import Any

# Store reads take well under a millisecond on a local Redis, a few on a remote database.
READ_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Generation reads a source and encodes a few images: tens of milliseconds to seconds.
GENERATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PrometheusSink:
    """Counters and histograms on a ``prometheus_client`` registry (default: its global one,
    which ``prometheus_client``'s and django-prometheus's ``/metrics`` views expose)::

        thumbkit_hits_total                      lookups answered by stored records
        thumbkit_misses_total{strategy}          thumbnails the store did not have
        thumbkit_generations_total               sources whose thumbnails were made
        thumbkit_generated_thumbnails_total      thumbnails made
        thumbkit_generated_bytes_total           bytes of the files written
        thumbkit_generation_seconds              histogram, per source
        thumbkit_errors_total{stage}             stage "generate" or "store"
        thumbkit_store_reads_total               batch reads of the metadata store
        thumbkit_store_read_seconds              histogram, per read
    """

    def __init__(self, registry: Any = None) -> None:
        import prometheus_client as prom

        reg = prom.REGISTRY if registry is None else registry
        self.hits = prom.Counter(
            "thumbkit_hits", "Lookups answered by stored records", registry=reg
        )
        self.misses = prom.Counter(
            "thumbkit_misses", "Thumbnails the store did not have", ["strategy"], registry=reg
        )
        self.generations = prom.Counter(
            "thumbkit_generations", "Sources whose thumbnails were made", registry=reg
        )
        self.thumbnails = prom.Counter(
            "thumbkit_generated_thumbnails", "Thumbnails made", registry=reg
        )
        self.bytes = prom.Counter(
            "thumbkit_generated_bytes", "Bytes of the thumbnail files written", registry=reg
        )
        self.generation_seconds = prom.Histogram(
            "thumbkit_generation_seconds",
            "Time to make one source's thumbnails",
            buckets=GENERATION_BUCKETS,
            registry=reg,
        )
        self.errors = prom.Counter(
            "thumbkit_errors", "Failed generations and store reads", ["stage"], registry=reg
        )
        self.reads = prom.Counter(
            "thumbkit_store_reads", "Batch reads of the metadata store", registry=reg
        )
        self.read_seconds = prom.Histogram(
            "thumbkit_store_read_seconds",
            "Time of one batch read of the metadata store",
            buckets=READ_BUCKETS,
            registry=reg,
        )

    def hit(self, count: int) -> None:
        self.hits.inc(count)

    def miss(self, count: int, strategy: str) -> None:
        self.misses.labels(strategy).inc(count)

    def generated(self, count: int, seconds: float, size: int) -> None:
        self.generations.inc()
        self.thumbnails.inc(count)
        self.bytes.inc(size)
        self.generation_seconds.observe(seconds)

    def error(self, stage: str) -> None:
        self.errors.labels(stage).inc()

    def store_read(self, seconds: float, failed: bool) -> None:
        self.reads.inc()
        self.read_seconds.observe(seconds)


class OtelSink:
    """Instruments of the meter ``"thumbkit"`` (from ``meter_provider``, default the global
    one that the application's OpenTelemetry SDK set up)::

        thumbkit.hits                  counter, {lookup}
        thumbkit.misses                counter, {thumbnail}, attribute strategy
        thumbkit.generations           counter, {source}
        thumbkit.generated             counter, {thumbnail}
        thumbkit.generated.size        counter, By
        thumbkit.generation.duration   histogram, s
        thumbkit.errors                counter, {error}, attribute stage
        thumbkit.store.reads           counter, {read}
        thumbkit.store.read.duration   histogram, s
    """

    def __init__(self, meter_provider: Any = None) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter("thumbkit", meter_provider=meter_provider)
        counter = meter.create_counter
        self.hits = counter("thumbkit.hits", "{lookup}", "Lookups answered by stored records")
        self.misses = counter("thumbkit.misses", "{thumbnail}", "Thumbnails the store lacked")
        self.generations = counter("thumbkit.generations", "{source}", "Sources made")
        self.thumbnails = counter("thumbkit.generated", "{thumbnail}", "Thumbnails made")
        self.bytes = counter("thumbkit.generated.size", "By", "Bytes of the files written")
        self.errors = counter("thumbkit.errors", "{error}", "Failed generations, store reads")
        self.reads = counter("thumbkit.store.reads", "{read}", "Batch reads of the store")
        self.generation_duration = meter.create_histogram(
            "thumbkit.generation.duration",
            "s",
            "Time to make one source's thumbnails",
            explicit_bucket_boundaries_advisory=GENERATION_BUCKETS,
        )
        self.read_duration = meter.create_histogram(
            "thumbkit.store.read.duration",
            "s",
            "Time of one batch read of the store",
            explicit_bucket_boundaries_advisory=READ_BUCKETS,
        )

    def hit(self, count: int) -> None:
        self.hits.add(count)

    def miss(self, count: int, strategy: str) -> None:
        self.misses.add(count, {"strategy": strategy})

    def generated(self, count: int, seconds: float, size: int) -> None:
        self.generations.add(1)
        self.thumbnails.add(count)
        self.bytes.add(size)
        self.generation_duration.record(seconds)

    def error(self, stage: str) -> None:
        self.errors.add(1, {"stage": stage})

    def store_read(self, seconds: float, failed: bool) -> None:
        self.reads.add(1)
        self.read_duration.record(seconds)

"""Metrics: thumbkit's signals, the in-process counters, Prometheus and OpenTelemetry.

The counts come from real work: rows loaded together, thumbnails generated on disk (their
byte counts are the files' sizes), a corrupt source, a Redis store on a closed port. With
``THUMBKIT["METRICS"]`` unset nothing is connected, and a warm page reads no clock.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from tests import images
from tests.conftest import thumbkit_settings
from tests.testapp.models import Photo
from thumbkit import get_thumbnail
from thumbkit.adapters import checks, peers, stats
from thumbkit.exceptions import SourceUnreadable
from thumbkit.lookup import batch, metrics
from thumbkit.lookup.exporters import OtelSink
from thumbkit.lookup.thumbnail import Placeholder, Thumbnail
from thumbkit.signals import (
    store_read,
    thumbnail_error,
    thumbnail_hit,
    thumbnail_miss,
    thumbnails_generated,
)

PAGE_SIGNALS = [thumbnail_hit, thumbnail_miss, thumbnail_error, store_read]
SPEC = ("100x100", {"crop": "center"})
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    peers.close_all()
    metrics.counters.reset()
    yield
    metrics.configure()  # what the settings say (nothing, in the test settings)


@pytest.fixture
def photos(fs_media: Any) -> list[Photo]:
    """Three rows with their own JPEG sources, saved together."""
    rows = []
    for i in range(3):
        photo = Photo(title=f"p{i}")
        photo.image.save(f"m{i}.jpg", ContentFile(images.jpeg((400 - 20 * i, 300))), save=False)
        rows.append(photo)
    Photo.objects.bulk_create(rows)
    return rows


def page(rounds: int = 1) -> list[Thumbnail | Placeholder]:
    """A fresh request's page: the rows loaded together, each asked ``rounds`` times."""
    peers.close_all()
    found = []
    for photo in Photo.objects.order_by("pk"):
        for _ in range(rounds):
            found.append(get_thumbnail(photo.image, SPEC[0], **SPEC[1]))
    return found


def on_disk(media: Path, thumbs: list[Any]) -> int:
    return sum(os.path.getsize(media / t.name) for t in thumbs)


def test_nothing_listens_by_default_and_a_warm_page_reads_no_clock(
    photos: list[Photo], fs_media: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    page()  # cold: made now
    assert all(signal.receivers == [] for signal in PAGE_SIGNALS)
    assert metrics.sinks() == []
    clock: list[float] = []

    def counted() -> float:
        clock.append(time.perf_counter())
        return clock[-1]

    monkeypatch.setattr(batch, "perf_counter", counted)
    warm = page(rounds=2)
    assert len(warm) == 6
    assert all(isinstance(t, Thumbnail) for t in warm)
    assert clock == []
    assert metrics.counters.snapshot()["store_reads"] == 0
    with thumbkit_settings(METRICS="counters"):
        page()
    assert len(clock) == 1  # a listened-to read starts the clock (metrics reads its end)
    assert metrics.counters.snapshot()["store_reads"] == 1


def test_counters_count_hits_misses_generations_and_reads(
    photos: list[Photo], fs_media: Any
) -> None:
    with thumbkit_settings(METRICS="counters"):
        assert metrics.sinks() == [metrics.counters]
        cold = page()
        after_cold = metrics.counters.snapshot()
        warm = page(rounds=2)
        after_warm = metrics.counters.snapshot()
    made = on_disk(fs_media.root, cold)
    assert after_cold["misses"] == 3
    assert after_cold["misses_by_strategy"] == {"lazy": 3}
    assert after_cold["generations"] == 3
    assert after_cold["generated"] == 3
    assert after_cold["generated_bytes"] == made > 0
    assert after_cold["generation_seconds"] > 0
    assert after_cold["hits"] == 0
    assert after_cold["store_reads"] == 1  # the three rows in one read
    assert [t.name for t in warm[::2]] == [t.name for t in cold]
    assert after_warm["hits"] == 6  # the first from the store read, then the memo
    assert after_warm["store_reads"] == 2
    assert after_warm["store_read_seconds"] > 0
    assert after_warm["misses"] == 3
    assert after_warm["errors"] == 0
    # The setting gone, nothing listens again and the totals stand still.
    assert all(signal.receivers == [] for signal in PAGE_SIGNALS)
    page()
    assert metrics.counters.snapshot() == after_warm


def test_a_failed_generation_and_an_unreachable_store_are_errors(fs_media: Any) -> None:
    photo = Photo(title="bad")
    photo.image.save("bad.jpg", ContentFile(b"not an image at all"), save=True)
    seen: list[dict[str, Any]] = []

    def listen(**kwargs: Any) -> None:
        seen.append(kwargs)

    thumbnail_error.connect(listen, dispatch_uid="test-metrics-error")
    try:
        with thumbkit_settings(METRICS="counters"), pytest.raises(SourceUnreadable):
            get_thumbnail(photo.image, "50x50")
    finally:
        thumbnail_error.disconnect(dispatch_uid="test-metrics-error")
    assert [type(s["error"]) for s in seen] == [SourceUnreadable]
    assert seen[0]["specs"] == ["50x50"]
    assert seen[0]["source"].name == photo.image.name
    assert metrics.counters.snapshot()["errors"] == 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = {"STORE": "redis", "STORE_OPTIONS": {"url": f"redis://127.0.0.1:{port}/0"}}
    metrics.counters.reset()
    with thumbkit_settings(METRICS="counters", **down):
        shown = get_thumbnail(photo.image.name, "50x50")  # the store fallback: predicted
        get_thumbnail(photo.image.name, "60x60")  # the outage is known: no read at all
        counts = metrics.counters.snapshot()
    assert shown.name  # a name, never a 500
    assert (counts["store_reads"], counts["store_errors"], counts["errors"]) == (1, 1, 1)


def test_prometheus_counters_on_the_default_registry(photos: list[Photo], fs_media: Any) -> None:
    import prometheus_client

    def value(name: str, **labels: str) -> float:
        found = prometheus_client.REGISTRY.get_sample_value(name, labels)
        return float(found or 0.0)

    names = [
        ("thumbkit_hits_total", {}),
        ("thumbkit_misses_total", {"strategy": "lazy"}),
        ("thumbkit_generations_total", {}),
        ("thumbkit_generated_thumbnails_total", {}),
        ("thumbkit_generated_bytes_total", {}),
        ("thumbkit_generation_seconds_count", {}),
        ("thumbkit_store_reads_total", {}),
        ("thumbkit_store_read_seconds_count", {}),
    ]
    before = [value(n, **labels) for n, labels in names]
    with thumbkit_settings(METRICS="prometheus"):
        assert metrics.counters in metrics.sinks()
        assert len(metrics.sinks()) == 2
        cold = page()
        page(rounds=2)
    grown = [value(n, **labels) - b for (n, labels), b in zip(names, before, strict=True)]
    assert grown == [6, 3, 3, 3, on_disk(fs_media.root, cold), 3, 2, 2]
    text = prometheus_client.generate_latest().decode()
    assert 'thumbkit_misses_total{strategy="lazy"}' in text
    assert "# TYPE thumbkit_store_read_seconds histogram" in text


def test_opentelemetry_instruments_on_a_meter_provider(photos: list[Photo], fs_media: Any) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.use([metrics.counters, OtelSink(meter_provider=provider)])
    cold = page()
    page(rounds=2)
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, Any] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "thumbkit"
            for metric in scope.metrics:
                found[metric.name] = (metric.unit, list(metric.data.data_points))
    assert [p.value for p in found["thumbkit.hits"][1]] == [6]
    misses = found["thumbkit.misses"][1]
    assert [(dict(p.attributes), p.value) for p in misses] == [({"strategy": "lazy"}, 3)]
    assert found["thumbkit.generated.size"][0] == "By"
    assert [p.value for p in found["thumbkit.generated.size"][1]] == [on_disk(fs_media.root, cold)]
    duration = found["thumbkit.store.read.duration"]
    assert duration[0] == "s"
    assert [p.count for p in duration[1]] == [2]
    provider.shutdown()


def test_the_otel_setting_uses_the_global_meter_provider() -> None:
    with thumbkit_settings(METRICS=["otel"]):
        kinds = [type(sink).__name__ for sink in metrics.sinks()]
    assert kinds == ["Counters", "OtelSink"]
    assert metrics.sinks() == []


def test_any_listener_gets_the_signals_arguments(photos: list[Photo], fs_media: Any) -> None:
    got: dict[str, list[dict[str, Any]]] = {"hit": [], "miss": [], "made": [], "read": []}
    pairs = [
        (thumbnail_hit, "hit"),
        (thumbnail_miss, "miss"),
        (thumbnails_generated, "made"),
        (store_read, "read"),
    ]
    for signal, name in pairs:
        signal.connect(
            lambda name=name, **kw: got[name].append(kw), dispatch_uid=f"t-{name}", weak=False
        )
    try:
        cold = page()
        page()
    finally:
        for signal, name in pairs:
            signal.disconnect(dispatch_uid=f"t-{name}")
    assert [len(got[k]) for k in ("hit", "miss", "made", "read")] == [3, 3, 3, 2]
    assert got["read"][0]["sources"] == 3
    assert got["read"][0]["found"] == 0
    assert got["read"][1]["found"] == 3
    assert got["read"][1]["error"] is None
    assert [m["strategy"] for m in got["miss"]] == ["lazy"] * 3
    assert [m["keys"] for m in got["miss"]] == [[t.key] for t in cold]
    assert [m["bytes"] for m in got["made"]] == [
        os.path.getsize(fs_media.root / t.name) for t in cold
    ]
    assert [h["thumbnails"] for h in got["hit"]] == [[t] for t in cold]


def check_ids(**changes: Any) -> list[str]:
    with thumbkit_settings(**changes):
        return [str(e.id) for e in checks.check_settings() + stats.check_metrics()]


def test_the_metrics_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_ids(METRICS=None) == []
    assert check_ids(METRICS=["counters", "prometheus", "otel"]) == []
    assert check_ids(METRICS="statsd") == ["thumbkit.E017"]
    assert check_ids(METRICS=["counters", 3]) == ["thumbkit.E017"]
    assert check_ids(METRICS=5) == ["thumbkit.E009"]
    # A sink whose package is missing (the import machinery finds nothing):
    monkeypatch.setattr(stats, "importable", lambda module: module != "prometheus_client")
    with thumbkit_settings(METRICS="prometheus"):
        errors = stats.check_metrics()
    assert [(e.id, e.hint) for e in errors] == [
        ("thumbkit.E005", "pip install 'django-thumbkit[prometheus]'")
    ]

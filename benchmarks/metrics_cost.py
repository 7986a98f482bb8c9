"""What metrics cost a warm list page: nothing listening, the counters, Prometheus, OTel.

    python benchmarks/metrics_cost.py                      # this checkout
    python benchmarks/metrics_cost.py --src /other/src     # another checkout's thumbkit

It makes 100 ``Member`` rows (a plain ``models.ImageField``) with real thumbnails in a
fresh SQLite database and media directory, then times the warm page: a new cohort (as a
request starts), the rows' query, the one store read (db store) and a template with two
``{% thumbnail %}`` tags a row (200 lookups). The modes are interleaved render by render,
in a new random order each round, so a busy machine slows them alike; it prints the median
wall and CPU time per render and each mode's difference to "off" (nothing connected), or
to "baseline": with ``--baseline main-api.py`` (e.g. ``git show
main:src/thumbkit/lookup/api.py > /tmp/api.py``), that file's ``get_thumbnail`` (the one
without the hooks) is swapped in for the tags, in the same process, render by render.
``--src`` runs the same page against another checkout.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROWS = 100
ROW = (
    '{% thumbnail p.photo "100x100" crop="center" as t %}<img src="{{ t.url }}" '
    'width="{{ t.width }}" height="{{ t.height }}">{% endthumbnail %}'
    '{% thumbnail p.photo "250x250" crop="center" -- class="big" %}'
)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(ROOT / "src"), help="the thumbkit to import")
    parser.add_argument("--renders", type=int, default=300, help="timed renders per mode")
    parser.add_argument("--modes", default="", help="only these modes (comma-separated)")
    parser.add_argument(
        "--baseline",
        default="",
        help="another thumbkit/lookup/api.py (e.g. main's, without the hooks): timed as the "
        "mode 'baseline', its get_thumbnail swapped in for the tags in this same process",
    )
    parser.add_argument(
        "--calls", action="store_true", help="also count the Python calls of one render"
    )
    return parser.parse_args()


def setup(src: str) -> None:
    sys.path[:0] = [src, str(ROOT)]
    os.environ["THUMBKIT_TEST_MEDIA"] = tempfile.mkdtemp(prefix="thumbkit-metrics-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)


def build() -> Callable[[], str]:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.template import Context, Template
    from tests import images
    from tests.testapp.models import Member

    from thumbkit.adapters import peers

    data = images.jpeg((320, 256))
    names = [default_storage.save(f"profiles/m-{i:03}.jpg", ContentFile(data)) for i in range(ROWS)]
    Member.objects.bulk_create(Member(name=f"m{i}", photo=n) for i, n in enumerate(names))
    template = Template("{% load thumbkit %}{% for p in rows %}" + ROW + "{% endfor %}")

    def render() -> str:
        peers.close_all()  # a new request: a new cohort, no memo
        return template.render(Context({"rows": Member.objects.order_by("pk")[:ROWS]}))

    html = render()  # cold: the thumbnails are made now
    assert html.count("<img") == 2 * ROWS, html[:500]
    return render


def baseline(path: str) -> Callable[[], None]:
    """Load ``path`` as a twin of ``thumbkit.lookup.api`` (same package, so it uses the same
    modules) and return what makes the template tags call its ``get_thumbnail``."""
    import importlib.util

    from thumbkit.adapters.tags import thumbnail as tag

    spec = importlib.util.spec_from_file_location("thumbkit.lookup._baseline_api", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda: setattr(tag, "get_thumbnail", module.get_thumbnail)


def modes(baseline_api: str) -> dict[str, Callable[[], None]]:
    """How to connect each mode (only "off" when the thumbkit has no metrics)."""
    from thumbkit.adapters.tags import thumbnail as tag

    own = tag.get_thumbnail
    found: dict[str, Callable[[], None]] = {}
    try:
        from thumbkit.lookup import metrics
    except ImportError:
        return {"off": lambda: setattr(tag, "get_thumbnail", own)}
    if baseline_api:
        swap = baseline(baseline_api)
        found["baseline"] = lambda: (metrics.use([]), swap())

    def use(sinks: list[Any]) -> Callable[[], None]:
        def connect() -> None:
            tag.get_thumbnail = own
            metrics.use(sinks)

        return connect

    found["off"] = use([])
    found["counters"] = use([metrics.counters])
    try:
        from thumbkit.lookup.exporters import PrometheusSink

        found["prometheus"] = use([metrics.counters, PrometheusSink()])
    except ImportError:
        pass
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        from thumbkit.lookup.exporters import OtelSink

        provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        found["otel"] = use([metrics.counters, OtelSink(provider)])
    except ImportError:
        pass
    return found


def calls(render: Callable[[], str]) -> int:
    """The function calls one warm render makes (cProfile's count). The first renders after
    a switch of mode fill caches of their own, so the fewest of three is the steady count."""
    import cProfile
    import pstats

    render()
    counts = []
    for _ in range(3):
        profile = cProfile.Profile()
        profile.runcall(render)
        counts.append(int(pstats.Stats(profile).total_calls))  # type: ignore[attr-defined]
    return min(counts)


def main() -> None:
    args = arguments()
    setup(args.src)
    import thumbkit

    render = build()
    connect = modes(args.baseline)
    if args.modes:
        connect = {name: connect[name] for name in args.modes.split(",") if name in connect}
    wall: dict[str, list[float]] = {name: [] for name in connect}
    cpu: dict[str, list[float]] = {name: [] for name in connect}
    for name in connect:  # one untimed render each: caches and branch predictors warm
        connect[name]()
        render()
    order = list(connect)
    shuffle = random.Random(0).shuffle  # a new order each round: no mode always follows another
    for _ in range(args.renders):
        shuffle(order)
        for name in order:
            connect[name]()
            started, started_cpu = time.perf_counter(), time.process_time()
            render()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    print(f"thumbkit from {Path(thumbkit.__file__).parent}")
    if args.calls:
        for name, use in connect.items():
            use()
            print(f"  {name:<11} {calls(render):,} Python calls per render (exact)")
    connect["off"]()
    print(f"warm page: {ROWS} rows, {2 * ROWS} thumbnails; median of {args.renders} renders")
    base = "baseline" if "baseline" in connect else "off"
    base_wall, base_cpu = statistics.median(wall[base]), statistics.median(cpu[base])
    for name in connect:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"  {name:<11} wall {w * 1e3:7.3f} ms ({w / base_wall:5.3f}x)   "
            f"cpu {c * 1e3:7.3f} ms ({c / base_cpu:5.3f}x)   "
            f"{(c - base_cpu) / (2 * ROWS) * 1e6:+.2f} us/thumbnail (cpu)"
        )


if __name__ == "__main__":
    main()

"""What the placeholder (dominant colour + ThumbHash) adds to generating a source's thumbnails.

``python benchmarks/lqip_cost.py [--repeat 15]``. For photo-like sources of a few sizes and
both engines, times ``engine.render`` of three specs (a 400x300 crop, a 1024 fit, a 150
square) with the placeholder as shipped, and with ``thumbkit.core.lqip.compute`` stubbed
out, interleaved, and prints the median of each and the difference per source. Also times
``preview_uri`` (the data URI a ``placeholder="thumbhash"`` tag renders) uncached. Times are
the process's CPU time (``time.process_time``, every thread of it), which a busy machine
inflates less than wall time.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files
sys.path.insert(1, str(ROOT / "src"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(INSTALLED_APPS=["thumbkit"], THUMBKIT={}, USE_TZ=True)
django.setup()

from benchmarks import images  # noqa: E402
from thumbkit.conf import get_settings  # noqa: E402
from thumbkit.core import lqip  # noqa: E402
from thumbkit.core.engines.pillow import PillowEngine  # noqa: E402
from thumbkit.core.engines.vips import VipsEngine  # noqa: E402
from thumbkit.core.spec import parse  # noqa: E402

SOURCES = {
    "JPEG 1600x1200": lambda: images.jpeg_bytes(images.photo((1600, 1200), seed=1)),
    "JPEG 4000x3000": lambda: images.jpeg_bytes(images.photo((4000, 3000), seed=2)),
    "PNG 1200x800": lambda: images.png_bytes(images.photo((1200, 800), seed=3)),
}


def _timed(run: Callable[[], object], repeat: int, stub: bool) -> list[float]:
    real = lqip.compute
    times = []
    for _ in range(repeat):
        if stub:
            lqip.compute = lambda image, extent=None: lqip.EMPTY
        try:
            start = time.process_time()
            run()
            times.append((time.process_time() - start) * 1000)
        finally:
            lqip.compute = real
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    specs = [parse("400x300", crop="center"), parse("1024x1024"), parse("150x150", crop="center")]
    conf = get_settings()
    print(f"{'source':<16} {'engine':<7} {'with ms':>8} {'without':>8} {'LQIP ms':>8}  (CPU)")
    for label, make in SOURCES.items():
        data = make()
        for name, engine in (("pillow", PillowEngine()), ("vips", VipsEngine())):
            engine.render(data, specs, conf)  # warm up (imports, caches)
            run = functools.partial(engine.render, data, specs, conf)
            with_, without = [], []
            for _ in range(args.repeat):  # interleaved: the machine's load hits both alike
                with_ += _timed(run, 1, stub=False)
                without += _timed(run, 1, stub=True)
            a, b = statistics.median(with_), statistics.median(without)
            print(f"{label:<16} {name:<7} {a:8.1f} {b:8.1f} {a - b:8.1f}")
    small = images.photo((400, 300), seed=4)
    computes = _timed(lambda: lqip.compute(small), args.repeat, stub=False)
    print(f"lqip.compute on a decoded 400x300 image: {statistics.median(computes):.1f} ms")
    thumbhash = lqip.compute(small).thumbhash

    def uncached() -> None:
        lqip.preview_uri.cache_clear()
        lqip.preview_uri(thumbhash)

    previews = _timed(uncached, args.repeat, stub=False)
    print(f"preview_uri, uncached: {statistics.median(previews):.2f} ms; cached: a dict lookup")


if __name__ == "__main__":
    main()

"""One generation worker process: ``python -m benchmarks.generation.worker '<json job>'``.

A job is one (library, case). The worker links the source under ``runs`` fresh names (so
every run is a real miss, never a cached result), makes one warm-up thumbnail from a tiny
image of the same format (imports, codec set-up), then for each run resets the process's
peak RSS, times the library's call and reads the new peak: peak memory is that peak minus
the RSS just before the call.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ..common import Env, emit, median, peak_rss, reset_peak
from . import libs

STILL = ("jpeg-crop", "jpeg-webp", "png-alpha", "jpeg-avif")
ANIMATED = ("gif-anim", "webp-anim")
CASES = STILL + ANIMATED
# sorl-thumbnail's vips engine runs in the cases where its engine matters: AVIF (it uses
# libvips' default effort, about 28 s a thumbnail here) and the animations (GIF only).
VIPS_CASES = frozenset({"jpeg-avif", *ANIMATED})
LIBRARIES = tuple(lib for lib in libs.RUNNERS if lib != "sorl-vips")
ANIMATED_LIBRARIES = tuple(libs.RUNNERS)
SOURCES = {
    "jpeg-crop": "jpeg",
    "jpeg-webp": "jpeg",
    "png-alpha": "png",
    "jpeg-avif": "jpeg",
    "gif-anim": "gif",
    "webp-anim": "webp",
}
FILES = {
    "jpeg": ("photo-4000x3000.jpg", "warmup.jpg"),
    "png": ("graphic-2000x1500.png", "warmup.png"),
    "gif": ("anim-480x360.gif", "warmup.gif"),
    "webp": ("anim-480x360.webp", "warmup.webp"),
}


def libraries(case: str) -> tuple[str, ...]:
    return ANIMATED_LIBRARIES if case in VIPS_CASES else LIBRARIES


def names(folder: Path, source: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    result = []
    for n in range(count):
        name = f"src-{n}{source.suffix}"
        os.link(source, folder / name)
        result.append(name)
    return result


def main(job: dict[str, Any]) -> None:
    env = Env.from_json(json.dumps(job["env"]))
    lib, case, runs = job["lib"], job["case"], job["runs"]
    sources = Path(env.work) / "sources"
    kind = SOURCES[case]
    media = Path(env.work) / f"gen-{lib}-{case}"
    shutil.rmtree(media, ignore_errors=True)
    runner = libs.RUNNERS[lib](media, env)
    big, small = FILES[kind]
    todo = names(media / "src", sources / big, runs)
    warmup = names(media / "warm", sources / small, 1)
    runner.run(f"warm/{warmup[0]}", case)
    times, peaks, output = [], [], None
    for name in todo:
        gc.collect()
        before = reset_peak()
        start = time.perf_counter()
        produced = runner.run(f"src/{name}", case)
        times.append(time.perf_counter() - start)
        peaks.append(peak_rss() - before)
        output = output or runner.describe(produced)
    emit(
        {
            "times": times,
            "median": median(times),
            "peaks": peaks,
            "peak": max(peaks),
            "output": output,
        }
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

"""Bulk generation: ``generateimages`` for 300 sources x 3 specs, 1 vs 2 worker processes.

``python benchmarks/bulk.py`` (alone) or ``python benchmarks/run.py --only bulk``. Makes
``--sources`` photo-like JPEGs (1600x1200 by default) in a temporary directory, then runs,
each in a fresh process on an empty store, thumbkit's ``generateimages`` with every
``--workers`` value, and django-imagekit's own ``generateimages`` (one process: it has no
workers) on the same sources and equivalent specs. Reports thumbnails per second, and
thumbkit's ratio of 2 workers to 1 (the target on a 2-core machine is >= 1.6x).

sorl-thumbnail and easy-thumbnails have no bulk generation command (sorl's ``thumbnail``
command only clears and cleans up its key-value store; easy-thumbnails ships
``thumbnail_cleanup``), so they are not in this table.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files

IDS = ("bench:card", "bench:large", "bench:square")
# (processor, width, height, format) per id: a centre crop, a fit, a small square crop.
SPECS = {
    "bench:card": ("ResizeToFill", 400, 300, "JPEG"),
    "bench:large": ("ResizeToFit", 1024, 1024, "JPEG"),
    "bench:square": ("ResizeToFill", 150, 150, "JPEG"),
}
QUALITY = 85


# --- the generators (imported by name in worker processes) -----------------------------


def register_thumbkit() -> None:
    from thumbkit import ImageSpec, processors, register

    # Importable by name in worker processes, as classes normally are.
    for cls in _specs(ImageSpec, processors, register, module=__name__):
        globals()[cls.__name__] = cls


def register_imagekit() -> None:
    from imagekit import ImageSpec, register
    from pilkit import processors

    _specs(ImageSpec, processors, register)


def _specs(base: type, processors: Any, register: Any, module: str | None = None) -> list[type]:
    """One spec class per id of SPECS, on either library's ImageSpec, registered."""
    made = []
    for id, (name, width, height, fmt) in SPECS.items():
        attrs: dict[str, Any] = {
            "processors": [getattr(processors, name)(width, height)],
            "format": fmt,
            "options": {"quality": QUALITY},
        }
        if module is not None:
            attrs["__module__"] = module
        cls = type(id.replace(":", "_"), (base,), attrs)
        register.generator(id, cls)
        made.append(cls)
    return made


class Names:
    """Storage names (thumbkit ships these to its workers as addresses)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def files(self) -> Any:
        yield from self.names


class OpenFiles:
    """imagekit's documented source group: files opened one after the other."""

    def __init__(self, root: Path, names: list[str]) -> None:
        self.root, self.names = root, names

    def files(self) -> Any:
        from django.core.files import File

        for name in self.names:
            yield File(open(self.root / name, "rb"), name=name)  # noqa: SIM115


if __name__ != "__main__" and os.environ.get("BULK_LIB") == "thumbkit":
    register_thumbkit()  # a worker process importing this module learns the ids


# --- one run, in its own process ------------------------------------------------------------


def job(spec: dict[str, Any]) -> dict[str, Any]:
    """One ``generateimages`` run: time it and check what it made."""
    import io

    import django
    from django.core.management import call_command

    django.setup()
    names = spec["names"]
    if spec["lib"] == "thumbkit":
        import benchmarks.bulk  # noqa: F401  (registers the ids under this module's name)
        from thumbkit import register

        group = Names(names)
        for id in IDS:
            register.source_group(id, group)
        args = ["bench:*", "--workers", str(spec["workers"]), "--threads", str(spec["threads"])]
    else:
        from imagekit import register

        register_imagekit()
        files = OpenFiles(Path(spec["media"]), names)
        for id in IDS:
            register.source_group(id, files)
        args = ["bench:*"]
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    call_command("generateimages", *args, stdout=out, stderr=err, verbosity=1)
    seconds = time.perf_counter() - start
    made = count_outputs(Path(spec["media"]), spec["lib"])
    return {"seconds": seconds, "made": made, "out": out.getvalue().strip().splitlines()[-1:]}


def count_outputs(media: Path, lib: str) -> int:
    folder = media / ("thumbs" if lib == "thumbkit" else "CACHE")
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


# --- the driver ----------------------------------------------------------------------------


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--size", default="1600x1200", help="source size, WxH")
    parser.add_argument("--workers", default="1,2", help="thumbkit --workers values")
    parser.add_argument("--threads", type=int, default=2, help="thumbkit --threads")
    parser.add_argument("--libs", default="thumbkit,imagekit")
    parser.add_argument("--s3-sources", type=int, default=200, help="0 skips the S3 run")
    parser.add_argument("--s3-threads", type=int, default=4, help="--threads on S3")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_sources(media: Path, count: int, size: tuple[int, int]) -> list[str]:
    from benchmarks import images

    return [f"src/{name}" for name in images.write_photos(media / "src", count, size)]


def run_one(
    work: Path,
    names: list[str],
    lib: str,
    workers: int,
    threads: int,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A fresh media directory (sources hard-linked) and store prefix per run."""
    run = secrets.token_hex(3)  # a configuration may be run more than once
    media = work / f"{lib}-{workers}-{threads}{'-s3' if extra else ''}-{run}"
    (media / "src").mkdir(parents=True)
    for name in names:
        os.link(work / "sources" / name, media / name)
    prefix = f"thumbkit-bench-bulk:{secrets.token_hex(4)}:"
    env = {
        **(extra or {}),
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bulk_settings",
        "BULK_MEDIA": str(media),
        "BULK_LIB": lib,
        "BULK_PREFIX": prefix,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    spec = {"lib": lib, "workers": workers, "threads": threads, "names": names, "media": str(media)}
    command = [sys.executable, "-m", "benchmarks.bulk", "--job", json.dumps(spec)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    clear_prefix(prefix)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def clear_prefix(prefix: str) -> None:
    import redis

    url = os.environ.get("THUMBKIT_BENCH_REDIS", "redis://127.0.0.1:6379/12")
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="thumbkit-bench-bulk-"))
    width, height = (int(v) for v in args.size.split("x"))
    try:
        start = time.perf_counter()
        names = make_sources(work / "sources", args.sources, (width, height))
        print(
            f"{len(names)} sources of {width}x{height} made in {time.perf_counter() - start:.1f}s"
        )
        runs = []
        libs = args.libs.split(",")
        if "thumbkit" in libs:
            runs += [("thumbkit", int(w), args.threads) for w in args.workers.split(",")]
        if "imagekit" in libs:
            runs.append(("imagekit", 1, 1))
        results = []
        for lib, workers, threads in runs:
            result = run_one(work, names, lib, workers, threads)
            result.update(lib=lib, workers=workers, threads=threads, sources=len(names))
            results.append(result)
            print(line(result))
        if args.s3_sources:
            results.append(bench_s3(args, work, names))
            print(line(results[-1]))
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_s3(args: argparse.Namespace, work: Path, names: list[str]) -> dict[str, Any]:
    """thumbkit from and to S3 (moto behind tests/s3.py's counting proxy): throughput, and
    how many times each source was downloaded (GETs of its key at the endpoint)."""
    from tests.s3 import Endpoint

    names = names[: args.s3_sources]
    endpoint = Endpoint()
    try:
        bucket = endpoint.new_bucket()
        for name in names:
            body = (work / "sources" / name).read_bytes()
            endpoint.client.put_object(Bucket=bucket, Key=name, Body=body)  # not counted
        endpoint.proxy.reset()
        extra = {"BULK_S3": f"{endpoint.url} {bucket}"}
        result = run_one(work, names, "thumbkit", 2, args.s3_threads, extra)
        gets = [endpoint.proxy.count("GET", f"/{bucket}/{name}") for name in names]
        result.update(
            lib="thumbkit on S3",
            workers=2,
            threads=args.s3_threads,
            sources=len(names),
            made=len(endpoint.keys(bucket, "thumbs/")),
            source_gets=sorted(set(gets)),
            requests=len(endpoint.proxy.requests()),
            puts=endpoint.proxy.count("PUT"),
        )
        return result
    finally:
        endpoint.close()


def line(result: dict[str, Any]) -> str:
    who = f"{result['lib']} workers={result['workers']} threads={result['threads']}"
    if "error" in result:
        return f"{who}: ERROR {result['error']}"
    rate = result["made"] / result["seconds"]
    text = f"{who}: {result['made']} thumbnails in {result['seconds']:.1f}s = {rate:.1f}/s"
    if "source_gets" in result:
        text += (
            f"; GETs per source {result['source_gets']}, {result['puts']} PUTs, "
            f"{result['requests']} requests in all"
        )
    return text


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| library | workers x threads | thumbnails | seconds | thumbnails/s | x 1 worker |",
        "|---|---|---|---|---|---|",
    ]
    base = next(
        (r for r in results if r["lib"] == "thumbkit" and r["workers"] == 1 and "error" not in r),
        None,
    )
    for r in results:
        if "error" in r:
            rows.append(f"| {r['lib']} | {r['workers']} x {r['threads']} | error: {r['error']} |||")
            continue
        rate = r["made"] / r["seconds"]
        local = base is not None and "source_gets" not in r
        ratio = f"{rate / (base['made'] / base['seconds']):.2f}" if base and local else "-"
        rows.append(
            f"| {r['lib']} | {r['workers']} x {r['threads']} | {r['made']} | "
            f"{r['seconds']:.1f} | {rate:.1f} | {ratio} |"
        )
    for r in results:
        if "source_gets" in r:
            rows.append("")
            rows.append(
                f"S3 ({r['sources']} sources): each source downloaded {r['source_gets']} time(s) "
                f"(GETs of its key counted at the endpoint); {r['puts']} PUTs, "
                f"{r['requests']} requests in all."
            )
    load = os.getloadavg()
    rows.append("")
    rows.append(f"{os.cpu_count()} cores; load average at the end {load[0]:.1f} {load[1]:.1f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = arguments(argv)
    if args.job:
        result = job(json.loads(args.job))
        print(json.dumps(result))
        return [result]
    results = bench(args)
    print(table(results))
    return results


if __name__ == "__main__":
    main()

"""Where a warm thumbkit list page spends its time, per thumbnail, next to the floor.

    .venvs/py312-dj61/bin/python benchmarks/profile_hotpath.py                  # db + manifest
    .venvs/py312-dj61/bin/python benchmarks/profile_hotpath.py --configs db --top 30
    .venvs/py312-dj61/bin/python benchmarks/profile_hotpath.py --configs db --page-rows 100

It builds the list-page benchmark's thumbkit database (``benchmarks/listpage``: 1000 rows,
two thumbnails a row, every thumbnail made first), then, in one process per configuration:

1. **Timing.** The warm 1000-row page (paginator page, COUNT + rows queries, template
   render) for each template, alternating with the floor page (``{{ p.photo.url }}`` and
   the stored width/height); medians of wall time and of the process's CPU time, the
   ratios, and the difference per thumbnail in µs. On a busy machine the CPU-time ratio is
   the steadier one (it leaves out the database server and the wait for a core).
2. **Lookup alone.** Fresh instances each time (a request builds new ones), then the
   Python a template would run, without the template engine: the floor reads
   ``p.photo.url``, ``p.photo_width``, ``p.photo_height`` twice a row; thumbkit reads the
   two thumbnails and their ``url``/``width``/``height`` through the accessor
   (``p.photo.thumbnails.small``) or ``get_thumbnail(p.photo, ...)`` (what the block tag
   calls). Per thumbnail, µs.
3. **cProfile** of ``--profile-runs`` renders of each page, and of the floor's page; for each
   function its own time (``tottime``) per thumbnail in µs, and the difference to the floor's
   profile of the same function: what thumbkit adds. The profiler's clock is CPU time.
   cProfile's own overhead per call inflates small functions; read the ranking, not the
   absolute µs. The Python function calls per thumbnail (from the profile) are exact.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import json
import pstats
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files

from benchmarks import images  # noqa: E402
from benchmarks.common import Env, configure, emit, parse_results  # noqa: E402
from benchmarks.run import child_env, clean_up, postgres_ok, redis_ok  # noqa: E402

ROWS = 1000
THUMBS = 2 * ROWS
Func = tuple[str, int, str]


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="db,manifest", help="thumbkit configurations")
    parser.add_argument("--runs", type=int, default=11, help="timed renders per page")
    parser.add_argument("--profile-runs", type=int, default=3, help="profiled renders")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--page-rows", type=int, default=ROWS, help=f"rows a page shows (at most {ROWS})"
    )
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


# --- worker ------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall time and this process's CPU time of one call (the CPU time leaves out the
    database server's work and the time spent waiting for a core on a busy machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def lookup_readers(template: str) -> Callable[[Any], Any]:
    """The Python the template runs for one row, without the template engine."""
    import thumbkit

    if template == "accessor":

        def accessor(p: Any) -> Any:
            s, c = p.photo.thumbnails.small, p.photo.thumbnails.card
            return s.url, s.width, s.height, c.url, c.width, c.height

        return accessor
    if template == "property":
        return lambda p: (p.thumb_small.url, p.thumb_card.url)

    def tag(p: Any) -> Any:
        s = thumbkit.get_thumbnail(p.photo, "100x100", crop="center")
        c = thumbkit.get_thumbnail(p.photo, "250x250", crop="center")
        return s.url, s.width, s.height, c.url, c.width, c.height

    return tag


def floor_reader(p: Any) -> Any:
    return (p.photo.url, p.photo_width, p.photo_height, p.photo.url, p.photo_width, p.photo_height)


def lookup_time(model: Any, read: Callable[[Any], Any]) -> float:
    """Load the page's rows (new instances, as each request does), then time ``read``."""
    rows = list(model.objects.order_by("pk")[:ROWS])
    gc.collect()
    start = time.perf_counter()
    for p in rows:
        read(p)
    return time.perf_counter() - start


def profile_stats(render: Callable[[], Any], runs: int) -> dict[Func, tuple[int, float, float]]:
    # CPU time, not wall time: on a shared machine a wall-clock profile charges the time the
    # process waited for a core to whichever function happened to be running.
    profiler = cProfile.Profile(time.process_time)
    for _ in range(runs):
        profiler.enable()
        render()
        profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    # (calls, tottime, cumtime) per function, per render
    return {f: (v[1] // runs, v[2] / runs, v[3] / runs) for f, v in raw.items()}


def short(func: Func) -> str:
    filename, line, name = func
    for marker in ("/src/thumbkit/", "/site-packages/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})" if line else name


def profile_lines(
    lib: dict[Func, tuple[int, float, float]],
    floor: dict[Func, tuple[int, float, float]],
    top: int,
) -> dict[str, Any]:
    us = 1e6 / THUMBS

    def entry(f: Func, extra: float) -> dict[str, Any]:
        calls, tot, cum = lib.get(f, (0, 0.0, 0.0))
        return {
            "function": short(f),
            "calls_per_page": calls,
            "tottime_us": round(tot * us, 3),
            "cumtime_us": round(cum * us, 3),
            "over_floor_us": round(extra * us, 3),
        }

    by_own = sorted(lib, key=lambda f: lib[f][1], reverse=True)[:top]
    extra = {f: lib[f][1] - floor.get(f, (0, 0.0, 0.0))[1] for f in lib}
    by_extra = sorted(extra, key=lambda f: extra[f], reverse=True)[:top]
    thumbkit = [f for f in lib if "/thumbkit/" in f[0]]
    by_cum = sorted(thumbkit, key=lambda f: lib[f][2], reverse=True)[:top]
    return {
        "total_us": round(sum(v[1] for v in lib.values()) * us, 2),
        "floor_total_us": round(sum(v[1] for v in floor.values()) * us, 2),
        # Exact, whatever the load: Python function calls per thumbnail, thumbkit's page
        # and the floor's.
        "calls_per_thumb": round(sum(v[0] for v in lib.values()) / THUMBS, 1),
        "floor_calls_per_thumb": round(sum(v[0] for v in floor.values()) / THUMBS, 1),
        "own": [entry(f, extra[f]) for f in by_own],
        "extra": [entry(f, extra[f]) for f in by_extra],
        "thumbkit_cumulative": [entry(f, extra[f]) for f in by_cum],
    }


def rows_load(model: Any) -> float:
    """µs of CPU per row of ``list()`` over the page's rows (the query included), median of 11."""
    queryset = model.objects.order_by("pk")[:ROWS]
    used = [timed(lambda: list(queryset.all()))[1] for _ in range(11)]
    return round(statistics.median(used) / ROWS * 1e6, 2)


def steps(page: Any, template: str) -> dict[str, float | None]:
    """µs per call of each step of a warm lookup, timed alone (no profiler) on one row whose
    file already holds a complete memo, as every row has after the page's one store read
    (a memo keeps records, not answers: a repeated lookup costs what the page's first does).
    """
    import timeit

    from django.template import Context, Template

    import thumbkit
    from thumbkit.lookup import batch, resolver
    from thumbkit.lookup.memo import ATTRIBUTE
    from thumbkit.lookup.source import coerce
    from thumbkit.lookup.thumbnail import Thumbnail

    rows = list(page.model.objects.order_by("pk")[:ROWS])
    read = lookup_readers(template)
    for row in rows:
        read(row)  # one store read for all, then every memo is complete
    p, floor_p = rows[0], page.floor.objects.order_by("pk").first()
    photo = p.photo
    assert getattr(photo, ATTRIBUTE).location is not None
    options = {"crop": "center"}
    spec = resolver.resolve("100x100", photo, options)
    src = coerce(photo)
    thumb = thumbkit.get_thumbnail(photo, "100x100", crop="center")
    row = tuple(thumb.__dict__[f] for f in Thumbnail.__dataclass_fields__)
    tag = Template(
        '{% load thumbkit %}{% thumbnail p.photo "100x100" crop="center" as t %}'
        '<img src="{{ t.url }}" width="{{ t.width }}" height="{{ t.height }}">{% endthumbnail %}'
    )
    floor_img = Template(
        '<img src="{{ p.photo.url }}" width="{{ p.photo_width }}" height="{{ p.photo_height }}">'
    )

    def accessor_lookup() -> Any:
        return p.photo.thumbnails.small  # a plain models.ImageField has none: n/a

    def tag_render() -> Any:
        return tag.render(Context({"p": p}))

    cases: dict[str, Callable[[], Any]] = {
        "floor: p.photo.url": lambda: floor_p.photo.url,
        "floor: one <img> rendered (url, stored width/height)": lambda: floor_img.render(
            Context({"p": floor_p})
        ),
        "p.photo (Django's descriptor)": lambda: p.photo,
        "coerce(p.photo)": lambda: coerce(photo),
        "resolver.resolve('100x100', photo, {'crop': 'center'})": lambda: resolver.resolve(
            "100x100", photo, options
        ),
        "batch.memo_hit(src, spec)": lambda: batch.memo_hit(src, spec),
        "get_thumbnail(photo, '100x100', crop='center')": lambda: thumbkit.get_thumbnail(
            photo, "100x100", crop="center"
        ),
        "p.photo.thumbnails.small": accessor_lookup,
        "thumb.url (kept on the record)": lambda: thumb.url,
        "Thumbnail.from_row(row)": lambda: Thumbnail.from_row(row),
        "{% thumbnail %} block with one <img>": tag_render,
    }
    out: dict[str, float | None] = {
        # What loading a row costs, before any lookup: the manifest model's rows carry a JSON
        # column that Django decodes at load, and every followed model has post_init work.
        "floor: load a row (per row of a 1000-row list())": rows_load(page.floor),
        "load a row (per row of a 1000-row list())": rows_load(page.model),
    }
    for name, fn in cases.items():
        try:
            fn()
            timer = timeit.Timer(fn, timer=time.process_time)
            number = 2000
            out[name] = round(min(timer.repeat(5, number)) / number * 1e6, 2)
        except Exception:  # a step the code under test no longer has: say so, go on
            out[name] = None
    return out


def worker_main(job: dict[str, Any]) -> None:
    from benchmarks.listpage.worker import Page, library, settings_for

    global ROWS, THUMBS
    ROWS = min(job.get("page_rows", ROWS), ROWS)  # this process times a page of that many
    THUMBS = 2 * ROWS
    env = Env.from_json(json.dumps(job["env"]))
    lib = library("thumbkit")
    config = job["config"]
    configure(settings_for(lib, config, env))
    page = Page(lib, config)
    lib.prepare(config)
    for template in lib.templates_for(config):
        page.render(template, ROWS)  # untimed: the first render compiles and warms
        page.floor_time(ROWS)
        floors, times, floor_cpu, cpu = [], [], [], []
        for _ in range(job["runs"]):
            wall, used = timed(functools.partial(page.floor_time, ROWS))
            floors.append(wall)
            floor_cpu.append(used)
            wall, used = timed(functools.partial(page.render, template, ROWS))
            times.append(wall)
            cpu.append(used)
        read = lookup_readers(template)
        lookups, floor_lookups = [], []
        for _ in range(job["runs"]):
            floor_lookups.append(lookup_time(page.floor, floor_reader))
            lookups.append(lookup_time(page.model, read))
        runs = job["profile_runs"]
        floor_profile = profile_stats(lambda: page.floor_time(ROWS), runs)
        lib_profile = profile_stats(functools.partial(page.render, template, ROWS), runs)
        fm, tm = statistics.median(floors), statistics.median(times)
        lf, lt = statistics.median(floor_lookups), statistics.median(lookups)
        fc, tc = statistics.median(floor_cpu), statistics.median(cpu)
        emit(
            {
                "config": config,
                "template": template,
                "floor_ms": round(fm * 1e3, 2),
                "page_ms": round(tm * 1e3, 2),
                "ratio": round(tm / fm, 3),
                "extra_us_per_thumb": round((tm - fm) * 1e6 / THUMBS, 2),
                "floor_cpu_ms": round(fc * 1e3, 2),
                "page_cpu_ms": round(tc * 1e3, 2),
                "cpu_ratio": round(tc / fc, 3),
                "extra_cpu_us_per_thumb": round((tc - fc) * 1e6 / THUMBS, 2),
                "floor_us_per_thumb": round(fm * 1e6 / THUMBS, 2),
                "lookup_us_per_thumb": round(lt * 1e6 / THUMBS, 2),
                "floor_lookup_us_per_thumb": round(lf * 1e6 / THUMBS, 2),
                "profile": profile_lines(lib_profile, floor_profile, job["top"]),
                "steps": steps(page, template),
            }
        )


# --- driver ------------------------------------------------------------------------------


def run_job(module: str, job: dict[str, Any]) -> list[dict[str, Any]]:
    import subprocess

    command = [sys.executable, "-m", module, json.dumps(job)]
    done = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{module} {job.get('action', job.get('config'))}:\n{done.stderr}")
    return parse_results(done.stdout)


def prepare(env: Env, configs: list[str]) -> None:
    images.write_photos(env.media / "photos", ROWS)
    images.link_tree(env.media / "photos", env.media / "photos-m")
    base = {"env": env.__dict__, "lib": "thumbkit"}
    run_job("benchmarks.listpage.worker", {**base, "action": "setup"})
    warmed = {"db"}  # every other configuration's store is filled from the db store's records
    run_job("benchmarks.listpage.worker", {**base, "config": "db", "action": "warm"})
    for config in configs:
        if config not in warmed:
            out = run_job(
                "benchmarks.listpage.worker", {**base, "config": config, "action": "warm"}
            )
            print(f"warmed {config}: {out}")


def report(results: list[dict[str, Any]], top: int, rows: int) -> str:
    out = [f"# Warm hot path, {rows} rows ({2 * rows} thumbnails)", ""]
    out += [
        "| configuration | template | floor ms | page ms | x floor | extra µs/thumb "
        "| floor CPU ms | page CPU ms | CPU x floor | extra CPU µs/thumb "
        "| lookup µs/thumb (floor) | calls/thumb (floor) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        p = r["profile"]
        out.append(
            f"| {r['config']} | {r['template']} | {r['floor_ms']} | {r['page_ms']} | "
            f"{r['ratio']:.2f} | {r['extra_us_per_thumb']} | {r['floor_cpu_ms']} | "
            f"{r['page_cpu_ms']} | {r['cpu_ratio']:.2f} | {r['extra_cpu_us_per_thumb']} | "
            f"{r['lookup_us_per_thumb']} ({r['floor_lookup_us_per_thumb']}) | "
            f"{p['calls_per_thumb']} ({p['floor_calls_per_thumb']}) |"
        )
    out += ["", "## Steps timed alone (µs per call, CPU time, best of 5 x 2000)", ""]
    seen: set[str] = set()
    for r in results:
        if r["config"] in seen:
            continue  # the steps do not depend on the template
        seen.add(r["config"])
        out += [f"{r['config']}:", "", "| step | µs |", "|---|--:|"]
        for name, value in r.get("steps", {}).items():
            out.append(f"| {name} | {'n/a' if value is None else value} |")
        out.append("")
    for r in results:
        p = r["profile"]
        out += [
            "",
            f"## {r['config']} / {r['template']}: cProfile (CPU time), µs per thumbnail "
            f"(total own time {p['total_us']} µs, floor {p['floor_total_us']} µs; "
            f"{p['calls_per_thumb']} calls per thumbnail, floor {p['floor_calls_per_thumb']})",
        ]
        for title, key in (
            ("Most own time over the floor's profile", "extra"),
            ("thumbkit functions by cumulative time", "thumbkit_cumulative"),
        ):
            out += [
                "",
                f"{title}:",
                "",
                "| function | calls/page | own µs | cum µs | over floor µs |",
            ]
            out.append("|---|--:|--:|--:|--:|")
            for e in p[key][:top]:
                out.append(
                    f"| `{e['function']}` | {e['calls_per_page']} | {e['tottime_us']} | "
                    f"{e['cumtime_us']} | {e['over_floor_us']} |"
                )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    db = "postgres" if args.db == "postgres" and postgres_ok() else "sqlite"
    work = Path(tempfile.mkdtemp(prefix="thumbkit-prof-"))
    env = Env(work=str(work), db=db, redis=redis_ok(), run=secrets.token_hex(3), rows=ROWS)
    configs = args.configs.split(",")
    results: list[dict[str, Any]] = []
    try:
        prepare(env, configs)
        for config in configs:
            job = {"env": env.__dict__, "config": config, "runs": args.runs}
            job.update(profile_runs=args.profile_runs, top=args.top, page_rows=args.page_rows)
            results += run_job("benchmarks.profile_hotpath", job)
    finally:
        if not args.keep:
            clean_up(env)
            shutil.rmtree(work, ignore_errors=True)
    text = report(results, args.top, min(args.page_rows, ROWS))
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "hotpath.md").write_text(text)
    (out / "hotpath.json").write_text(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        worker_main(json.loads(sys.argv[1]))
    else:
        main()

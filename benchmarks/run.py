"""Run every benchmark: ``python benchmarks/run.py`` (``make bench``). See benchmarks/README.md.

Makes the source images once in a temporary directory, runs each library's configuration
in its own worker processes (each library needs its own settings), prints the tables and
writes them to ``benchmarks/results/latest.md``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files

from benchmarks import images, report  # noqa: E402
from benchmarks.common import PG, REDIS_URL, Env, parse_results  # noqa: E402
from benchmarks.generation.worker import ANIMATED, CASES  # noqa: E402
from benchmarks.generation.worker import libraries as gen_libraries  # noqa: E402
from benchmarks.listpage.worker import LIBRARIES, library  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
LISTPAGE = "benchmarks.listpage.worker"
SLOW = ("sorl", "easy", "thumbkit", "imagekit")
START = time.perf_counter()
SETUP = "(setup)"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["listpage", "generation", "animated", "bulk", "iterator"],
        help="run one benchmark (iterator: benchmarks/iterator.py with its defaults; "
        "animated: the generation benchmark's animated cases)",
    )
    parser.add_argument("--libs", default=",".join(LIBRARIES), help="list-page libraries")
    parser.add_argument("--rows", default="100,1000", help="page sizes (at most 9999)")
    parser.add_argument("--fresh", type=int, default=2, help="fresh processes per page")
    parser.add_argument("--runs", type=int, default=15, help="timed renders per warm page")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per warm page")
    parser.add_argument("--gen-runs", type=int, default=5, help="timed runs per generation")
    parser.add_argument("--cases", default=",".join(CASES), help="generation cases")
    parser.add_argument(
        "--gen-libs", default="", help="generation libraries (default: each case's own)"
    )
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--quick", action="store_true", help="100 rows, 1 fresh run, few runs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.fresh, args.runs, args.budget, args.gen_runs = "100", 1, 5, 1.0, 2
    return args


# A fixed mmap threshold: big buffers are always mapped and unmapped, so each run's peak RSS
# is its own (glibc's adaptive threshold would keep a freed buffer of the first run in the
# heap, and later runs would appear to need less memory).
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    paths = [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def worker(
    module: str, job: dict[str, Any], env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run one worker process; its results, or an ``error`` result with its stderr tail."""
    command = [sys.executable, "-m", module, report.dumps(job)]
    done = subprocess.run(
        command, cwd=ROOT, env=child_env(env), capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-6:]
        print(f"  ! {module} {job.get('action', '')} failed:\n    " + "\n    ".join(tail))
        return [{"error": tail[-1] if tail else f"exit {done.returncode}"}]
    return parse_results(done.stdout)


PG_DSN = f"host={PG['HOST']} port={PG['PORT']} user={PG['USER']} dbname=postgres"


def postgres_ok() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_DSN, connect_timeout=2).close()
        return True
    except Exception as exc:
        print(f"PostgreSQL unreachable ({exc}); using SQLite.")
        return False


def redis_ok() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        return True
    except Exception as exc:
        print(f"Redis unreachable ({exc}); skipping configurations that need it.")
        return False


def clean_up(env: Env) -> None:
    """Drop this run's databases and Redis keys (only this run's: the server is shared)."""
    if env.redis:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        names = list(client.scan_iter(match=f"*{env.mark}*", count=1000))
        for start in range(0, len(names), 1000):
            client.delete(*names[start : start + 1000])
    if env.db == "postgres":
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            for name in LIBRARIES:
                conn.execute(f'DROP DATABASE IF EXISTS "{env.mark}_{name}" WITH (FORCE)')


def make_sources(env: Env, do_listpage: bool, do_generation: bool, still: bool = True) -> None:
    start = time.perf_counter()
    if do_listpage:
        images.write_photos(env.media / "photos", env.rows)
        images.link_tree(env.media / "photos", env.media / "photos-m")
    if do_generation and still:
        images.write_generation_sources(Path(env.work) / "sources")
    if do_generation:
        images.write_animation_sources(Path(env.work) / "sources")
    print(f"Source images made in {time.perf_counter() - start:.1f}s")


def listpage(env: Env, args: argparse.Namespace) -> list[dict[str, Any]]:
    names = args.libs.split(",")
    # Making the thumbnails is not timed: two libraries at a time, one per core, the slowest
    # (no draft decoding, one decode per thumbnail) first.
    slow_first = sorted(names, key=lambda n: SLOW.index(n) if n in SLOW else len(SLOW))
    with ThreadPoolExecutor(max_workers=2) as pool:
        notes = list(pool.map(partial(prepare_library, env), slow_first))
    warmed = dict(zip(slow_first, notes, strict=True))
    print(f"All thumbnails made ({time.perf_counter() - START:.0f}s since start)")
    results: list[dict[str, Any]] = []
    for name in names:
        for config, note in warmed[name].items():
            if config == SETUP:
                results.append({"lib": name, "stage": "setup", "error": note})
            else:
                results += measure(env, args, name, config, note)
    return results


def prepare_library(env: Env, name: str) -> dict[str, str]:
    """Set up one library's database and warm each configuration; {config: problem}."""
    lib = library(name)
    base = {"env": env.__dict__, "lib": name}
    setup = worker(LISTPAGE, {**base, "action": "setup"})
    if "error" in setup[0]:
        return {SETUP: setup[0]["error"]}
    notes = {}
    for config in lib.configs:
        if not env.redis and config in lib.redis_configs:
            continue
        warmed = worker(LISTPAGE, {**base, "config": config, "action": "warm"})[0]
        notes[config] = str(warmed.get("error") or warmed.get("problems") or "")
        print(f"{name} {config}: thumbnails made in {warmed.get('seconds', '?')}s {notes[config]}")
    return notes


def measure(
    env: Env, args: argparse.Namespace, name: str, config: str, note: str
) -> list[dict[str, Any]]:
    """Fresh-process samples of every page, then one warm process for all of them."""
    rows = [int(r) for r in args.rows.split(",")]
    job = {"env": env.__dict__, "lib": name, "config": config}
    tag = {"lib": name, "config": config, "warm_problem": note}
    results = []
    for template in library(name).templates_for(config):
        for n in rows:
            fresh = {**job, "action": "fresh", "template": template, "rows": n}
            samples = [worker(LISTPAGE, fresh)[0] for _ in range(args.fresh)]
            results.append({**tag, **report.merge_fresh(samples)})
    warm = {**job, "action": "warm-process", "rows": rows, "runs": args.runs}
    for result in worker(LISTPAGE, {**warm, "budget": args.budget}):
        results.append({**tag, **result})
    print(f"{name} {config}: measured ({time.perf_counter() - START:.0f}s since start)")
    return results


def generation(env: Env, args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    cases = ANIMATED if args.only == "animated" else args.cases.split(",")
    chosen = set(args.gen_libs.split(",")) if args.gen_libs else None
    for case in cases:
        for lib in gen_libraries(case):
            if chosen is not None and lib not in chosen:
                continue
            job = {"env": env.__dict__, "lib": lib, "case": case, "runs": args.gen_runs}
            result = worker("benchmarks.generation.worker", job, MALLOC)[0]
            results.append({"lib": lib, "case": case, **result})
            print(f"{case} {lib}: {report.short(result)}")
    return results


def bulk_section(write: bool = True) -> str:
    """``benchmarks/bulk.py`` with its defaults: 300 sources x 3 specs, 1 and 2 workers."""
    from benchmarks import bulk

    text = bulk.table(bulk.bench(bulk.arguments([])))
    if write:
        print(text)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bulk.md").write_text(text + "\n")
    return text


def main() -> None:
    args = arguments()
    if args.only == "iterator":
        from benchmarks import iterator

        iterator.main(["--db", args.db] + (["--keep"] if args.keep else []))
        return
    db = "postgres" if args.db == "postgres" and postgres_ok() else "sqlite"
    work = Path(tempfile.mkdtemp(prefix="thumbkit-bench-"))
    largest = max(int(r) for r in args.rows.split(","))
    run = secrets.token_hex(3)
    env = Env(work=str(work), db=db, redis=redis_ok(), run=run, rows=largest)
    started = time.time()
    load_before = os.getloadavg()
    try:
        if args.only == "bulk":
            bulk_section()
            return
        pages_too = args.only not in ("generation", "animated")
        make_sources(env, pages_too, args.only != "listpage", args.only != "animated")
        pages = listpage(env, args) if pages_too else []
        gens = generation(env, args) if args.only != "listpage" else []
        bulk_text = bulk_section(write=False) if args.only is None else ""
    finally:
        if not args.keep:
            clean_up(env)
            shutil.rmtree(work, ignore_errors=True)
    meta = report.meta(args, env, started, load_before)
    text = report.render(meta, pages, gens)
    if bulk_text:
        text += "\n\n## Bulk generation (generateimages)\n\n" + bulk_text + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(report.dumps({"meta": meta, "pages": pages, "gen": gens}))
    print(f"Written to {RESULTS / 'latest.md'}")


if __name__ == "__main__":
    main()

"""Soak under faults: list pages of 100 thumbnails while the store, storage and sources fail.

``python benchmarks/soak.py`` (``--pages 50`` for a quick run). For each store (``redis``,
then ``db``) one worker process (``benchmarks/soak_worker.py``) renders list pages of 100
``{% thumbnail %}`` rows through Django's test client, ``--pages`` in all, split evenly over
the stores and the phases: no fault; the metadata store slow, hanging past its timeouts,
then refusing connections; the storage's ``_save`` slow, then failing; source reads slow,
then failing; no fault again (``--storage s3``: the storage faults at an S3 endpoint). Each
page has ``--cold`` rows whose thumbnail does not exist yet, so generation runs in every
phase.

Per phase it prints pages, status codes, p50/p99/max render time per page and the ratio of
the p50 to the baseline's, RSS at the start and end of the phase, and the counts of
``thumbkit_repair --dry-run --min-age 0`` afterwards (files without records, records
without files). Everything is bounded: ``--budget`` seconds per store (a phase that runs
out stops early and says so) and ``--page-timeout`` per page. Not a test: nothing fails.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files

from benchmarks import images, report  # noqa: E402
from benchmarks.common import Env, parse_results  # noqa: E402
from benchmarks.run import PG_DSN, child_env, postgres_ok, redis_ok  # noqa: E402
from benchmarks.soak_faults import SOURCES  # noqa: E402
from benchmarks.soak_worker import PHASES, SOURCE_SIZE  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MIB = 1024 * 1024


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pages", type=int, default=1000, help="pages in all, split over stores and phases"
    )
    parser.add_argument("--stores", default="redis,db", help="redis (primary) and/or db")
    parser.add_argument("--cold", type=int, default=1, help="rows per page not generated yet")
    parser.add_argument("--sources", type=int, default=100, help="distinct 400x300 JPEGs")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds a slow fault adds")
    parser.add_argument(
        "--hang", type=float, default=5.0, help="seconds the store-hang phase holds a request"
    )
    parser.add_argument("--budget", type=float, default=250.0, help="seconds per store at most")
    parser.add_argument("--page-timeout", type=float, default=30.0, help="seconds per page")
    parser.add_argument(
        "--storage",
        choices=["fs", "s3"],
        default="fs",
        help="fs: a FileSystemStorage subclass with faults; s3: S3Storage at moto's server "
        "behind tests/s3.py's fault proxy",
    )
    parser.add_argument(
        "--save-failure",
        choices=["partial", "raise"],
        default="partial",
        help="a failing _save writes half the file then raises ENOSPC, or raises at once",
    )
    parser.add_argument("--phases", default=",".join(p.name for p in PHASES))
    parser.add_argument(
        "--conn-max-age", type=float, default=60.0, help="CONN_MAX_AGE of both database aliases"
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace Python allocations after the baseline; report what is still alive at the end",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


def run_store(env: Env, args: argparse.Namespace, store: str) -> dict[str, Any]:
    """One worker process for one store; its stderr (progress) goes to ours."""
    job = {
        "env": env.__dict__,
        "store": store,
        "pages": args.pages // len(args.stores.split(",")),
        "cold": args.cold,
        "delay": args.delay,
        "hang": args.hang,
        "budget": args.budget,
        "page_timeout": args.page_timeout,
        "save_failure": args.save_failure,
        "phases": args.phases.split(","),
        "tracemalloc": args.tracemalloc,
        "conn_max_age": args.conn_max_age,
        "storage": args.storage,
    }
    command = [sys.executable, "-m", "benchmarks.soak_worker", report.dumps(job)]
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
            timeout=args.budget + 120,  # setup and the last repair scan on top of the budget
        )
    except subprocess.TimeoutExpired:
        return {"store": store, "error": f"worker killed after {args.budget + 120:.0f}s"}
    results = parse_results(done.stdout)
    if done.returncode != 0 or not results:
        return {"store": store, "error": f"worker exit {done.returncode}"}
    return results[0]


def store_env(work: Path, db: str, run: str, store: str) -> Env:
    """Each store gets its own media directory (sources hard-linked) and database."""
    env = Env(work=str(work / store), db=db, redis=True, run=run)
    images.link_tree(work / "sources", env.media / SOURCES / "base")
    return env


def clean_up(env: Env, store: str) -> None:
    import psycopg
    import redis

    from benchmarks.common import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    names = list(client.scan_iter(match=f"{env.mark}:*", count=1000))
    for start in range(0, len(names), 1000):
        client.delete(*names[start : start + 1000])
    if env.db == "postgres":
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{env.mark}_soak_{store}" WITH (FORCE)')


# --- the report ---------------------------------------------------------------------------


def table(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"### {result['store']} store\n\nerror: {result['error']}"
    phases = result["phases"]
    base = next((p for p in phases if p["phase"] == "baseline" and p["pages"]), None)
    rows = [
        f"### {result['store']} store",
        "",
        "| phase | fault | pages | status | p50 ms | p99 ms | max ms | x baseline p50 "
        "| RSS start → end MiB | orphan files | records without file |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        ratio = f"{p['p50'] / base['p50']:.2f}" if base and p["pages"] else "-"
        statuses = ", ".join(f"{n} x {code}" for code, n in sorted(p["statuses"].items()))
        repair = p["repair"]
        orphans = repair.get("orphans", "?") if "error" not in repair else "error"
        missing = (
            repair.get("missing", 0) + repair.get("empty", 0) if "error" not in repair else "error"
        )
        stopped = f" ({p['stopped']})" if p["stopped"] else ""
        rows.append(
            f"| {p['phase']} | {p['what']} | {p['pages']}{stopped} | {statuses} | "
            f"{p['p50'] * 1000:.0f} | {p['p99'] * 1000:.0f} | {p['max'] * 1000:.0f} | {ratio} | "
            f"{p['rss_start'] / MIB:.1f} → {p['rss_end'] / MIB:.1f} | {orphans} | {missing} |"
        )
    first, last = phases[0], phases[-1]
    later = sum(p["pages"] for p in phases[1:])
    rows += [
        "",
        f"{sum(p['pages'] for p in phases)} pages. RSS over the run: "
        f"{first['rss_start'] / MIB:.1f} MiB at the start of the first phase, "
        f"{first['rss_end'] / MIB:.1f} MiB at the end of the baseline, "
        f"{last['rss_end'] / MIB:.1f} MiB at the end of the last phase "
        f"({(last['rss_end'] - first['rss_end']) / MIB:+.1f} MiB over the {later} pages after "
        f"the baseline); peak {max(p['peak'] for p in phases) / MIB:.1f} MiB. "
        f"Setup {result['setup_seconds']:.0f}s, whole worker {result['seconds']:.0f}s.",
        warm_up_line(result["warm_up"]),
    ]
    return "\n".join(rows)


def s3_requests(counts: dict[str, Any]) -> str:
    if "s3_puts" not in counts:
        return ""
    return f"{counts['s3_puts']} S3 PUTs, {counts['s3_gets']} S3 GETs, "


def warm_up_line(warm: dict[str, Any]) -> str:
    first, second = warm["first"], warm["second"]
    return (
        f"Warm-up (page 1, the 100 sources, before the phases): {first['status']} in "
        f"{first['seconds']:.1f}s making their thumbnails, then {second['status']} in "
        f"{second['seconds'] * 1000:.0f} ms; repair before the phases: {warm['repair']}."
    )


def details(result: dict[str, Any]) -> str:
    """What each phase's pages showed, made and logged: the evidence behind the table."""
    if "error" in result:
        return ""
    lines = [f"#### {result['store']} store: details", ""]
    for p in result["phases"]:
        c, r = p["counts"], p["repair"]
        lines.append(
            f"- **{p['phase']}**: {p['imgs']} <img> on its pages that answered 200 "
            f"({p['empty']} from the empty branch, "
            f'{p["zero_size"]} with width="0"); {c["thumbnail_files"]:+d} thumbnail files, '
            f"{c['save']} saves, {c['open']} opens, {s3_requests(c)}"
            f"{c['redis_commands']} Redis commands in "
            f"{c['redis_round_trips']} round trips, "
            f"injected faults: {c['injected_save_faults']} saves, {c['injected_open_faults']} "
            f"opens; repair: {r}; temp files on disk: {p['temps_on_disk']}"
        )
        for error, n in p["errors"].items():
            lines.append(f"    - {n} x page error `{error}`")
        for message, n in p["logs"].items():
            lines.append(f"    - {n} x log `{message}`")
    growth = result.get("heap_growth")
    if growth:
        lines.append(
            f"- **Python heap** (tracemalloc, from the end of the baseline to the end of the run): "
            f"{growth['total_kib']:+.0f} KiB still allocated; the largest lines:"
        )
        for line in growth["top"]:
            lines.append(
                f"    - {line['kib']:+.1f} KiB in {line['blocks']:+d} blocks: `{line['where']}`"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = arguments(argv)
    stores = args.stores.split(",")
    if not redis_ok():
        raise SystemExit("The soak needs Redis (THUMBKIT_BENCH_REDIS).")
    db = "postgres" if postgres_ok() else "sqlite"
    if db != "postgres" and "db" in stores:
        print("No PostgreSQL: the db store's run is skipped.")
        stores.remove("db")
    work = Path(tempfile.mkdtemp(prefix="thumbkit-soak-"))
    run = secrets.token_hex(3)
    started, load = time.time(), os.getloadavg()
    results = []
    try:
        images.write_photos(work / "sources", args.sources, SOURCE_SIZE)
        for store in stores:
            env = store_env(work, db, run, store)
            print(f"{store} store: {args.pages // len(stores)} pages ...", flush=True)
            try:
                results.append(run_store(env, args, store))
            finally:
                if not args.keep:
                    clean_up(env, store)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(args, results, started, load)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.md").write_text(text + "\n")
    (RESULTS / "soak.json").write_text(report.dumps({"args": vars(args), "results": results}))
    print(f"Written to {RESULTS / 'soak.md'}")
    return results


def render(
    args: argparse.Namespace, results: list[dict[str, Any]], started: float, load: Any
) -> str:
    end = os.getloadavg()
    head = (
        f"Soak: {args.pages} pages of 100 rows in all ({args.cold} cold rows a page), "
        f"storage {args.storage}, "
        f"delay {args.delay * 1000:.0f} ms, failing saves: {args.save_failure}; "
        f"{os.cpu_count()} cores, load {load[0]:.1f} → {end[0]:.1f}, "
        f"{time.time() - started:.0f}s in all."
    )
    parts = [head]
    for result in results:
        parts += ["", table(result), "", details(result)]
    return "\n".join(parts)


if __name__ == "__main__":
    main()

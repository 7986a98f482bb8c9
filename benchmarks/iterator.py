"""A 10,000-row ``.iterator(chunk_size=500)`` walk: store reads per chunk, and memory.

    .venvs/py312-dj61/bin/python benchmarks/iterator.py              # 10,000 rows, db + redis
    .venvs/py312-dj61/bin/python benchmarks/run.py --only iterator    # the same, from run.py
    python benchmarks/iterator.py --rows 2000 --stores db --db sqlite

Two models over the same 10,000 source files: ``thumbkit`` (``thumbkit.fields.ImageField``
with a declared ``small`` thumbnail, read as ``obj.photo.thumbnails.small``) and ``plain``
(Django's ``models.ImageField``, read as ``get_thumbnail(obj.photo, "100x100",
crop="center")``); both managers are ``ThumbnailQuerySet.as_manager()``. Each walk is
``Model.objects.order_by("pk")[.prefetch_thumbnails("photo")].iterator(chunk_size=500)``
and reads each row's thumbnail URL and size. Every thumbnail is made before any walk (a
walk that makes one shows it in ``made``: thumbnail files added during the walk).

Per chunk (everything from the end of the previous chunk to the end of this one, so the
rows fetch and a prefetch at the start of the chunk count in it): SQL statements on the
thumbnail-record table (the db store's reads; the rows query and ``fetchmany`` of the
server-side cursor are not store reads and are counted apart), Redis commands and round
trips, storage calls. Memory at the end of chunks 1, 10 and 20: tracemalloc's current and
peak (the peak reset at the start of each chunk), and the process's RSS; and where traced
memory grew from chunk 10 to the end. Each configuration runs in its own process; with the
prefetch it walks twice: the first walk fills thumbkit's bounded process caches (key
digests and URLs, up to 16,384 entries each), the second shows the steady state.
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
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files

from benchmarks import images  # noqa: E402
from benchmarks.common import (  # noqa: E402
    PG,
    REDIS_URL,
    CountingStorage,
    Env,
    RedisCounter,
    base_settings,
    configure,
    emit,
    parse_results,
)

NAME = "iterator"
SPEC = {"size": "100x100", "crop": "center"}
MEMORY_AT = (1, 10, 20)
MiB = 1024 * 1024


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--stores", default="db,redis", help="db, redis or both")
    parser.add_argument("--models", default="thumbkit,plain", help="thumbkit, plain or both")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--no-trace",
        action="store_true",
        help="no tracemalloc: RSS alone, without tracemalloc's own memory and snapshot",
    )
    parser.add_argument("--prefetch-only", action="store_true", help="skip the walks without it")
    return parser.parse_args(argv)


# --- the worker side (one process per job) -----------------------------------------------


def settings(env: Env, store: str) -> dict[str, Any]:
    out = base_settings(env, NAME)
    options: dict[str, Any] = {}
    if store == "redis":
        options = {"url": REDIS_URL, "prefix": f"{env.mark}:thumbkit:"}
    out["INSTALLED_APPS"] = [*out["INSTALLED_APPS"], "thumbkit"]
    out["THUMBKIT"] = {"STORE": store, "STORE_OPTIONS": options, "PREFIX": "thumbkit"}
    return out


def make_models() -> dict[str, Any]:
    from django.db import models

    from thumbkit.adapters.query import ThumbnailQuerySet
    from thumbkit.fields import ImageField

    def model(class_name: str, photo: Any) -> Any:
        attrs = {
            "__module__": __name__,
            "photo": photo,
            "objects": ThumbnailQuerySet.as_manager(),
            "Meta": type("Meta", (), {"app_label": "bench"}),
        }
        return type(class_name, (models.Model,), attrs)

    declared = ImageField(upload_to="iter", thumbnails={"small": SPEC})
    return {
        "thumbkit": model("IterThumbkit", declared),
        "plain": model("IterPlain", models.ImageField(upload_to="iter")),
    }


def reader(kind: str) -> Callable[[Any], tuple[str, int | None]]:
    """What the walk does with each row: the thumbnail's URL and width."""
    if kind == "thumbkit":
        return lambda obj: (obj.photo.thumbnails.small.url, obj.photo.thumbnails.small.width)
    from thumbkit import get_thumbnail

    def plain(obj: Any) -> tuple[str, int | None]:
        thumb = get_thumbnail(obj.photo, SPEC["size"], crop=SPEC["crop"])
        return thumb.url, thumb.width

    return plain


def setup(env: Env) -> dict[str, Any]:
    """The database, both tables, the rows, and every thumbnail in the db store."""
    from django.core.management import call_command
    from django.db import connection

    recreate_database(env)
    call_command("migrate", verbosity=0)
    tables = make_models()
    with connection.schema_editor() as editor:
        for model in tables.values():
            editor.create_model(model)
    start = time.perf_counter()
    for kind, model in tables.items():
        model.objects.bulk_create(model(photo=f"iter/{n:05d}.jpg") for n in range(1, env.rows + 1))
        read = reader(kind)
        for obj in model.objects.order_by("pk").prefetch_thumbnails("photo").iterator(2000):
            read(obj)
    made = files_in(Path(str(settings_module().MEDIA_ROOT)) / "thumbkit")
    return {"seconds": round(time.perf_counter() - start, 1), "files": made}


def recreate_database(env: Env) -> None:
    dbname = base_settings(env, NAME)["DATABASES"]["default"]["NAME"]
    if env.db != "postgres":
        Path(dbname).unlink(missing_ok=True)
        return
    import psycopg

    dsn = f"host={PG['HOST']} port={PG['PORT']} user={PG['USER']} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')


def copy_to_store() -> dict[str, Any]:
    """Fill the configured (redis) store with the db store's records."""
    from thumbkit.lookup.stores import get_store
    from thumbkit.lookup.stores.db import DatabaseStore

    records = list(DatabaseStore().iter_all())
    get_store().set_many(records)
    return {"records": len(records)}


class Statements:
    """SQL statements on the default alias, split into store reads and the rest."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.store = 0
        self.other = 0

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if self.table in sql:
            self.store += 1
        else:
            self.other += 1
        return execute(sql, *args)


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def walk(env: Env, kind: str, prefetch: bool, chunk: int, trace: bool = True) -> dict[str, Any]:
    """Two walks in one process (with the prefetch): the first fills thumbkit's bounded
    process caches (key digests, URLs: up to 16,384 entries each), the second shows the
    steady state."""
    from django.db import connection

    model = make_models()[kind]
    queryset = model.objects.order_by("pk")
    if prefetch:
        queryset = queryset.prefetch_thumbnails("photo")
    connection.ensure_connection()
    thumbs = Path(str(settings_module().MEDIA_ROOT)) / "thumbkit"
    files_before = files_in(thumbs)
    if trace:
        tracemalloc.start(FRAMES)
    first = one_pass(env, queryset, reader(kind), chunk)
    # Without the prefetch a walk costs a store read per row: one walk says enough.
    second = one_pass(env, queryset, reader(kind), chunk) if prefetch else None
    tracemalloc.stop()
    made = files_in(thumbs) - files_before
    return {"kind": kind, "prefetch": prefetch, "made": made, **first, "second": second}


def one_pass(env: Env, queryset: Any, read: Callable[[Any], Any], chunk: int) -> dict[str, Any]:
    from django.db import connection

    from thumbkit.models import ThumbnailRecord

    statements = Statements(ThumbnailRecord._meta.db_table)
    chunks: list[dict[str, Any]] = []
    halfway: tracemalloc.Snapshot | None = None
    aside = 0.0  # time spent taking the snapshot, left out of the walk's time
    started = time.perf_counter()
    with connection.execute_wrapper(statements):
        mark = snapshot(statements)
        for number, obj in enumerate(rows(queryset, chunk), start=1):
            read(obj)
            if number % chunk == 0 or number == env.rows:
                now = snapshot(statements)
                chunks.append(delta(len(chunks) + 1, mark, now))
                mark = now
                tracemalloc.reset_peak()
                if len(chunks) == MEMORY_AT[1] and tracemalloc.is_tracing():
                    before = time.perf_counter()
                    halfway = tracemalloc.take_snapshot()
                    aside += time.perf_counter() - before
    seconds = time.perf_counter() - started - aside
    growth = grown(halfway, tracemalloc.take_snapshot()) if halfway is not None else []
    halfway = None  # the snapshot is big: not alive during the next walk
    return {"seconds": round(seconds, 2), "chunks": chunks, "growth": growth}


FRAMES = 4  # frames kept per allocation: enough to see which cache or list holds it


def grown(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[str]:
    """Where memory still allocated at the end of the walk grew since chunk 10: the largest
    growths, each with the innermost frames in the benchmark's or thumbkit's code."""
    lines = []
    for stat in after.compare_to(before, "traceback")[:6]:
        if stat.size_diff <= 0:
            continue
        frames = [f for f in stat.traceback if "/benchmarks/" not in f.filename][:3]
        where = " < ".join(f"{short_path(f.filename)}:{f.lineno}" for f in frames)
        lines.append(f"+{stat.size_diff / 1024:.0f} KiB ({stat.count_diff:+d} blocks) {where}")
    return lines


def short_path(filename: str) -> str:
    for marker in ("/src/thumbkit/", "/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def settings_module() -> Any:
    from django.conf import settings

    return settings


def files_in(folder: Path) -> int:
    """Thumbnail files on disk: a walk that adds some has generated them (thumbkit writes
    files on a FileSystemStorage by rename, not through ``save()``, so saves do not show it)."""
    return sum(len(names) for _, _, names in os.walk(folder))


def rows(queryset: Any, chunk: int) -> Iterator[Any]:
    yield from queryset.iterator(chunk_size=chunk)


def snapshot(statements: Statements) -> dict[str, Any]:
    current, peak = tracemalloc.get_traced_memory()
    return {
        "store_sql": statements.store,
        "other_sql": statements.other,
        "redis_commands": RedisCounter.commands,
        "redis_round_trips": RedisCounter.round_trips,
        "storage": Counter(CountingStorage.calls),
        "traced": current,
        "traced_peak": peak,
        "rss": rss(),
    }


def delta(number: int, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    storage = after["storage"] - before["storage"]
    storage.pop("url", None)
    counts = ("store_sql", "other_sql", "redis_commands", "redis_round_trips")
    return {
        "chunk": number,
        **{name: after[name] - before[name] for name in counts},
        "storage_io": sum(storage.values()),
        "traced": after["traced"],
        "traced_peak": after["traced_peak"],
        "rss": after["rss"],
    }


def worker_main(job: dict[str, Any]) -> None:
    env = Env.from_json(json.dumps(job["env"]))
    configure(settings(env, job["store"]))
    action = job["action"]
    if action == "setup":
        emit(setup(env))
    elif action == "copy":
        emit(copy_to_store())
    elif action == "walk":
        emit(walk(env, job["kind"], job["prefetch"], job["chunk"], job.get("trace", True)))
    else:
        raise SystemExit(f"unknown action {action!r}")


# --- the driver --------------------------------------------------------------------------


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    command = [sys.executable, "-m", "benchmarks.iterator", json.dumps(job)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-6:]
        print("  ! iterator worker failed:\n    " + "\n    ".join(tail))
        return {"error": tail[-1] if tail else f"exit {done.returncode}"}
    return parse_results(done.stdout)[0]


def write_sources(media: Path, rows: int) -> None:
    """``rows`` source names: 16 distinct 320x240 JPEGs, hard-linked under every name (each
    name is its own source to thumbkit: its own key, record and thumbnail file)."""
    bases = media / "iter-bases"
    names = images.write_photos(bases, 16, size=(320, 240))
    target = media / "iter"
    target.mkdir(parents=True, exist_ok=True)
    for n in range(1, rows + 1):
        os.link(bases / names[n % len(names)], target / f"{n:05d}.jpg")


def bench(args: argparse.Namespace, db: str, redis: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="thumbkit-iter-"))
    env = Env(work=str(work), db=db, redis=redis, run=secrets.token_hex(3), rows=args.rows)
    base = {"env": env.__dict__}
    stores = [s for s in args.stores.split(",") if s == "db" or (s == "redis" and redis)]
    results: dict[str, Any] = {"rows": args.rows, "chunk": args.chunk, "db": db, "walks": []}
    try:
        write_sources(env.media, args.rows)
        made = run_worker({**base, "store": "db", "action": "setup"})
        print(f"iterator: thumbnails made ({made})")
        results["setup"] = made
        for store in stores:
            if store == "redis":
                copied = run_worker({**base, "store": store, "action": "copy"})
                print(f"iterator: redis filled ({copied})")
            for kind in args.models.split(","):
                for prefetch in (True,) if args.prefetch_only else (True, False):
                    job = {**base, "store": store, "action": "walk", "kind": kind}
                    job.update(prefetch=prefetch, chunk=args.chunk, trace=not args.no_trace)
                    out = run_worker(job)
                    results["walks"].append({"store": store, **out})
                    print(f"iterator: {store} {kind} prefetch={prefetch}: {summary(out)}")
    finally:
        if not args.keep:
            clean_up(env)
            shutil.rmtree(work, ignore_errors=True)
    return results


def clean_up(env: Env) -> None:
    if env.redis:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        names = list(client.scan_iter(match=f"*{env.mark}*", count=1000))
        for start in range(0, len(names), 1000):
            client.delete(*names[start : start + 1000])
    if env.db == "postgres":
        import psycopg

        dsn = f"host={PG['HOST']} port={PG['PORT']} user={PG['USER']} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{env.mark}_{NAME}" WITH (FORCE)')


def _range(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def summary(walk: dict[str, Any]) -> str:
    if "error" in walk:
        return f"ERROR {walk['error']}"
    chunks = walk["chunks"]
    store = _range([c["store_sql"] for c in chunks])
    trips = _range([c["redis_round_trips"] for c in chunks])
    return f"{len(chunks)} chunks, store SQL/chunk {store}, Redis trips/chunk {trips}"


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{results['rows']} rows, `.iterator(chunk_size={results['chunk']})`, "
        f"database {results['db']}. Counts per chunk (min-max over all chunks; chunk 1 "
        "includes the connection's first queries); memory at the end of chunks "
        + ", ".join(str(n) for n in MEMORY_AT)
        + ".",
        "",
        "| store | model | prefetch_thumbnails | store SQL / chunk | other SQL / chunk "
        "| Redis cmds (trips) / chunk | storage I/O | made | tracemalloc current MiB "
        "| tracemalloc peak MiB | RSS MiB | walk s | 2nd walk: tracemalloc current MiB "
        "| 2nd walk: RSS MiB | 2nd walk s |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for w in results["walks"]:
        if "error" in w:
            lines.append(f"| {w['store']} | - | - | ERROR {w['error']} |" + " |" * 9)
            continue
        chunks = w["chunks"]
        at = [chunks[n - 1] for n in MEMORY_AT if n <= len(chunks)]
        cmds = _range([c["redis_commands"] for c in chunks])
        trips = _range([c["redis_round_trips"] for c in chunks])
        cells = [
            w["store"],
            w["kind"],
            "yes" if w["prefetch"] else "no",
            _range([c["store_sql"] for c in chunks]),
            _range([c["other_sql"] for c in chunks]),
            f"{cmds} ({trips})",
            str(sum(c["storage_io"] for c in chunks)),
            str(w.get("made", "-")),
            " / ".join(f"{c['traced'] / MiB:.1f}" for c in at),
            " / ".join(f"{c['traced_peak'] / MiB:.1f}" for c in at),
            " / ".join(f"{c['rss'] / MiB:.0f}" for c in at),
            f"{w['seconds']:.1f}",
            *second_cells(w.get("second")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Largest growths of traced memory from chunk 10 to the end of the walk:", ""]
    for w in results["walks"]:
        if "error" not in w:
            label = f"{w['store']} {w['kind']} prefetch={'yes' if w['prefetch'] else 'no'}"
            lines += [f"- {label}, first walk:"] + [f"  - `{g}`" for g in w.get("growth", [])]
            second = w.get("second") or {}
            lines += ["  - second walk:"] + [f"    - `{g}`" for g in second.get("growth", [])]
    return "\n".join(lines)


def second_cells(second: dict[str, Any] | None) -> list[str]:
    if not second:
        return ["-", "-", "-"]
    at = [second["chunks"][n - 1] for n in MEMORY_AT if n <= len(second["chunks"])]
    return [
        " / ".join(f"{c['traced'] / MiB:.1f}" for c in at),
        " / ".join(f"{c['rss'] / MiB:.0f}" for c in at),
        f"{second['seconds']:.1f}",
    ]


def postgres_ok() -> bool:
    try:
        import psycopg

        dsn = f"host={PG['HOST']} port={PG['PORT']} user={PG['USER']} dbname=postgres"
        psycopg.connect(dsn, connect_timeout=2).close()
        return True
    except Exception:
        return False


def redis_ok() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        return True
    except Exception:
        return False


def main(argv: list[str] | None = None) -> str:
    args = arguments(argv)
    db = "postgres" if args.db == "postgres" and postgres_ok() else "sqlite"
    results = bench(args, db, redis_ok())
    text = table(results)
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "iterator.md").write_text(text + "\n")
    (out / "iterator.json").write_text(json.dumps(results, default=str))
    return text


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        worker_main(json.loads(sys.argv[1]))
    else:
        main()

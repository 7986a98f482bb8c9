"""One soak run on one metadata store: ``python -m benchmarks.soak_worker '<json job>'``.

Started by ``benchmarks/soak.py``. Sets up its own database (and Redis key prefix), a model
with thumbkit's ``ImageField`` and rows pointing at small JPEGs, then renders list pages of 100
``{% thumbnail %}`` rows through Django's test client, phase after phase, each phase with
one fault switched on (see ``PHASES``). After each phase the fault is switched off and
``thumbkit_repair --dry-run --min-age 0`` counts files without records and records without
files. The result is one ``BENCH-RESULT`` line (``benchmarks.common.emit``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import json
import logging
import os
import re
import signal
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .common import (
    PG,
    REDIS_URL,
    CountingStorage,
    Env,
    RedisCounter,
    base_settings,
    configure,
    emit,
    peak_rss,
    reset_peak,
)
from .listpage.base import image_field, img, page_template, profile_model
from .listpage.worker import recreate_database
from .soak_faults import SOURCES, Faults, FaultyStorage, TcpFaultProxy
from .soak_s3 import S3Media

ROWS = 100  # rows (thumbnails) per page
SOURCE_SIZE = (400, 300)
SPEC = '"200x150" crop="center"'
ROW = (
    f"{{% thumbnail p.photo {SPEC} as t %}}"
    + img("{{ t.url }}", "{{ t.width }}", "{{ t.height }}")
    + '{% empty %}<img src="" class="empty">{% endthumbnail %}'
)
PREFIX = "thumbs"


@dataclass(frozen=True)
class Phase:
    name: str
    what: str  # the fault, in words (the report prints it)
    store: str = ""  # "slow" | "hang" | "down": the proxy in front of the store
    save: str = ""  # FaultyStorage._save: "slow" | "fail"
    open: str = ""  # FaultyStorage.open of sources: "slow" | "fail"
    weight: int = 1  # its share of the time budget (slow phases need more)


PHASES = (
    Phase("baseline", "no fault"),
    Phase("store-slow", "store +{delay} per round trip", store="slow", weight=4),
    Phase("store-hang", "store holds each request {hang}", store="hang", weight=2),
    Phase("store-down", "store refused (port closed, connections cut)", store="down"),
    Phase("storage-slow", "storage _save +{delay}", save="slow", weight=2),
    Phase("storage-fail", "storage _save fails (ENOSPC)", save="fail"),
    Phase("source-slow", "source open() +{delay}", open="slow", weight=2),
    Phase("source-fail", "source open() fails (EIO)", open="fail"),
    Phase("recovered", "no fault (after all of them)"),
)


# The storage phases' faults with --storage s3: at the endpoint (benchmarks/soak_s3.py).
S3_WHAT = {
    "storage-slow": "S3 PUT +{delay}",
    "storage-fail": "S3 PUT answered 503",
    "source-slow": "S3 GET +{delay}",
    "source-fail": "S3 GET answered 500",
}


class PageTimeout(BaseException):
    """A page that took longer than --page-timeout (BaseException: nothing may swallow it)."""


# --- the site: model, template, view ---------------------------------------------------------


@functools.cache
def soak_model() -> Any:
    # thumbkit's ImageField (no declared thumbnails): the block tag on it batches the
    # page's lookups, as docs/list-pages.md shows.
    from thumbkit.fields import ImageField

    return profile_model("SoakProfile", __name__, image_field(ImageField))


@functools.cache
def page_tpl() -> Any:
    from django.template import engines

    return engines["django"].from_string(page_template("thumbkit", ROW))


def page_view(request: Any) -> Any:
    from django.core.paginator import Paginator
    from django.http import HttpResponse

    page = Paginator(soak_model().objects.order_by("pk"), ROWS).page(int(request.GET["page"]))
    return HttpResponse(page_tpl().render({"page": page}))


def _urls() -> list[Any]:
    from django.urls import path

    return [path("soak/", page_view)]


urlpatterns = _urls()


# --- setup -------------------------------------------------------------------------------------


def settings_for(
    env: Env, job: dict[str, Any], proxy_port: int, s3: S3Media | None
) -> dict[str, Any]:
    settings = base_settings(env, db_name(job))
    settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], "thumbkit"]
    if s3 is not None:
        settings["STORAGES"]["default"] = s3.backend()
    else:
        settings["STORAGES"]["default"]["BACKEND"] = "benchmarks.soak_faults.FaultyStorage"
    settings["ROOT_URLCONF"] = __name__
    settings["MIDDLEWARE"] = []
    default = settings["DATABASES"]["default"]
    # Persistent connections (60 s by default), as production sites mostly have.
    default["CONN_MAX_AGE"] = float(job.get("conn_max_age", 60))
    if job["store"] == "db":
        # The records in an alias of their own, through the proxy, with the timeouts
        # docs/stores.md recommends: the page's own queries do not go through the fault.
        settings["DATABASES"]["thumbkit"] = {
            **default,
            "PORT": str(proxy_port),
            "OPTIONS": {
                "connect_timeout": 2,
                "options": "-c statement_timeout=1000",
                "tcp_user_timeout": 2000,
            },
        }
        store = {"STORE": "db", "STORE_OPTIONS": {"using": "thumbkit"}}
    else:
        url = urlsplit(REDIS_URL)
        proxied = f"redis://127.0.0.1:{proxy_port}{url.path or '/0'}"
        store = {"STORE": "redis", "STORE_OPTIONS": {"url": proxied, "prefix": f"{env.mark}:"}}
    settings["THUMBKIT"] = {**store, "PREFIX": PREFIX}
    return settings


def db_name(job: dict[str, Any]) -> str:
    return f"soak_{job['store']}"


def store_target(env: Env, job: dict[str, Any]) -> tuple[str, int]:
    if job["store"] == "db":
        if env.db != "postgres":
            raise SystemExit("The db store's soak needs PostgreSQL (the proxy speaks TCP).")
        return PG["HOST"], int(PG["PORT"])
    url = urlsplit(REDIS_URL)
    return url.hostname or "127.0.0.1", url.port or 6379


def make_rows(env: Env, pages: int, cold: int) -> None:
    """Page 1: the 100 base sources (warmed before the phases). Pages 2..: ``ROWS - cold``
    warm rows (base sources, in another order per page) and ``cold`` rows whose source is
    a new name (a hard link of a base file) that has no thumbnail yet."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    model = soak_model()
    with connection.schema_editor() as editor:
        editor.create_model(model)
    base = sorted(p.name for p in (env.media / SOURCES / "base").iterdir())
    cold_dir = env.media / SOURCES / "cold"
    cold_dir.mkdir(parents=True, exist_ok=True)
    model.objects.bulk_create(_row(model, f"{SOURCES}base/{n}", i) for i, n in enumerate(base))
    for page in range(2, pages + 2):  # a page at a time: 100,000 instances would stay in RSS
        rows = []
        for i in range(ROWS):
            if i >= ROWS - cold:
                name = f"p{page:04d}-{i:02d}.jpg"
                os.link(
                    env.media / SOURCES / "base" / base[(page * 13 + i) % len(base)],
                    cold_dir / name,
                )
                rows.append(_row(model, f"{SOURCES}cold/{name}", i))
            else:
                rows.append(_row(model, f"{SOURCES}base/{base[(page * 37 + i) % len(base)]}", i))
        model.objects.bulk_create(rows)


def _row(model: Any, name: str, n: int) -> Any:
    width, height = SOURCE_SIZE
    return model(name=f"Person {n}", photo=name, photo_width=width, photo_height=height)


# --- measuring ---------------------------------------------------------------------------------


class LogCounter(logging.Handler):
    """Counts warnings of thumbkit and of Django's request logger (they do not print)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().splitlines()[0] if record.getMessage() else ""
        self.seen[f"{record.name}: {_clip(text)}"] += 1


def _clip(text: str, length: int = 150) -> str:
    # One line per kind of message, not one per file name, port or number.
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text if len(text) <= length else text[: length - 1] + "…"


def install_log_counter() -> LogCounter:
    handler = LogCounter()
    for name in ("thumbkit", "django.request"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
    return handler


def _alarm(signum: int, frame: Any) -> None:
    raise PageTimeout


def render(client: Any, number: int, timeout: float) -> dict[str, Any]:
    """One page: wall time, status, and what the page shows."""
    from django.db import close_old_connections

    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    try:
        # Django's test client leaves out the request_started/finished handler that drops
        # broken or expired connections; a real server runs it around every request.
        close_old_connections()
        response = client.get("/soak/", {"page": number})
        close_old_connections()
    except PageTimeout:
        return {"seconds": time.perf_counter() - start, "status": "timeout"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - start
    html = response.content.decode()
    result: dict[str, Any] = {"seconds": seconds, "status": response.status_code}
    exc = getattr(response, "exc_info", None)
    if exc:
        result["error"] = f"{exc[0].__name__}: {_clip(str(exc[1]), 200)}"
    if response.status_code == 200:
        result["imgs"] = html.count("<img ")
        result["empty"] = html.count('class="empty"')
        result["zero_size"] = html.count('width="0"')
    return result


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def thumbnail_files(env: Env) -> tuple[int, int]:
    """(files, temporary files) under the thumbnails' prefix, counted on disk. thumbkit's
    temporary names start ``.thumbkit-`` (``.tmp`` for its own writes, the target's extension
    for writes through a storage's save())."""
    files = temps = 0
    for _dir, _dirs, names in os.walk(env.media / PREFIX):
        for name in names:
            files += 1
            temps += name.startswith(".thumbkit-")
    return files, temps


REPAIR = re.compile(
    r"Checked (?P<records>\d+) record\(s\) against (?P<files>\d+) file\(s\).*?"
    r"Would \w+ (?P<broken>\d+) record\(s\) \((?P<missing>\d+) missing, (?P<empty>\d+) empty"
    r".*?would delete (?P<orphans>\d+) file\(s\) without a record and (?P<temps>\d+) stale temp"
    r".*?(?P<young>\d+) recent",
    re.DOTALL,
)


def repair_counts() -> dict[str, Any]:
    """``thumbkit_repair --dry-run --min-age 0``: every file without a record counts,
    however young (the phase is over: no generation is in flight)."""
    from django.core.management import call_command
    from django.db import close_old_connections

    close_old_connections()  # as a fresh manage.py process would start
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("thumbkit_repair", "--dry-run", "--min-age", "0", stdout=out, stderr=err)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "stderr": err.getvalue()[-300:]}
    match = REPAIR.search(out.getvalue())
    if match is None:
        return {"error": "unparsed output", "stdout": out.getvalue()[-300:]}
    return {k: int(v) for k, v in match.groupdict().items()}


# --- phases ------------------------------------------------------------------------------------


class Run:
    def __init__(
        self, env: Env, job: dict[str, Any], proxy: TcpFaultProxy, s3: S3Media | None
    ) -> None:
        from django.test import Client

        self.env, self.job, self.proxy, self.s3 = env, job, proxy, s3
        self.faults = contextlib.ExitStack()
        self.client = Client(raise_request_exception=False)
        self.logs = install_log_counter()
        self.next_page = 2

    def switch(self, phase: Phase, on: bool) -> None:
        delay = float(self.job["delay"])
        Faults.delay = delay
        Faults.save_failure = self.job["save_failure"]
        if not on:
            Faults.clear()
            self.faults.close()
            self.proxy.restore()
            if phase.store:
                # Lookups skip the store for STORE_RETRY_AFTER seconds after a failure: wait
                # them out, so the next phase's fault is the only one.
                from thumbkit.conf import get_settings

                time.sleep(get_settings().store_retry_after + 0.2)
            return
        if self.s3 is not None:
            self.faults.enter_context(self.s3.fault(phase.save, phase.open, delay))
        else:
            Faults.save, Faults.open = phase.save, phase.open
        if phase.store == "slow":
            self.proxy.slow(delay)
        elif phase.store == "hang":
            self.proxy.slow(float(self.job["hang"]))  # past every timeout the store has
        elif phase.store == "down":
            self.proxy.refuse()

    def phase(self, phase: Phase, pages: int, deadline: float) -> dict[str, Any]:
        gc.collect()
        rss_start = reset_peak()
        before = self._counters()
        self.switch(phase, True)
        samples, stopped = [], ""
        for _ in range(pages):
            if time.monotonic() > deadline:
                stopped = "phase budget spent"
                break
            samples.append(render(self.client, self.next_page, float(self.job["page_timeout"])))
            self.next_page += 1
        self.switch(phase, False)
        gc.collect()
        peak, rss_end = peak_rss(), reset_peak()
        after = self._counters()
        times = [s["seconds"] for s in samples]
        ok = [s for s in samples if s["status"] == 200]
        return {
            "phase": phase.name,
            "what": self._what(phase).format(
                delay=f"{self.job['delay'] * 1000:.0f} ms", hang=f"{self.job['hang']:.0f} s"
            ),
            "pages": len(samples),
            "planned": pages,
            "stopped": stopped,
            "statuses": dict(Counter(str(s["status"]) for s in samples)),
            "p50": statistics.median(times) if times else float("nan"),
            "p99": quantile(times, 99),
            "max": max(times, default=float("nan")),
            "rss_start": rss_start,
            "rss_end": rss_end,
            "peak": peak,
            "imgs": sum(s.get("imgs", 0) for s in ok),
            "empty": sum(s.get("empty", 0) for s in ok),
            "zero_size": sum(s.get("zero_size", 0) for s in ok),
            "errors": dict(Counter(s["error"] for s in samples if "error" in s)),
            "logs": dict(self.logs.seen - before["logs"]),
            "counts": {k: after[k] - before[k] for k in after if k != "logs"},
            "repair": repair_counts(),
            "temps_on_disk": self.files()[1],
        }

    def _what(self, phase: Phase) -> str:
        return S3_WHAT.get(phase.name, phase.what) if self.s3 is not None else phase.what

    def files(self) -> tuple[int, int]:
        return self.s3.files() if self.s3 is not None else thumbnail_files(self.env)

    def _counters(self) -> dict[str, Any]:
        files, _temps = self.files()
        s3 = self.s3.requests() if self.s3 is not None else {}
        return {
            **s3,
            "logs": Counter(self.logs.seen),
            "open": CountingStorage.calls["open"],
            "save": CountingStorage.calls["save"],
            "redis_commands": RedisCounter.commands,
            "redis_round_trips": RedisCounter.round_trips,
            "thumbnail_files": files,
            "injected_save_faults": FaultyStorage.injected["save"],
            "injected_open_faults": FaultyStorage.injected["open"],
        }


def heap_growth(before: tracemalloc.Snapshot, top: int = 6) -> dict[str, Any]:
    """Python allocations made since ``before`` and still alive, by line (tracemalloc)."""
    gc.collect()
    stats = tracemalloc.take_snapshot().compare_to(before, "lineno")
    tracemalloc.stop()
    lines = [
        {"where": str(stat.traceback[0]), "kib": stat.size_diff / 1024, "blocks": stat.count_diff}
        for stat in stats[:top]
    ]
    return {"total_kib": sum(stat.size_diff for stat in stats) / 1024, "top": lines}


def warm_up(run: Run) -> dict[str, Any]:
    """Page 1 (the 100 base sources) twice: the first makes the warm rows' thumbnails.
    One repair scan too, so its one-time imports are in the RSS before the first phase."""
    first = render(run.client, 1, 120.0)
    second = render(run.client, 1, 120.0)
    return {"first": first, "second": second, "repair": repair_counts()}


def main() -> None:
    job = json.loads(sys.argv[1])
    env = Env(**job["env"])
    phases = [p for p in PHASES if p.name in job["phases"]]
    total = max(int(job["pages"]), len(phases))
    # The pages split evenly, the first phases taking one more when it does not divide.
    pages = [total // len(phases) + (i < total % len(phases)) for i in range(len(phases))]
    proxy = TcpFaultProxy(*store_target(env, job)).start()
    s3 = S3Media() if job.get("storage") == "s3" else None
    recreate_database(env, db_name(job))
    configure(settings_for(env, job, proxy.port, s3))
    signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    make_rows(env, total, int(job["cold"]))
    if s3 is not None:
        s3.upload(env.media / SOURCES, SOURCES)  # the same names, on the bucket
    setup_seconds = time.monotonic() - started
    run = Run(env, job, proxy, s3)
    warm = warm_up(run)
    results = []
    begin = time.monotonic()
    budget = float(job["budget"]) - (begin - started)
    for i, phase in enumerate(phases):
        # Each phase may use its weighted share of what is left: time a fast phase leaves
        # over goes to the later ones, and a slow one cannot take theirs.
        left = max(begin + budget - time.monotonic(), 0.0)
        share = phase.weight / sum(p.weight for p in phases[i:])
        deadline = time.monotonic() + left * share
        results.append(run.phase(phase, pages[i], deadline))
        last = results[-1]
        print(
            f"  {job['store']} {phase.name}: {last['pages']} pages, "
            f"p50 {last['p50'] * 1000:.0f} ms, statuses {last['statuses']}",
            file=sys.stderr,
        )
        if i == 0 and job.get("tracemalloc"):
            tracemalloc.start()  # after the baseline: what the later phases add
            baseline_heap = tracemalloc.take_snapshot()
    growth = heap_growth(baseline_heap) if job.get("tracemalloc") else None
    proxy.close()
    if s3 is not None:
        s3.close()
    emit(
        {
            "store": job["store"],
            "heap_growth": growth,
            "setup_seconds": setup_seconds,
            "warm_up": warm,
            "phases": results,
            "seconds": time.monotonic() - started,
            "media": str(Path(env.media)),
        }
    )


if __name__ == "__main__":
    main()

"""Bulk work over many rows: JSON work items, every core, a progress bar, failures kept.

The maintenance commands (``thumbkit_regenerate``, ``thumbkit_delete``, and any command that
walks many sources) share this machinery::

    items = bulk.rows(Profile, "photo")                      # Item(label, pk, attname, name)
    progress = bulk.Progress(bulk.count_rows(Profile, "photo")[0], self.stderr)
    report = bulk.run(make_row, items, {"force": False}, workers=4, progress=progress)
    report.failures        # [Failure(item, "SourceUnreadable: ..."), ...]

``run`` applies a module-level *job* ``job(item, options) -> int`` to every item, in chunks,
on a pool of *spawned* processes (``os.cpu_count()`` of them by default): a spawned child
inherits no database connection, lock or thread from the parent, and sets Django up itself,
with the parent's database, storage, cache and THUMBKIT settings (so it works under
``override_settings`` and on a test database too). A job that raises fails its item only;
a worker process that dies fails the items it held, and a fresh pool takes the rest.

Items are JSON-able tuples: :class:`Item` (a row's file) or any NamedTuple with a
``describe()`` method (``generateimages``' sources). Each worker process runs the items of
a chunk on ``threads`` threads, so downloads and uploads on a remote storage overlap with
decoding and encoding: several I/O-bound jobs in flight per core.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from typing import Any, NamedTuple

from django.db import models

from ..core.spec import Spec, unfocused
from ..exceptions import ThumbkitError
from ..lookup import files
from ..lookup.batch import PSEUDO_SPECS, forget
from ..lookup.keys import source_key
from ..lookup.progress import Progress as Progress  # re-exported: commands use bulk.Progress
from ..lookup.source import Source
from ..lookup.stores import get_store
from ..lookup.thumbnail import Thumbnail
from ..signals import thumbnails_deleted

# What a child process takes from the parent's live settings: enough to reach the same rows,
# files and records even when the parent runs under override_settings or a test database.
FORWARDED_SETTINGS = ("DATABASES", "CACHES", "STORAGES", "MEDIA_ROOT", "MEDIA_URL", "THUMBKIT")

# How many chunks each worker may have queued: enough to keep it busy, few enough that a
# million-row table is never held in memory as futures.
QUEUED = 2
ROWS_PER_QUERY = 1000
# Jobs in flight per worker process by default: generation reads a source and writes its
# thumbnails (network round trips on S3) between CPU-bound decodes; a second thread keeps
# the core busy meanwhile. Pillow releases the GIL while decoding, resizing and encoding.
DEFAULT_THREADS = 2


class Item(NamedTuple):
    """One row's file: JSON-able (a list once dumped), so a task queue can carry it too."""

    label: str
    pk: Any
    attname: str
    name: str

    def describe(self) -> str:
        return f"pk={self.pk} ({self.name})"


# A job takes an Item or another JSON-able NamedTuple with ``describe()``.
Job = Callable[[Any, Mapping[str, Any]], int]
Result = tuple[int, str | None]  # (count the job returned, error text or None)


@dataclass(frozen=True)
class ItemFailure:
    item: Any  # the work item: an Item, or another NamedTuple with describe()
    error: str

    def __str__(self) -> str:
        return f"{self.item.describe()}: {self.error}"


@dataclass
class RunReport:
    items: int = 0
    count: int = 0  # the sum of what the job returned (thumbnails made, removed, ...)
    failures: list[ItemFailure] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: RunReport) -> None:
        """Fold another run's outcome into this one (several runs of one command)."""
        self.items += other.items
        self.count += other.count
        self.failures += other.failures
        self.seconds += other.seconds


class PoolError(ThumbkitError):
    """The worker processes could not run at all (settings that cannot be sent, a crash)."""


# --- rows --------------------------------------------------------------------------------


def _with_file(model: type[models.Model], attname: str, using: str | None) -> Any:
    manager = model._base_manager.db_manager(using)
    return manager.exclude(**{f"{attname}__isnull": True}).exclude(**{attname: ""})


def count_rows(
    model: type[models.Model], attname: str, using: str | None = None
) -> tuple[int, int]:
    """(rows with a file, rows in all)."""
    total = model._base_manager.db_manager(using).count()
    return _with_file(model, attname, using).count(), total


def rows(
    model: type[models.Model],
    attname: str,
    using: str | None = None,
    per_query: int = ROWS_PER_QUERY,
) -> Iterator[Item]:
    """Every row with a file, in pk order, read ``per_query`` rows at a time.

    Keyset pages (``pk > last``) rather than one cursor: the pool may take hours to consume
    the rows, and no transaction or server-side cursor stays open meanwhile.
    """
    query = _with_file(model, attname, using).order_by("pk").values_list("pk", attname)
    label = model._meta.label
    last: Any = None
    while True:
        page = list((query if last is None else query.filter(pk__gt=last))[:per_query])
        for pk, name in page:
            yield Item(label, pk if isinstance(pk, int) else str(pk), attname, str(name))
        if len(page) < per_query:
            return
        last = page[-1][0]


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, max(1, size))):
        yield chunk


# --- running -----------------------------------------------------------------------------


def default_workers() -> int:
    return os.cpu_count() or 1


def run(
    job: Job,
    items: Iterable[Any],
    options: Mapping[str, Any],
    workers: int | None = None,
    chunk_size: int = 10,
    progress: Progress | None = None,
    threads: int = DEFAULT_THREADS,
) -> RunReport:
    """Apply ``job`` to every item: in this process for one worker, else on a process pool.

    ``job`` must be a module-level function (children import it by name) and ``options``
    picklable. Without ``DJANGO_SETTINGS_MODULE`` (``settings.configure()``), children could
    not set Django up, so the work runs in this process. Each worker process runs a chunk's
    items on ``threads`` threads; in this process (one worker) items run one after the
    other on the calling thread, which keeps its database connection and transaction.
    """
    workers = workers or default_workers()
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        workers = 1
    report = RunReport()
    start = time.monotonic()
    batches = chunks(items, chunk_size)
    outcomes = (
        _inline(job, batches, options)
        if workers == 1
        else _pool(job, batches, options, workers, max(1, threads))
    )
    for chunk, results in outcomes:
        _collect(report, chunk, results)
        if progress is not None:
            progress.advance(len(chunk))
    if progress is not None:
        progress.close()
    report.seconds = time.monotonic() - start
    return report


def _collect(report: RunReport, chunk: Sequence[Any], results: Sequence[Result]) -> None:
    report.items += len(chunk)
    for item, (count, error) in zip(chunk, results, strict=True):
        report.count += count
        if error is not None:
            report.failures.append(ItemFailure(item, error))


def run_chunk(
    job: Job, chunk: Sequence[Any], options: Mapping[str, Any], threads: int = 1
) -> list[Result]:
    """Run ``job`` on each item (on ``threads`` threads); an exception fails that item only."""
    if threads <= 1 or len(chunk) <= 1:
        return [attempt(job, item, options) for item in chunk]
    return list(_thread_pool(threads).map(partial(_in_thread, job, options=options), chunk))


def attempt(job: Job, item: Any, options: Mapping[str, Any]) -> Result:
    try:
        return job(item, options), None
    except Exception as exc:  # a job's error is the item's outcome, reported at the end
        return 0, f"{type(exc).__name__}: {exc}"


def _in_thread(job: Job, item: Any, options: Mapping[str, Any]) -> Result:
    from django.db import close_old_connections

    try:
        return attempt(job, item, options)
    finally:
        # Each item is a request's worth of work: a pool thread's connection is closed (or
        # kept, per CONN_MAX_AGE) as at a request's end, never left to leak.
        close_old_connections()


_thread_pools: dict[int, ThreadPoolExecutor] = {}


def _thread_pool(threads: int) -> ThreadPoolExecutor:
    """The worker process's threads: made once, reused for every chunk it is given."""
    pool = _thread_pools.get(threads)
    if pool is None:
        pool = _thread_pools[threads] = ThreadPoolExecutor(threads, "thumbkit-bulk")
    return pool


def _inline(
    job: Job, batches: Iterator[list[Any]], options: Mapping[str, Any]
) -> Iterator[tuple[list[Any], list[Result]]]:
    for chunk in batches:
        yield chunk, run_chunk(job, chunk, options)


def _pool(
    job: Job, batches: Iterator[list[Any]], options: Mapping[str, Any], workers: int, threads: int
) -> Iterator[tuple[list[Any], list[Result]]]:
    fruitless = 0
    while True:
        feed = _Feed(job, options, workers, threads)
        with _executor(workers) as pool:
            yield from feed.run(pool, batches)
        if not feed.broken:
            return
        # A dead worker takes its pool down; a fresh pool takes the rest, unless pools die
        # before finishing anything (then the children cannot start at all).
        fruitless = 0 if feed.completed else fruitless + 1
        if fruitless >= 2:
            raise PoolError(
                f"The worker processes keep dying before finishing any work: {feed.broken}"
            )
        batches = chain(feed.unsent, batches)


class _Feed:
    """Keeps a pool busy with chunks and yields each chunk's results as they finish."""

    def __init__(
        self, job: Job, options: Mapping[str, Any], workers: int, threads: int = 1
    ) -> None:
        self.job, self.options, self.workers, self.threads = job, options, workers, threads
        self.pending: dict[Future[list[Result]], list[Any]] = {}
        self.unsent: list[list[Any]] = []  # taken from the rows but refused by a broken pool
        self.broken = ""
        self.completed = 0

    def run(
        self, pool: ProcessPoolExecutor, batches: Iterator[list[Any]]
    ) -> Iterator[tuple[list[Any], list[Result]]]:
        for chunk in batches:
            try:
                submitted = pool.submit(child_chunk, self.job, chunk, self.options, self.threads)
                self.pending[submitted] = chunk
            except BrokenProcessPool as exc:
                self.broken = self.broken or f"{type(exc).__name__}: {exc}"
                self.unsent.append(chunk)
            while self.pending and (self.broken or len(self.pending) >= self.workers * QUEUED):
                yield from self._finished()
            if self.broken:
                return
        while self.pending:
            yield from self._finished()

    def _finished(self) -> Iterator[tuple[list[Any], list[Result]]]:
        done, _ = wait(self.pending, return_when=FIRST_COMPLETED)
        for future in done:
            chunk = self.pending.pop(future)
            try:
                results = future.result()
                self.completed += 1
            except BrokenProcessPool as exc:  # a worker died: this pool is done for
                self.broken = self.broken or f"{type(exc).__name__}: {exc}"
                results = _failed(chunk, f"worker process failed: {self.broken}")
            except Exception as exc:  # the chunk could not be sent or answered (pickling)
                results = _failed(chunk, f"{type(exc).__name__}: {exc}")
            yield chunk, results


def _failed(chunk: Sequence[Any], error: str) -> list[Result]:
    return [(0, error)] * len(chunk)


class _executor:
    """A spawn-context pool that, on an interrupt, drops queued work instead of waiting."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=setup_child, initargs=(child_config(),)
        )

    def __enter__(self) -> ProcessPoolExecutor:
        return self.pool

    def __exit__(self, kind: Any, *rest: Any) -> None:
        self.pool.shutdown(wait=kind is None, cancel_futures=kind is not None)


def child_config() -> dict[str, Any]:
    """What a spawned child needs to set Django up as this process has it."""
    from django.conf import settings

    return {
        "module": os.environ.get("DJANGO_SETTINGS_MODULE", ""),
        "settings": {n: getattr(settings, n) for n in FORWARDED_SETTINGS if hasattr(settings, n)},
    }


def setup_child(config: Mapping[str, Any]) -> None:
    """Pool initializer: Django set up with the parent's settings module and live values."""
    os.environ["DJANGO_SETTINGS_MODULE"] = config["module"]
    import django
    from django.conf import settings

    for name, value in config["settings"].items():
        setattr(settings, name, value)
    django.setup()


def child_chunk(
    job: Job, chunk: Sequence[Any], options: Mapping[str, Any], threads: int = 1
) -> list[Result]:
    """A chunk in a child process; then, like a request's end, drop stale connections."""
    from django.db import close_old_connections

    try:
        return run_chunk(job, chunk, options, threads)
    finally:
        close_old_connections()


# --- removing thumbnails of many sources ----------------------------------------------------


@dataclass
class Removal:
    removed: list[Thumbnail] = field(default_factory=list)
    kept: dict[str, list[Thumbnail]] = field(default_factory=dict)  # what stays, by source key
    failed: list[tuple[Thumbnail, str]] = field(default_factory=list)


def remove(
    sources: Sequence[Source], specs: Sequence[Spec] | None, dry_run: bool = False
) -> Removal:
    """Delete the thumbnails of ``sources`` made for ``specs`` (every one for None).

    One store read for all sources and one delete for all records; files are deleted one by
    one, and a file that cannot be deleted keeps its record (so a rerun retries it). A
    source's version record stays: its next thumbnails must not reuse pre-overwrite URLs.
    """
    store = get_store()
    found = store.get_sources(list(dict.fromkeys(source_key(s) for s in sources)))
    # A spec's thumbnails for every focal point it followed (an old point's are stale too).
    wanted = None if specs is None else {unfocused(s.canonical) for s in specs}
    result = Removal()
    for key, records in found.items():
        for record in records.values():
            doomed = record.spec not in PSEUDO_SPECS and (
                wanted is None or unfocused(record.spec) in wanted
            )
            (result.removed if doomed else result.kept.setdefault(key, [])).append(record)
    if dry_run:
        return result
    _delete_files(result)
    store.delete_many([r.key for r in result.removed])
    _forget_memos(sources, result)
    return result


def _delete_files(result: Removal) -> None:
    removed: list[Thumbnail] = []
    for record in result.removed:
        try:
            files.delete(record.storage, record.name)
            removed.append(record)
        except ThumbkitError as exc:
            result.failed.append((record, f"{type(exc).__name__}: {exc}"))
            result.kept.setdefault(record.source_key, []).append(record)
    result.removed = removed


def _forget_memos(sources: Sequence[Source], result: Removal) -> None:
    gone: dict[str, list[str]] = {}
    for record in result.removed:
        gone.setdefault(record.source_key, []).append(record.key)
    for src in sources:
        forget(src)  # the next lookup reads the store again
    seen: set[str] = set()
    for src in sources:
        key = source_key(src)
        if key in gone and key not in seen:
            seen.add(key)
            thumbnails_deleted.send(sender=Thumbnail, source=src, keys=gone[key])

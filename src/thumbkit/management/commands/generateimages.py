"""``manage.py generateimages [id-pattern ...]``: imagekit's command, on every core.

For every registered generator id (or those matching the patterns, ``*`` = any run of
characters, e.g. ``myapp:*``), every source of every source group registered for it gets
that generator's image, made by thumbkit's generation: stored, recorded, found by pages.

- **Resumable.** The store is the checkpoint: sources are listed, then checked against the
  store ``BATCH`` at a time (one round trip per batch), and only the missing images are
  made. A run that was interrupted (Ctrl-C, a killed process) is simply run again.
- **Every core.** Sources are shipped to ``--workers`` spawned processes (one per core by
  default) as JSON-able addresses: a row's file (model label, pk, field) or a storage name
  (STORAGES alias and name); each process runs ``--threads`` of them at a time. Sources a
  group yields that have no such address (open files) are made in this process.
- **Each source read once.** A source used by several ids (one group registered for
  several ids, or equal groups such as two spec fields on one image field) is one job that
  makes all of its images from one read.
- **Failures** are listed at the end with the source and the error; the others still run,
  and the command then exits with status 1.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from django.apps import apps
from django.core.files import File
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models.fields.files import FieldFile

from ...adapters import bulk
from ...core.spec import Spec
from ...exceptions import ThumbkitError
from ...lookup import api, failures
from ...lookup.batch import read_sources, version_of
from ...lookup.generators import as_source
from ...lookup.keys import source_key, thumbnail_key
from ...lookup.registry import NotRegistered, register
from ...lookup.source import Source, coerce
from ._common import add_pool_arguments, check_pool_arguments, raise_failures

BATCH = 200  # sources checked against the store in one round trip


class SourceItem(NamedTuple):
    """A source another process can open, and the generator ids to make from it (JSON-able).

    A row's file has ``label``/``pk``/``attname`` (and ``using``); a storage name has
    ``storage`` (a STORAGES alias). ``storage`` and ``label`` are both empty for a source
    only this process holds (an open file): ``obj`` is then that object, never shipped.
    """

    ids: tuple[str, ...]
    name: str
    storage: str = ""
    label: str = ""
    pk: Any = None
    attname: str = ""
    using: str = ""
    obj: Any = None

    def describe(self) -> str:
        if self.label:
            where = f"{self.label} pk={self.pk} {self.attname}"
        else:
            where = f"storage {self.storage!r}" if self.storage else "file"
        return f"{where} {self.name!r} [{', '.join(self.ids)}]"


def address(obj: Any, ids: tuple[str, ...]) -> SourceItem:
    """How a source a group yielded can be found again by another process."""
    if isinstance(obj, FieldFile) and obj.instance is not None and obj.instance.pk is not None:
        instance, pk = obj.instance, obj.instance.pk
        return SourceItem(
            ids,
            str(obj.name),
            label=instance._meta.label,
            pk=pk if isinstance(pk, int) else str(pk),
            attname=obj.field.attname,
            using=instance._state.db or "",
        )
    if isinstance(obj, str | Source | FieldFile):
        src = coerce(obj)
        stored = src.origin is None or isinstance(src.origin, FieldFile)
        if stored and src.storage_id in storages.backends:
            return SourceItem(ids, src.name, storage=src.storage_id)
    # A bare open() file (imagekit's JpegsInADirectory example) is wrapped as a Django File.
    return SourceItem(ids, str(getattr(obj, "name", "") or obj), obj=as_source(obj))


def reopen(item: SourceItem) -> Any:
    """The source an item names, as generators see it; None if a row's file has changed."""
    if item.obj is not None:
        return item.obj
    if not item.label:
        return coerce(item.name, storages[item.storage])
    model = apps.get_model(item.label)
    row = model._base_manager.db_manager(item.using or None).filter(pk=item.pk).first()
    file = getattr(row, item.attname, None)
    if not file or file.name != item.name:
        return None  # gone or replaced since it was listed: its own save makes its images
    return file


def spec_of(id: str, source: Any, modules: Mapping[str, str]) -> Spec:
    """The spec of generator ``id`` for ``source`` (imagekit's ``register.make``)."""
    try:
        register.get(id)
    except NotRegistered:
        # A worker process knows the generators that app loading and autodiscovery
        # registered; one registered elsewhere is registered by importing its module.
        module = modules.get(id, "")
        if module and module != "__main__":
            importlib.import_module(module)
    spec = register.make(id, source=source).spec
    if not isinstance(spec, Spec):
        raise ThumbkitError(f"The generator {id!r} gives no thumbkit spec (got {spec!r}).")
    return spec


def make(item: SourceItem, options: Mapping[str, Any]) -> int:
    """The job for one source (in a worker process, or here): how many images it made."""
    source = reopen(item)
    if source is None:
        return 0
    specs = [spec_of(id, source, options["modules"]) for id in item.ids]
    if options["force"]:
        src = coerce(source)
        bulk.remove([src], specs)
        failures.forget(src)  # forced: a remembered failure is tried again too
    try:
        return api.ensure(source, specs)
    finally:
        close(item.obj)


def close(obj: Any) -> None:
    """Close a group's open file once it is no longer needed: never hold descriptors."""
    if isinstance(obj, File) and not isinstance(obj, FieldFile):
        obj.close()


@dataclass
class Plan:
    """Lists the sources of the matched ids and keeps those with images to make."""

    ids: list[str]
    force: bool
    modules: dict[str, str]
    pending: list[SourceItem] = field(default_factory=list)  # for the worker processes
    listed: int = 0
    done: int = 0  # sources whose images are all recorded already

    def build(self, on_local: Callable[[list[SourceItem]], None]) -> None:
        """List and check every source, ``BATCH`` at a time; ``on_local(items)`` takes each
        batch's unaddressable sources at once, so their open files are never all held."""
        where: dict[tuple[Any, ...], int] = {}
        for batch in bulk.chunks(self._sources(), BATCH):
            todo = self._missing(batch)
            for item in (item for item, _ in todo if item.obj is None):
                # One job per source, whichever groups listed it: one read for all its ids.
                key = tuple(item._replace(ids=()))
                if key in where:
                    known = self.pending[where[key]]
                    self.pending[where[key]] = known._replace(ids=known.ids + item.ids)
                else:
                    where[key] = len(self.pending)
                    self.pending.append(item)
            local = [item for item, _ in todo if item.obj is not None]
            if local:
                on_local(local)

    def _sources(self) -> Iterator[tuple[SourceItem, Any]]:
        seen: dict[tuple[Any, ...], set[str]] = {}
        for group, ids in self._groups():
            for obj in group.files():
                if not obj:
                    continue
                item = address(obj, ids)
                if item.obj is None:
                    known = seen.setdefault(tuple(item._replace(ids=())), set())
                    fresh = tuple(id for id in ids if id not in known)
                    known.update(fresh)
                    if not fresh:
                        continue  # listed already (another group yields it too)
                    item = item._replace(ids=fresh)
                self.listed += 1
                yield item, obj

    def _groups(self) -> list[tuple[Any, tuple[str, ...]]]:
        """Each distinct group once, with every matched id it serves; groups of one class
        with equal attributes (two spec fields on one image field) count as one."""
        merged: dict[Any, tuple[Any, list[str]]] = {}
        for id in self.ids:
            for group in register.source_groups(id):
                ids = merged.setdefault(_group_key(group), (group, []))[1]
                if id not in ids:
                    ids.append(id)
        return [(group, tuple(ids)) for group, ids in merged.values()]

    def _missing(self, batch: list[tuple[SourceItem, Any]]) -> list[tuple[SourceItem, Any]]:
        """The batch's sources with their missing ids; one store round trip for all."""
        if self.force:
            return batch
        checked: list[tuple[SourceItem, Source, dict[str, Spec]]] = []
        unknown: list[tuple[SourceItem, Any]] = []
        for item, obj in batch:
            try:
                # What the worker will see: the row's FieldFile as listed (reloading it here
                # would cost a query per source), or the storage name's Source.
                source = obj if item.label else reopen(item)
                specs = {id: spec_of(id, source, self.modules) for id in item.ids}
                checked.append((item, coerce(source), specs))
            except Exception:  # the job meets the same error and reports it with the source
                unknown.append((item, obj))
        found = read_sources(list(dict.fromkeys(source_key(src) for _, src, _ in checked)))
        todo = list(unknown)
        for item, src, specs in checked:
            records = found.get(source_key(src), {})
            versioned = replace(src, version=version_of(records))
            missing = tuple(
                i for i, s in specs.items() if thumbnail_key(versioned, s) not in records
            )
            if missing:
                todo.append((item._replace(ids=missing), None))
            else:
                self.done += 1
                close(item.obj)
        return todo


def _group_key(group: Any) -> Any:
    try:
        key = (type(group), tuple(sorted(vars(group).items())))
        hash(key)
        return key
    except TypeError:  # no __dict__, or unhashable attributes: the object itself
        return id(group)


class Command(BaseCommand):
    help = (
        "Generate the images of every registered generator id (or those matching the "
        "patterns, e.g. 'myapp:*') for every source of its source groups. Makes only what "
        "is missing (run it again after an interruption), on every core."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "generator_ids", nargs="*", metavar="id-pattern", help="ids or patterns ('app:*')"
        )
        parser.add_argument(
            "--force", action="store_true", help="make the images again even when recorded"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list the sources and ids that would be made"
        )
        add_pool_arguments(parser, "sources")

    def handle(self, *args: Any, **options: Any) -> None:
        check_pool_arguments(options)
        ids = register.ids(options["generator_ids"])
        if options["generator_ids"] and not ids:
            raise CommandError(f"No generator id matches {' '.join(options['generator_ids'])}.")
        verbosity = options["verbosity"]
        job = {"force": options["force"], "modules": _modules(ids)}
        plan = Plan(ids, options["force"], job["modules"])
        progress = bulk.Progress(0, self.stderr, "generateimages", enabled=verbosity > 0)
        report = bulk.RunReport()
        self.workers = 1
        start = time.monotonic()
        try:
            if options["dry_run"]:
                return self._dry_run(plan)
            plan.build(lambda items: self._here(items, job, progress, report))
            report.add(self._pool(plan, job, progress, options))
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted. What was made is recorded; run the command again to make the rest."
            ) from None
        except ThumbkitError as exc:  # the store unreachable while checking, say
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        report.seconds = time.monotonic() - start
        self._summary(plan, report, options)

    def _here(
        self,
        items: list[SourceItem],
        job: dict[str, Any],
        progress: bulk.Progress,
        report: bulk.RunReport,
    ) -> None:
        progress.total += len(items)
        report.add(bulk.run(make, items, job, workers=1))
        progress.advance(len(items))

    def _pool(
        self, plan: Plan, job: dict[str, Any], progress: bulk.Progress, options: dict[str, Any]
    ) -> bulk.RunReport:
        if not plan.pending:  # nothing for the workers: start none
            if progress.total:
                progress.close()
            return bulk.RunReport()
        chunks = -(-len(plan.pending) // options["chunk_size"])
        # No more processes than chunks: a process that would get no work is not started.
        self.workers = min(options["workers"] or bulk.default_workers(), max(1, chunks))
        progress.total += len(plan.pending)
        return bulk.run(
            make,
            plan.pending,
            job,
            workers=self.workers,
            chunk_size=options["chunk_size"],
            progress=progress,
            threads=options["threads"],
        )

    def _dry_run(self, plan: Plan) -> None:
        local: list[SourceItem] = []

        def keep(items: list[SourceItem]) -> None:
            for item in items:
                close(item.obj)
                local.append(item._replace(obj=None))

        plan.build(keep)
        items = plan.pending + local
        for item in items:
            self.stdout.write(f"would make {item.describe()}")
        images = sum(len(item.ids) for item in items)
        self.stdout.write(
            f"Would make {images} image(s) for {len(items)} source(s); "
            f"{plan.done} source(s) already have theirs."
        )

    def _summary(self, plan: Plan, report: bulk.RunReport, options: dict[str, Any]) -> None:
        if options["verbosity"] > 0:
            self.stdout.write(
                f"Made {report.count} image(s) for {report.items} source(s) of "
                f"{len(plan.ids)} generator id(s) ({plan.done} source(s) already made, "
                f"skipped) in {report.seconds:.1f}s with {self.workers} "
                f"worker(s) x {options['threads']} thread(s)."
            )
        raise_failures(self, report, "source(s)")


def _modules(ids: Iterable[str]) -> dict[str, str]:
    """Where each generator is defined, for worker processes to import."""
    return {id: str(getattr(register.get(id), "__module__", "") or "") for id in ids}

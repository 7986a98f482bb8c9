"""``manage.py thumbkit_delete app.Model [--field f] [--size s ...] [--dry-run]``.

django-thumbnails' ``delete_thumbnails --model=app.Model --size=small``: removes the files and
records of the named declared sizes for every row (after a size's definition changed, say).
Without ``--size`` every thumbnail of those files goes, declared or made by a template. The
source files stay. Without ``--field``, every thumbkit ImageField of the model is cleaned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models

from ...adapters import bulk
from ...core.spec import Spec
from ...exceptions import ThumbkitError
from ...fields import ImageField, thumbkit_fields
from ...lookup.batch import to_manifest
from ...lookup.keys import source_key
from ...lookup.source import coerce
from ._common import (
    add_database_argument,
    add_size_argument,
    declared,
    get_file_field,
    get_model,
)

ROWS_PER_BATCH = 200  # rows whose records are read (and deleted) in one store round trip


@dataclass
class Tally:
    empty: int = 0  # rows without a file, skipped
    touched: int = 0
    thumbnails: int = 0
    names: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = (
        "Delete thumbnails (files and records) of a model's image fields: the declared "
        "--size ones, or with no --size every thumbnail of those files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="app_label.ModelName")
        parser.add_argument(
            "--field",
            action="extend",
            nargs="+",
            default=[],
            dest="fields",
            help="image fields to clean (default: every thumbkit ImageField of the model)",
        )
        add_size_argument(
            parser, "declared sizes to delete (default: every thumbnail of the files)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )
        add_database_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_model(options["model"])
        fields = self._fields(model, options["fields"])
        plans = [(f, declared(f, options["sizes"])) for f in fields]  # all refused up front
        failed = 0
        for file_field, specs in plans:
            tally = self._clean(model, file_field, specs, options)
            self._summary(model, file_field, tally, options)
            failed += len(tally.failures)
        if failed:
            raise CommandError(f"{failed} thumbnail(s) could not be deleted.")

    def _fields(self, model: type[models.Model], names: list[str]) -> list[models.FileField]:
        if names:
            return [get_file_field(model, name) for name in dict.fromkeys(names)]
        found: list[models.FileField] = list(thumbkit_fields(model))
        if not found:
            raise CommandError(
                f"{model._meta.label} has no thumbkit ImageField; name a file field with --field."
            )
        return found

    def _clean(
        self,
        model: type[models.Model],
        file_field: models.FileField,
        specs: list[Spec] | None,
        options: dict[str, Any],
    ) -> Tally:
        using = options["database"]
        with_file, total = bulk.count_rows(model, file_field.attname, using)
        tally = Tally(empty=total - with_file)
        label = f"{model._meta.label}.{file_field.name}"
        progress = bulk.Progress(with_file, self.stderr, label, enabled=options["verbosity"] > 0)
        rows = bulk.rows(model, file_field.attname, using)
        for chunk in bulk.chunks(rows, ROWS_PER_BATCH):
            self._clean_chunk(model, file_field, specs, chunk, tally, options)
            progress.advance(len(chunk))
        progress.close()
        return tally

    def _clean_chunk(
        self,
        model: type[models.Model],
        file_field: models.FileField,
        specs: list[Spec] | None,
        chunk: list[bulk.Item],
        tally: Tally,
        options: dict[str, Any],
    ) -> None:
        sources = [coerce(item.name, storage=file_field.storage) for item in chunk]
        try:
            removal = bulk.remove(sources, specs, dry_run=options["dry_run"])
        except ThumbkitError as exc:
            tally.failures.extend(
                f"pk={i.pk} ({i.name}): {type(exc).__name__}: {exc}" for i in chunk
            )
            return
        tally.thumbnails += len(removal.removed)
        tally.touched += len({r.source_key for r in removal.removed})
        tally.names.extend(r.name for r in removal.removed)
        tally.failures.extend(f"{r.name}: {error}" for r, error in removal.failed)
        if not options["dry_run"]:
            self._refresh_manifests(model, file_field, chunk, removal, options["database"])

    def _refresh_manifests(
        self,
        model: type[models.Model],
        file_field: models.FileField,
        chunk: list[bulk.Item],
        removal: bulk.Removal,
        using: str | None,
    ) -> None:
        # A manifest column must not keep describing thumbnails that are gone.
        manifest = file_field.manifest_field if isinstance(file_field, ImageField) else None
        if not manifest:
            return
        touched = {r.source_key for r in removal.removed}
        for item in chunk:
            key = source_key(coerce(item.name, storage=file_field.storage))
            if key in touched:
                value = to_manifest(key, removal.kept.get(key, []))
                model._base_manager.db_manager(using).filter(
                    pk=item.pk, **{file_field.attname: item.name}
                ).update(**{manifest: value})

    def _summary(
        self,
        model: type[models.Model],
        file_field: models.FileField,
        tally: Tally,
        options: dict[str, Any],
    ) -> None:
        verbosity = options["verbosity"]
        if verbosity > 1:
            for name in tally.names:
                self.stdout.write(f"  {name}")
        if verbosity > 0:
            verb = "would delete" if options["dry_run"] else "deleted"
            self.stdout.write(
                f"{model._meta.label}.{file_field.name}: {verb} {tally.thumbnails} thumbnail(s) "
                f"(files and records) of {tally.touched} row(s); "
                f"{tally.empty} row(s) without a file skipped."
            )
        for failure in tally.failures:
            self.stderr.write(f"  could not delete {failure}")

"""``manage.py thumbkit_regenerate app.Model field``: make a field's declared thumbnails.

django-athumb's ``athumb_regen_field``: every row's file gets its declared thumbnails (all,
or the ``--size`` ones). By default only missing ones are made; ``--force`` deletes and
remakes them. Rows are spread over ``--workers`` processes (every core by default), each
running ``--threads`` rows at a time (so storage round trips overlap), with a progress bar
on stderr; a row that fails (a corrupt source) is reported at the end with its pk and
error, the others still run, and the command then exits with status 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser

from ...adapters import bulk
from ...fields import ImageField
from ...lookup import api, failures, resolver
from ...lookup.source import coerce
from ._common import (
    add_database_argument,
    add_pool_arguments,
    add_size_argument,
    check_pool_arguments,
    declared,
    get_model,
    get_thumbkit_field,
    raise_failures,
)


def make_row(item: bulk.Item, options: Mapping[str, Any]) -> int:
    """The job for one row (in a worker process): how many thumbnails it made."""
    model = apps.get_model(item.label)
    field = model._meta.get_field(item.attname)
    assert isinstance(field, ImageField)
    instance = model._base_manager.db_manager(options["using"]).filter(pk=item.pk).first()
    file = getattr(instance, item.attname, None)
    if not file or file.name != item.name:
        return 0  # gone or replaced since it was listed: its own save makes its thumbnails
    sizes = options["sizes"]
    if sizes:  # each following the row's focal point, as lookups do
        specs = [resolver.for_source(field.declared_spec(s), file) for s in sizes]
    else:
        specs = field.declared_specs(file)
    if options["force"]:
        src = coerce(file)
        bulk.remove([src], specs)
        failures.forget(src)  # forced: a remembered failure is tried again too
    return api.ensure(file, specs)


class Command(BaseCommand):
    help = (
        "Make the declared thumbnails of a thumbkit ImageField for every row: only the missing "
        "ones, or all of them again with --force. Uses every core."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="app_label.ModelName")
        parser.add_argument("field", help="a thumbkit.fields.ImageField of the model")
        add_size_argument(parser, "declared sizes to make (default: every declared size)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="delete existing thumbnails and make them again (new files)",
        )
        add_pool_arguments(parser, "rows")
        add_database_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_model(options["model"])
        field = get_thumbkit_field(model, options["field"])
        declared(field, options["sizes"])  # refuses undeclared sizes before any work
        check_pool_arguments(options)
        requested = options["workers"]
        with_file, total = bulk.count_rows(model, field.attname, options["database"])
        # No more processes than chunks: a process that would get no work is not started.
        chunks = -(-with_file // options["chunk_size"])
        workers = min(requested or bulk.default_workers(), max(1, chunks))
        label = f"{model._meta.label}.{field.name}"
        progress = bulk.Progress(with_file, self.stderr, label, enabled=options["verbosity"] > 0)
        job_options = {
            "using": options["database"],
            "sizes": list(options["sizes"]),
            "force": options["force"],
        }
        report = bulk.run(
            make_row,
            bulk.rows(model, field.attname, options["database"]),
            job_options,
            workers=workers,
            chunk_size=options["chunk_size"],
            progress=progress,
            threads=options["threads"],
        )
        self._summary(label, report, total - with_file, workers, options["verbosity"])

    def _summary(
        self, label: str, report: bulk.RunReport, empty: int, workers: int, verbosity: int
    ) -> None:
        if verbosity > 0:
            self.stdout.write(
                f"{label}: made {report.count} thumbnail(s) for {report.items} row(s) "
                f"({empty} without a file skipped) in {report.seconds:.1f}s "
                f"with {workers} worker(s)."
            )
        raise_failures(self, report, "row(s)")

"""What the thumbkit maintenance commands share: model, field and size arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models

from ...adapters import bulk
from ...core.spec import Spec
from ...fields import ImageField


def get_model(label: str) -> type[models.Model]:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise CommandError(f"Unknown model {label!r} (use app_label.ModelName): {exc}") from exc


def get_file_field(model: type[models.Model], name: str) -> models.FileField:
    try:
        field = model._meta.get_field(name)
    except Exception as exc:
        raise CommandError(f"{model._meta.label} has no field {name!r}.") from exc
    if not isinstance(field, models.FileField):
        raise CommandError(f"{model._meta.label}.{name} is not a file or image field.")
    return field


def get_thumbkit_field(model: type[models.Model], name: str) -> ImageField:
    field = get_file_field(model, name)
    if not isinstance(field, ImageField):
        raise CommandError(
            f"{model._meta.label}.{name} is not a thumbkit.fields.ImageField, so it declares "
            "no thumbnails."
        )
    return field


def declared(field: models.FileField, sizes: Sequence[str]) -> list[Spec] | None:
    """The specs of the declared ``sizes`` (None for no sizes given); unknown ones refused."""
    if not sizes:
        return None
    names = list(field.thumbnails) if isinstance(field, ImageField) else []
    unknown = [size for size in sizes if size not in names]
    if unknown:
        raise CommandError(
            f"{field.model._meta.label}.{field.name} declares no size "
            f"{', '.join(repr(u) for u in unknown)}; declared: {', '.join(names) or 'none'}."
        )
    assert isinstance(field, ImageField)
    return [field.declared_spec(size) for size in dict.fromkeys(sizes)]


def add_size_argument(parser: CommandParser, help: str) -> None:
    """``--size NAME ...`` (repeatable), collected in ``options["sizes"]``."""
    parser.add_argument("--size", action="extend", nargs="+", default=[], dest="sizes", help=help)


def add_database_argument(parser: CommandParser) -> None:
    parser.add_argument("--database", default=None, help="database alias of the rows")


def add_pool_arguments(parser: CommandParser, what: str) -> None:
    """``--workers``, ``--threads`` and ``--chunk-size``, for the commands that use bulk.run."""
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per core; 1 runs in this process)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=bulk.DEFAULT_THREADS,
        help=(
            f"{what} in flight per worker process, so reads and writes on remote storages "
            f"overlap (default: {bulk.DEFAULT_THREADS})"
        ),
    )
    parser.add_argument(
        "--chunk-size", type=int, default=10, help=f"{what} handed to a worker at a time"
    )


def check_pool_arguments(options: dict[str, Any]) -> None:
    workers = 1 if options["workers"] is None else options["workers"]
    values = (workers, options["threads"], options["chunk_size"])
    if min(values) < 1:
        raise CommandError("--workers, --threads and --chunk-size must be at least 1.")


def raise_failures(command: BaseCommand, report: bulk.RunReport, noun: str) -> None:
    """List a bulk run's failures on stderr and fail the command (exit status 1)."""
    if not report.failures:
        return
    command.stderr.write(f"{len(report.failures)} {noun} failed:")
    for failure in report.failures:
        command.stderr.write(f"  {failure}")
    raise CommandError(f"{len(report.failures)} of {report.items} {noun} failed.")

"""``manage.py thumbkit_repair [--dry-run] [--regenerate] [--min-age SECONDS]
[--retry-failed [PATTERN ...]]``.

Checks every thumbnail record against its storage and every thumbnail file against the
records (see :mod:`thumbkit.adapters.repair`): records whose file is gone or empty are removed (or,
with ``--regenerate``, their thumbnails made again), files under ``THUMBKIT["PREFIX"]`` that
no record names are deleted, and so are interrupted writes' temp files. Listing is by prefix
(pages of 1000 objects on S3), never a request per file. ``--dry-run`` reports and changes
nothing. Exit status 0 unless some fix failed.

Remembered failures of sources (``THUMBKIT["FAILURE_TTL"]``) are listed with their error,
message and age; those no longer used are removed. ``--retry-failed`` forgets the live ones
too (all, or those whose source name matches a shell-style pattern), so the next render
tries their sources again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...adapters import bulk, repair
from ...conf import get_settings
from ...exceptions import ThumbkitError


class Command(BaseCommand):
    help = (
        "Check thumbnail records against the storage: remove (or --regenerate) records whose "
        "file is gone or empty, delete thumbnail files no record names. --dry-run to report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change, change nothing"
        )
        parser.add_argument(
            "--regenerate",
            action="store_true",
            help="make thumbnails whose file is gone again, instead of only removing records",
        )
        parser.add_argument(
            "--min-age",
            type=float,
            default=repair.MIN_AGE,
            help="leave files without a record alone if younger than this many seconds "
            f"(default {repair.MIN_AGE:.0f}: a generation may not have committed its record)",
        )
        parser.add_argument(
            "--retry-failed",
            nargs="*",
            metavar="PATTERN",
            default=None,
            help="forget remembered source failures so they are tried again: all of them, "
            "or those whose source name matches a shell-style pattern ('photos/*.png')",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["min_age"] < 0:
            raise CommandError("--min-age must be 0 or more.")
        verbosity, dry_run = options["verbosity"], options["dry_run"]
        try:
            report = repair.scan(min_age=options["min_age"])
        except ThumbkitError as exc:
            raise CommandError(str(exc)) from exc
        self._details(report, verbosity, dry_run)
        if not dry_run:
            total = report.actions(options["regenerate"])
            progress = bulk.Progress(
                total, self.stderr, "repair", enabled=verbosity > 0 and total > 0
            )
            try:
                repair.apply(
                    report, options["regenerate"], progress.advance, options["retry_failed"]
                )
            finally:
                progress.close()
        self._summary(report, verbosity, dry_run, options["regenerate"])
        self._failed(report, verbosity, dry_run, options["retry_failed"])
        for failure in report.failures:
            self.stderr.write(f"  failed: {failure}")
        if report.failures:
            raise CommandError(f"{len(report.failures)} repair(s) failed.")

    def _details(self, report: repair.RepairReport, verbosity: int, dry_run: bool) -> None:
        for note in report.notes:
            self.stderr.write(note)
        if verbosity < 2:
            return
        verb = "would" if dry_run else "will"
        for record in report.missing:
            self.stdout.write(f"  missing file, {verb} fix record: {record.name}")
        for record in report.empty:
            self.stdout.write(f"  empty file, {verb} fix record: {record.name}")
        for place, name in report.orphans:
            self.stdout.write(f"  no record, {verb} delete: {place.alias}:{name}")
        for place, name in report.temps:
            self.stdout.write(f"  stale temp file, {verb} delete: {place.alias}:{name}")

    def _failed(
        self, report: repair.RepairReport, verbosity: int, dry_run: bool, retry: list[str] | None
    ) -> None:
        if verbosity < 1 or not report.failed:
            return
        live = sum(1 for f in report.failed if f.live)
        self.stdout.write(
            f"Remembered source failures: {live} in use, "
            f"{len(report.failed) - live} no longer used."
        )
        for failed in report.failed:
            self.stdout.write(f"  failed source: {failed.describe()}")
        forgotten = len(report.failed_to_forget(retry))
        verb = "Would forget" if dry_run else "Forgot"
        hint = "" if retry is not None or not live else " (--retry-failed retries them)"
        self.stdout.write(f"{verb} {forgotten} failure record(s){hint}.")

    def _summary(
        self, report: repair.RepairReport, verbosity: int, dry_run: bool, regenerate: bool
    ) -> None:
        if verbosity < 1:
            return
        prefix = get_settings().prefix
        places = ", ".join(sorted(p.alias for p in report.places)) or "none"
        self.stdout.write(
            f"Checked {report.records} record(s) against {report.listed} file(s) under "
            f"{prefix or '(the storage root)'}/ on {places} "
            f"({report.requests} list/delete request(s) to remote storages, "
            f"{report.one_by_one} record(s) outside the prefix checked one by one)."
        )
        broken = len(report.broken)
        if dry_run:
            fix = "Would regenerate" if regenerate else "Would remove"
            self.stdout.write(
                f"{fix} {broken} record(s) ({len(report.missing)} missing, "
                f"{len(report.empty)} empty file(s)); would delete {len(report.orphans)} "
                f"file(s) without a record and {len(report.temps)} stale temp file(s); "
                f"{report.young} recent file(s) without a record left alone. Nothing changed."
            )
            return
        fixed = f"Regenerated {report.regenerated} thumbnail(s) of" if regenerate else "Removed"
        self.stdout.write(
            f"{fixed} {broken} broken record(s) ({len(report.missing)} missing, "
            f"{len(report.empty)} empty file(s)); deleted {len(report.orphans)} file(s) without "
            f"a record and {len(report.temps)} stale temp file(s); {report.young} recent "
            "file(s) without a record left alone."
        )

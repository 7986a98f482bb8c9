"""The ``db`` store: records in a table of the project's own database (the default).

One ``SELECT ... WHERE key IN (...)`` per batch; inserts are upserts, so a duplicate insert
from a racing process is harmless. Generation locks use PostgreSQL advisory locks (released
by the server if the holder's connection dies) and a lock table with expiry elsewhere.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta

from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.utils import timezone

from ..exceptions import StoreError
from ..models import GenerationLock, ThumbnailRecord
from ..thumbnail import Thumbnail

_COLUMNS = (
    "key",
    "name",
    "width",
    "height",
    "format",
    "storage_alias",
    "source_key",
    "spec",
    "source_name",
)


class DatabaseStore:
    def __init__(self, using: str | None = None) -> None:
        self.using = using or router.db_for_write(ThumbnailRecord)

    def get_many(self, keys: Sequence[str]) -> dict[str, Thumbnail]:
        if not keys:
            return {}
        try:
            rows = list(
                ThumbnailRecord.objects.using(self.using)
                .filter(key__in=list(keys))
                .values_list(*_COLUMNS)
            )
        except DatabaseError as exc:
            raise StoreError(f"Reading thumbnail records failed: {exc}") from exc
        return {row[0]: Thumbnail(*row) for row in rows}

    def set_many(self, thumbnails: Sequence[Thumbnail]) -> None:
        if not thumbnails:
            return
        objs = [ThumbnailRecord(**t.to_dict()) for t in thumbnails]
        update = [c for c in _COLUMNS if c != "key"]
        features = connections[self.using].features
        unique = ["key"] if features.supports_update_conflicts_with_target else None
        try:
            with transaction.atomic(using=self.using):
                ThumbnailRecord.objects.using(self.using).bulk_create(
                    objs, update_conflicts=True, unique_fields=unique, update_fields=update
                )
        except DatabaseError as exc:
            raise StoreError(f"Writing thumbnail records failed: {exc}") from exc

    def delete_many(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        try:
            ThumbnailRecord.objects.using(self.using).filter(key__in=keys).delete()
        except DatabaseError as exc:
            raise StoreError(f"Deleting thumbnail records failed: {exc}") from exc

    def source_keys(self, source_key: str) -> list[str]:
        try:
            qs = ThumbnailRecord.objects.using(self.using).filter(source_key=source_key)
            return list(qs.values_list("key", flat=True))
        except DatabaseError as exc:
            raise StoreError(f"Reading the source index failed: {exc}") from exc

    def iter_all(self) -> Iterator[Thumbnail]:
        qs = ThumbnailRecord.objects.using(self.using).order_by("key").values_list(*_COLUMNS)
        for row in qs.iterator(chunk_size=2000):
            yield Thumbnail(*row)

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        if connections[self.using].vendor == "postgresql":
            return self._advisory_lock(key)
        return self._table_lock(key, timeout)

    @contextmanager
    def _advisory_lock(self, key: str) -> Iterator[bool]:
        # Session-level, so it is visible to other connections at once even inside the
        # caller's transaction, and the server drops it if this process dies.
        (number,) = struct.unpack(">q", bytes.fromhex(key[:16]))
        with connections[self.using].cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [number])
            won = bool(cursor.fetchone()[0])
        try:
            yield won
        finally:
            if won:
                with connections[self.using].cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [number])

    @contextmanager
    def _table_lock(self, key: str, timeout: float) -> Iterator[bool]:
        token = secrets.token_hex(16)
        won = self._acquire_row(key, token, timeout)
        try:
            yield won
        finally:
            if won:
                GenerationLock.objects.using(self.using).filter(key=key, token=token).delete()

    def _acquire_row(self, key: str, token: str, timeout: float) -> bool:
        now = timezone.now()
        expires = now + timedelta(seconds=timeout)
        locks = GenerationLock.objects.using(self.using)
        try:
            with transaction.atomic(using=self.using):
                locks.create(key=key, token=token, expires=expires)
            return True
        except IntegrityError:
            # Held: take it over only if its holder let it expire (crashed or hung).
            stolen = locks.filter(key=key, expires__lt=now).update(token=token, expires=expires)
            return stolen == 1

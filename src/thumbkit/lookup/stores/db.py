"""The ``db`` store: records in a table of the project's own database (the default).

One ``SELECT ... WHERE key IN (...)`` per batch; inserts are upserts, so a duplicate insert
from a racing process is harmless. Generation locks use PostgreSQL advisory locks (released
by the server if the holder's connection dies) and a lock table with expiry elsewhere, whose
rows name their holder, so a killed holder's row is taken over at once (``stores.locks``).

Locks are not re-entrant: a second ``lock()`` for a key this connection already holds is
refused, as in the other stores (PostgreSQL itself would grant it again). Inside an atomic
block the PostgreSQL lock is a transaction lock, so it is released when the record becomes
visible to other connections (at commit), never before.

Timeouts are the database alias's own (the store adds no query to set them, so a page keeps
its single query): on PostgreSQL give the alias ``OPTIONS`` such as ``{"connect_timeout": 2,
"options": "-c statement_timeout=1000", "tcp_user_timeout": 2000}`` (docs/stores.md). A
connection or timeout failure raises :class:`~thumbkit.exceptions.StoreUnavailable`; other
database errors (a missing table, say) raise :class:`~thumbkit.exceptions.StoreError`.
"""

from __future__ import annotations

import functools
import secrets
import struct
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any

from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)
from django.utils import timezone
from django.utils.connection import ConnectionDoesNotExist

from ...exceptions import ConfigurationError, StoreError, StoreUnavailable
from ...models import GenerationLock, ThumbnailRecord
from ..thumbnail import Thumbnail
from . import locks as owners

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
    "placeholder_color",
    "thumbhash",
)

_RELEASE_ATTEMPTS = 100

# Advisory locks this process holds, per raw database connection (a session).
_held: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()


@contextmanager
def _mapped(action: str) -> Iterator[None]:
    try:
        yield
    except DatabaseError as exc:
        raise store_error(action, exc) from exc


def store_error(action: str, exc: DatabaseError) -> StoreError:
    """StoreUnavailable for a database that cannot be reached or answers too late."""
    kind = StoreUnavailable if _is_unavailable(exc) else StoreError
    return kind(f"{action} failed: {exc}")


def _is_unavailable(exc: DatabaseError) -> bool:
    # Connection refused, timed out or dropped, a cancelled statement (statement_timeout):
    # OperationalError or InterfaceError. SQLite also reports a missing table that way,
    # which is a configuration error (migrations not run), never an outage.
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    return not str(exc).startswith("no such ")


def _is_contention(exc: OperationalError) -> bool:
    # SQLite reports a concurrent writer as "database is locked" / "database table is locked".
    return "is locked" in str(exc)


class _RollbackGuard:
    """An ``on_commit`` callback that runs ``undo`` if it is dropped instead of called."""

    __slots__ = ("__weakref__", "_finalizer")

    def __init__(self, undo: Callable[[], None]) -> None:
        self._finalizer = weakref.finalize(self, undo)

    def __call__(self) -> None:
        self._finalizer.detach()  # committed: the files stay


class DatabaseStore:
    def __init__(self, using: str | None = None) -> None:
        if using is not None:
            try:
                # Builds the wrapper only (no connection); dynamic connections count too.
                connections[using]
            except ConnectionDoesNotExist as exc:  # system check E015 says so at startup
                raise ConfigurationError(
                    f"The db store uses the DATABASES alias {using!r}, which does not exist."
                ) from exc
        self.using = using or router.db_for_write(ThumbnailRecord)

    def get_many(self, keys: Sequence[str]) -> dict[str, Thumbnail]:
        if not keys:
            return {}
        with _mapped("Reading thumbnail records"):
            rows = self._select("key", keys)
        return {row[0]: Thumbnail.from_row(row) for row in rows}

    def set_many(self, thumbnails: Sequence[Thumbnail]) -> None:
        if not thumbnails:
            return
        # PostgreSQL refuses an upsert that touches one row twice: keep the last of each key.
        latest = {t.key: t for t in thumbnails}
        objs = [ThumbnailRecord(**t.to_dict()) for t in latest.values()]
        update = [c for c in _COLUMNS if c != "key"]
        features = connections[self.using].features
        unique = ["key"] if features.supports_update_conflicts_with_target else None
        try:
            # bulk_create is atomic on its own (without a savepoint inside a transaction).
            ThumbnailRecord.objects.using(self.using).bulk_create(
                objs, update_conflicts=True, unique_fields=unique, update_fields=update
            )
        except DatabaseError as exc:
            raise store_error("Writing thumbnail records", exc) from exc

    def delete_many(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        try:
            ThumbnailRecord.objects.using(self.using).filter(key__in=keys).delete()
        except DatabaseError as exc:
            raise store_error("Deleting thumbnail records", exc) from exc

    def get_sources(self, source_keys: Sequence[str]) -> dict[str, dict[str, Thumbnail]]:
        if not source_keys:
            return {}
        with _mapped("Reading source indexes"):
            rows = self._select("source_key", source_keys)
        found: dict[str, dict[str, Thumbnail]] = {}
        for row in rows:
            record = Thumbnail.from_row(row)
            found.setdefault(record.source_key, {})[record.key] = record
        return found

    def _select(self, column: str, values: Sequence[str]) -> list[tuple[Any, ...]]:
        """The records whose ``column`` is one of ``values``: one statement, in raw SQL.

        A list page reads a thousand sources at once. Through the ORM's ``__in``, preparing
        a thousand parameters (and, on psycopg, splitting a statement with a thousand
        placeholders) costs more than the database's answer; PostgreSQL takes the keys as
        one array parameter instead (``= ANY(%s)``), other databases as plain placeholders.
        """
        connection = connections[self.using]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(c) for c in _COLUMNS)
        table = quote(ThumbnailRecord._meta.db_table)
        target = f"{table}.{quote(column)}"
        params: list[Any]
        if connection.vendor == "postgresql":
            where, params = f"{target} = ANY(%s)", [list(values)]
        else:
            where, params = f"{target} IN ({', '.join(['%s'] * len(values))})", list(values)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {table} WHERE {where}", params)
            return list(cursor.fetchall())

    def source_keys(self, source_key: str) -> list[str]:
        try:
            qs = ThumbnailRecord.objects.using(self.using).filter(source_key=source_key)
            return list(qs.order_by("key").values_list("key", flat=True))
        except DatabaseError as exc:
            raise store_error("Reading the source index", exc) from exc

    def iter_all(self) -> Iterator[Thumbnail]:
        qs = ThumbnailRecord.objects.using(self.using).order_by("key").values_list(*_COLUMNS)
        with _mapped("Listing thumbnail records"):
            for row in qs.iterator(chunk_size=2000):
                yield Thumbnail.from_row(row)

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` if the records just written are rolled back with the transaction
        (or savepoint) around them; nothing outside an atomic block, where they are committed.

        Django has no rollback hook, but it drops the ``on_commit`` callbacks of a rolled-back
        block uncalled (``savepoint_rollback`` filters them out, ``rollback`` and ``close``
        empty the list) and calls them at the outermost commit. The callback is a guard whose
        finalizer runs ``undo``: on CPython the moment its entry is dropped, elsewhere when
        the garbage collector gets to it (or at exit). A commit detaches the finalizer.
        """
        connection = connections[self.using]
        if connection.in_atomic_block:
            transaction.on_commit(_RollbackGuard(undo), using=self.using)

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        if connections[self.using].vendor == "postgresql":
            return self._advisory_lock(key)
        return self._table_lock(key, timeout)

    @contextmanager
    def _advisory_lock(self, key: str) -> Iterator[bool]:
        # Session-level, so it is visible to other connections at once and the server drops
        # it if this process dies; a transaction-level lock inside an atomic block, because
        # there the record stays invisible to others until commit, and so must the release.
        (number,) = struct.unpack(">q", bytes.fromhex(key[:16]))
        connection = connections[self.using]
        with _mapped("Taking a generation lock"):
            connection.ensure_connection()
            in_transaction = connection.in_atomic_block or not connection.get_autocommit()
            session = connection.connection
            held = _held.setdefault(session, set())
            won = number not in held and self._try_advisory(number, in_transaction)
        if not won:
            yield False
            return
        held.add(number)

        def release() -> None:
            held.discard(number)
            # A closed session took its lock with it: never reconnect just to unlock.
            if not in_transaction and connection.connection is session:
                with _mapped("Releasing a generation lock"), connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [number])

        with owners.released(release):
            yield True

    def _try_advisory(self, number: int, in_transaction: bool) -> bool:
        function = "pg_try_advisory_xact_lock" if in_transaction else "pg_try_advisory_lock"
        with connections[self.using].cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s)", [number])
            return bool(cursor.fetchone()[0])

    @contextmanager
    def _table_lock(self, key: str, timeout: float) -> Iterator[bool]:
        token, owner = secrets.token_hex(16), owners.me()
        with _mapped("Taking a generation lock"):
            try:
                won = self._acquire_row(key, token, owner, timeout)
            except OperationalError as exc:
                if not _is_contention(exc):
                    raise
                won = False  # another writer has the table right now: that is contention
        if not won:
            yield False
            return
        beating = owners.HEARTBEATS.add(functools.partial(self._refresh_row, key, token))

        def release() -> None:
            owners.HEARTBEATS.remove(beating)
            self._release_row(key, token)

        with owners.released(release):
            yield True

    def _refresh_row(self, key: str, token: str, now: float) -> None:
        # On the heartbeat thread, so on a connection of its own: closed again at once, so
        # no idle connection outlives the lock (or keeps a test database from being dropped).
        try:
            mine = GenerationLock.objects.using(self.using).filter(key=key, token=token)
            mine.update(heartbeat=now)
        finally:
            connections[self.using].close()

    def _release_row(self, key: str, token: str) -> None:
        # A release lost to a busy database would leave the lock to expire and stall every
        # waiter until then: retry it for a while.
        mine = GenerationLock.objects.using(self.using).filter(key=key, token=token)
        with _mapped("Releasing a generation lock"):
            for attempt in range(_RELEASE_ATTEMPTS):
                try:
                    mine.delete()
                    return
                except OperationalError as exc:
                    if not _is_contention(exc) or attempt == _RELEASE_ATTEMPTS - 1:
                        raise
                    time.sleep(0.02)

    def _acquire_row(self, key: str, token: str, owner: owners.Owner, timeout: float) -> bool:
        now = timezone.now()
        expires = now + timedelta(seconds=timeout)
        mine = {
            "token": token,
            "expires": expires,
            "host": owner.host[:255],
            "pid": owner.pid,
            "started": owner.start[:32],
            "heartbeat": time.time(),
        }
        rows = GenerationLock.objects.using(self.using)
        try:
            with transaction.atomic(using=self.using):
                rows.create(key=key, **mine)
            return True
        except IntegrityError:
            pass
        # Held: take it over only if its holder let it expire (crashed or hung), or is dead.
        # The update is conditional on the row found, so of several takers one wins.
        columns = ("token", "expires", "host", "pid", "started", "heartbeat")
        row = rows.filter(key=key).values_list(*columns).first()
        if row is None:
            return False  # released meanwhile: the caller's next attempt takes it
        held_token, held_expires, host, pid, started, beat = row
        if held_expires >= now and not owners.is_dead(owners.Owner(host, pid, started), beat):
            return False
        stolen = rows.filter(key=key, token=held_token, heartbeat=beat).update(**mine)
        return stolen == 1

"""The MetadataStore protocol that every store implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from ..thumbnail import Thumbnail


@runtime_checkable
class MetadataStore(Protocol):
    """What thumbkit needs from a metadata store.

    Every batch method is one round trip. ``set_many`` tolerates duplicates (the last write
    wins, nothing raises), and keeps the per-source index that ``source_keys`` reads.

    Example, a store that keeps records in a dict (good for a single-process test)::

        class DictStore:
            def __init__(self):
                self.records = {}
            def get_many(self, keys):
                return {k: self.records[k] for k in keys if k in self.records}
            def set_many(self, thumbnails):
                self.records.update((t.key, t) for t in thumbnails)
            def delete_many(self, keys):
                for k in keys:
                    self.records.pop(k, None)
            def get_sources(self, source_keys):
                found = {}
                for t in self.records.values():
                    if t.source_key in source_keys:
                        found.setdefault(t.source_key, {})[t.key] = t
                return found
            def source_keys(self, source_key):
                return sorted(self.get_sources([source_key]).get(source_key, {}))
            def lock(self, key, timeout):
                return contextlib.nullcontext()
            def iter_all(self):
                return iter(list(self.records.values()))
    """

    def get_many(self, keys: Sequence[str]) -> dict[str, Thumbnail]:
        """The records found among ``keys``, in one round trip."""

    def get_sources(self, source_keys: Sequence[str]) -> dict[str, dict[str, Thumbnail]]:
        """Every record of each source (by source key, then key), in one round trip.

        Sources with no records are left out. This is what page rendering uses: one call
        answers every spec of every source on the page.
        """

    def set_many(self, thumbnails: Sequence[Thumbnail]) -> None:
        """Insert or replace records and index them under their source."""

    def delete_many(self, keys: Iterable[str]) -> None:
        """Forget records (and their index entries). Unknown keys are ignored."""

    def source_keys(self, source_key: str) -> list[str]:
        """The keys of every thumbnail recorded for a source."""

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        """Try to take the generation lock for ``key``; the context value says if it was won.

        The lock expires after ``timeout`` seconds, so a killed holder never blocks forever
        (PostgreSQL advisory locks instead end with the holder's connection). It is not
        re-entrant: a second ``lock()`` on a held key is refused, even from the holder.
        The built-in stores also record the holder (``thumbkit.lookup.stores.locks``) and take a
        dead holder's lock over at once, instead of at expiry.

        A store whose writes are transactional may also offer ``on_rollback(undo)``: generation
        calls it after ``set_many`` with a callable that removes the files just written, to be
        called if those records are rolled back (the db store does this inside atomic blocks).
        """

    def iter_all(self) -> Iterator[Thumbnail]:
        """Every record, for maintenance commands (never on a request path)."""

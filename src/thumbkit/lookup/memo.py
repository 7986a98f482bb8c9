"""The per-object memo: what one file object already knows about its thumbnails.

A lookup on a FieldFile or File leaves one :class:`Memo` on that object, as the single
attribute ``ATTRIBUTE`` (see ``Source.memo()``), so a page that asks the same file again,
for any spec, pays nothing. Django's FieldFile pickles and copies only its own state, so a
pickled or copied model instance starts with no memo and reads the store again.

The source's version is kept here as read from its records; in the store it travels as a
pseudo-record (``batch.VERSION_SPEC``), which is stored data and not part of the memo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .source import Source
    from .thumbnail import Thumbnail

ATTRIBUTE = "_thumbkit_memo"  # the one attribute a memo takes on its file object


class Memo:
    """Resolved records of one file object.

    ``location`` is the source location (``Source.location``) whose every record
    ``records`` holds, or None while the memo holds only some (what was generated or
    failed here): only a complete memo answers a lookup with no I/O, and only for the file
    it was filled for. ``identity`` is that location with the version the records were
    read at (``Source.identity``), which thumbnail keys are made from: kept here so a warm
    lookup computes its key without building a Source. ``source`` is the ``Source`` last
    made from the object (``source.coerce``), reused while the object's name and storage
    are the ones it was made from.
    """

    __slots__ = ("identity", "location", "records", "source", "version")

    def __init__(self) -> None:
        self.location: str | None = None
        self.version = ""
        self.identity = ""
        self.records: dict[str, Thumbnail] = {}
        self.source: Source | None = None

    def fill(self, location: str, records: Mapping[str, Thumbnail], version: str) -> None:
        """Hold exactly ``records``, every record of the source at ``location``."""
        self.location = location
        self.version = version
        self.identity = f"{location}@{version}" if version else location
        self.records = dict(records)

    def add(self, records: Mapping[str, Thumbnail]) -> None:
        """Remember records made or learnt here (complete or not, the memo stays so)."""
        self.records.update(records)

    def clear(self) -> None:
        """Forget everything: the next lookup reads the store again."""
        self.location = None
        self.version = ""
        self.identity = ""
        self.records = {}

    def __repr__(self) -> str:
        state = f"complete for {self.location!r}" if self.location is not None else "partial"
        return f"<Memo {state}, {len(self.records)} records>"

"""The per-object memo: what one file object already knows about its thumbnails.

A lookup on a FieldFile or File leaves one :class:`Memo` on that object, as the single
attribute ``ATTRIBUTE`` (see ``Source.memo()``), so a page that asks the same file again,
for any spec, pays nothing. Django's FieldFile pickles and copies only its own state, so a
pickled or copied model instance starts with no memo and reads the store again.

The source's version is kept here as read from its records; in the store it travels as a
pseudo-record (``batch.VERSION_SPEC``), which is stored data and not part of the memo.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .source import Source
    from .thumbnail import Thumbnail

ATTRIBUTE = "_thumbkit_memo"  # the one attribute a memo takes on its file object


class Memo:
    """Resolved records of one file object, and answers to its repeated lookups.

    ``location`` is the source location (``Source.location``) whose every record
    ``records`` holds, or None while the memo holds only some (what was generated or
    failed here): only a complete memo answers a lookup with no I/O, and only for the file
    it was filled for. ``answers`` maps a repeated ``get_thumbnail`` call (file name, spec,
    options) to its stored thumbnail, so the call is answered before any parsing.
    ``source`` is the ``Source`` last made from the object (``source.coerce``), reused
    while the object's name and storage are the ones it was made from.
    """

    __slots__ = ("answers", "location", "records", "source", "version")

    def __init__(self) -> None:
        self.location: str | None = None
        self.version = ""
        self.records: dict[str, Thumbnail] = {}
        self.answers: dict[Hashable, Thumbnail] = {}
        self.source: Source | None = None

    def fill(self, location: str, records: Mapping[str, Thumbnail], version: str) -> None:
        """Hold exactly ``records``, every record of the source at ``location``."""
        self.location = location
        self.version = version
        self.records = dict(records)
        # Answers were found among the records this replaces. Cleared in place: a lookup
        # that fills the memo holds this dict to write its answer into afterwards.
        self.answers.clear()

    def add(self, records: Mapping[str, Thumbnail]) -> None:
        """Remember records made or learnt here (complete or not, the memo stays so)."""
        self.records.update(records)

    def clear(self) -> None:
        """Forget everything: the next lookup reads the store again."""
        self.location = None
        self.version = ""
        self.records = {}
        self.answers.clear()

    def __repr__(self) -> str:
        state = f"complete for {self.location!r}" if self.location is not None else "partial"
        return f"<Memo {state}, {len(self.records)} records, {len(self.answers)} answers>"

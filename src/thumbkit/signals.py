"""Signals thumbkit sends: hooks for metrics and logging, never control flow.

Every signal's sender is ``thumbkit.lookup.thumbnail.Thumbnail`` (the class). The ones on a
page's path (``thumbnail_hit``, ``store_read``) are sent only when something listens: the
sender tests ``signal.receivers`` first, so with no receiver a warm render builds no
arguments and reads no clock (``docs/metrics.md`` has the measurement).
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent after thumbnails of one source were generated and recorded.
# Arguments: source (thumbkit.lookup.source.Source), thumbnails (list of Thumbnail),
# seconds (float: reading the source, rendering, writing the files and the records),
# bytes (int: the sizes of the files written, added up).
thumbnails_generated = Signal()

# Sent after the thumbnails of a source were deleted. Arguments: source, keys (list of str).
thumbnails_deleted = Signal()

# Sent when a lookup is answered by a stored record (from the store or the memo of a read
# made earlier on the page), with no generation. Arguments: thumbnails (list of Thumbnail).
thumbnail_hit = Signal(use_caching=True)

# Sent when the store has no record for thumbnails a lookup asks for, before the strategy
# serves them. Arguments: source, keys (list of str), strategy (its name: "lazy", ...).
thumbnail_miss = Signal(use_caching=True)

# Sent when making thumbnails of a source failed (nothing is left behind). Arguments:
# source, specs (list of canonical spec texts), error (the thumbkit exception raised).
thumbnail_error = Signal(use_caching=True)

# Sent after each batch read of the metadata store (the one round trip of a page).
# Arguments: sources (int: source keys asked for), found (int: those with records),
# seconds (float), error (StoreUnavailable, or None when the read succeeded).
store_read = Signal(use_caching=True)

"""Signals thumbkit sends: hooks for metrics and logging, never control flow."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after thumbnails of one source were generated and recorded.
# Arguments: source (thumbkit.lookup.source.Source), thumbnails (list of Thumbnail).
thumbnails_generated = Signal()

# Sent after the thumbnails of a source were deleted. Arguments: source, keys (list of str).
thumbnails_deleted = Signal()

"""The list-page benchmark: one page of N profiles with two thumbnails each, per library."""

from __future__ import annotations

"""The generation benchmark: one big source to one thumbnail, per library, in fresh processes."""

from __future__ import annotations

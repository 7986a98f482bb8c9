"""thumbkit's benchmarks: run ``python benchmarks/run.py`` (or ``make bench``); see README.md."""

from __future__ import annotations

"""The lookup layer: sources, keys and names, records, metadata stores, strategies,
generation and the API.

It never imports the adapters; it asks them through ``thumbkit.lookup.hooks``.
"""

from __future__ import annotations

"""The pixel core: what a thumbnail looks like and how its pixels are made.

No Django model, ORM, form, template or request machinery (tests/test_layers.py).
"""

from __future__ import annotations

"""The Django adapters behind the contract modules: field machinery, template
tags, forms helpers, the on-demand view, checks and the bulk and repair jobs.
"""

from __future__ import annotations

"""The floor: Django's own ImageField, printing the source URL and its stored width/height.

No thumbnail at all; it is what the page costs with zero thumbnail work, so every other
configuration is reported as a ratio to it.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from .base import FLOOR_TEMPLATE, Library, floor_model


class Floor(Library):
    name = "floor"
    configs = {"plain": "models.ImageField, url + stored width/height columns"}
    templates = {"url": ""}

    def models(self) -> dict[str, type[models.Model]]:
        return {"Profile": floor_model()}

    def template_text(self, template: str) -> str:
        return FLOOR_TEMPLATE

    def warm(self, config: str, render: Any) -> None:
        pass  # nothing to make


LIBRARY = Floor()

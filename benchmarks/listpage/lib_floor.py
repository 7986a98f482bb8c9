"""The floor: Django's own ImageField, printing the source URL and its stored width/height.

No thumbnail at all; it is what the page costs with zero thumbnail work, so every other
configuration is reported as a ratio to it.
"""

from __future__ import annotations

from django.db import models

from .base import Library, image_field, img, profile_model

URL = img("{{ p.photo.url }}", "{{ p.photo_width }}", "{{ p.photo_height }}")


class Floor(Library):
    name = "floor"
    configs = {"plain": "models.ImageField, url + stored width/height columns"}
    templates = {"url": URL + URL}

    def models(self) -> dict[str, type[models.Model]]:
        return {"Profile": profile_model("Profile", __name__, image_field())}

    def warm(self, config: str, render: object) -> None:
        pass  # nothing to make


LIBRARY = Floor()

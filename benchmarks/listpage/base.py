"""What a library module provides to the list-page benchmark, and the shared page.

Every library renders the same page: ``Paginator(Profile.objects.order_by("pk"), rows)``,
page 1, and for each profile its name and two ``<img>`` tags (a 100x100 crop and a 250x250
centre crop) with ``src``, ``width`` and ``height``. Only the row markup and the settings
differ between libraries.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import models

from ..common import Env

PHOTO_SIZE = (800, 600)


def page_template(load: str | None, row: str) -> str:
    head = f"{{% load {load} %}}" if load else ""
    return head + "<ul>{% for p in page %}<li>{{ p.name }} " + row + "</li>{% endfor %}</ul>"


def img(url: str, width: str, height: str) -> str:
    """An ``<img>`` whose parts are template expressions (or literals)."""
    return f'<img src="{url}" width="{width}" height="{height}">'


def profile_model(
    class_name: str,
    module: str,
    photo: models.Field[Any, Any],
    mixins: tuple[type, ...] = (),
    **extra: Any,
) -> type[models.Model]:
    """A ``Profile``-like model: name, photo (the library's field), stored width and height;
    ``mixins`` add methods or properties (they come before ``models.Model``)."""
    attrs: dict[str, Any] = {
        "__module__": module,
        "name": models.CharField(max_length=100),
        "photo": photo,
        "photo_width": models.PositiveIntegerField(null=True),
        "photo_height": models.PositiveIntegerField(null=True),
        "Meta": type("Meta", (), {"app_label": "bench"}),
        **extra,
    }
    return type(class_name, (*mixins, models.Model), attrs)


def image_field(cls: type[models.ImageField] = models.ImageField, **kwargs: Any) -> Any:
    return cls(upload_to="photos", width_field="photo_width", height_field="photo_height", **kwargs)


_URL = img("{{ p.photo.url }}", "{{ p.photo_width }}", "{{ p.photo_height }}")
FLOOR_TEMPLATE = page_template(None, _URL + _URL)


@functools.cache
def floor_model() -> type[models.Model]:
    """The floor's model: Django's ImageField and nothing else. Every library's database has
    its table, so each warm process can time the floor next to the library (see worker)."""
    return profile_model("FloorProfile", __name__, image_field())


class Library:
    """One library under test. Subclasses fill in the class attributes and hooks.

    ``configs`` maps a configuration name to a description; ``templates`` maps a template
    name to its row markup; ``redis_configs`` names the configurations that need Redis.
    """

    name = ""
    thumbs = ""  # where the library writes thumbnails, under MEDIA_ROOT ("" for none)
    load: str | None = None
    configs: dict[str, str] = {}
    templates: dict[str, str] = {}
    redis_configs: frozenset[str] = frozenset()

    def settings(self, config: str, env: Env) -> dict[str, Any]:
        """Changes to ``common.base_settings`` for this configuration."""
        return {}

    def models(self) -> dict[str, type[models.Model]]:
        """Build the models (called once, after ``django.setup()``)."""
        raise NotImplementedError

    def model_for(self, config: str) -> str:
        return "Profile"

    def photo_dir(self, model: str) -> str:
        """The media directory the model's rows point at (sources are shared by libraries)."""
        return "photos"

    def templates_for(self, config: str) -> list[str]:
        return list(self.templates)

    def template_text(self, template: str) -> str:
        return page_template(self.load, self.templates[template])

    def warm(self, config: str, render: Any) -> None:
        """Make every thumbnail the measured pages show; ``render(template)`` renders the
        largest page."""
        for template in self.templates_for(config):
            render(template)

    def prepare(self, config: str) -> None:
        """Run in every measuring process before the first timed render (store warm-up)."""

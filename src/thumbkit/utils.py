"""Small helpers kept for imagekit users (``from thumbkit.utils import get_field_info``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model


def get_field_info(field_file: Any) -> tuple[Model, str]:
    """The model instance and field name a FieldFile belongs to, as imagekit's helper.

    For specs that change with their source's row::

        @property
        def processors(self):
            instance, field_name = get_field_info(self.source)
            return [ResizeToFill(instance.thumbnail_width, instance.thumbnail_height)]
    """
    instance = getattr(field_file, "instance", None)
    field = getattr(field_file, "field", None)
    if not isinstance(instance, Model) or field is None:
        raise TypeError(f"{field_file!r} is not a file of a model instance's field.")
    return instance, str(field.name)

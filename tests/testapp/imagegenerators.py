"""Generators of the test app: imported by thumbkit's autodiscovery, never by the tests."""

from __future__ import annotations

from typing import Any

from thumbkit import ImageSpec, register
from thumbkit.processors import ResizeToFill
from thumbkit.utils import get_field_info


class AvatarSmall(ImageSpec):
    processors = [ResizeToFill(40, 40)]
    format = "PNG"


class AvatarSized(ImageSpec):
    """imagekit's "specs that change": the row says how big its thumbnail is."""

    format = "JPEG"
    options = {"quality": 60}

    @property
    def processors(self) -> list[Any]:  # type: ignore[override]
        instance, _field_name = get_field_info(self.source)
        return [ResizeToFill(instance.thumbnail_width, instance.thumbnail_height)]


register.generator("testapp:ikprofile:avatar_small", AvatarSmall)
register.generator("testapp:avatar_sized", AvatarSized)

"""The focal-point form field and its widget: click the image to set the point.

``FocalPointField`` edits the column an ImageField keeps its focal point in
(``focal_point_field``); ``ThumbnailAdminMixin`` gives it to such columns in change forms.
Its widget shows the current image (a thumbnail that fits ``image_spec``, never cropped),
a marker on the point, and live previews of crops (a square and a wide one by default),
drawn by the browser with CSS ``object-position`` by the rule the server crops with
(``thumbkit.core.focal.window_start``). Clicking the image sets two hidden inputs
(``<name>_x``, ``<name>_y``); "Clear" removes the point. A box stored with the point is
kept in a third hidden input until a click sets a new point.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext_lazy as _

from ..core.focal import FocalPoint, to_focal
from ..exceptions import InvalidFocalPoint, SourceError
from ..lookup import api
from . import focal

logger = logging.getLogger("thumbkit")

TEMPLATE = "thumbkit/admin/focal_point.html"
# The crops previewed by default: a square and a wide one (CSS pixels).
PREVIEWS: tuple[tuple[int, int], ...] = ((100, 100), (200, 100))


class FocalPointWidget(forms.Widget):
    """Hidden ``x``/``y`` inputs, the clickable image and the crop previews.

    ``file`` is the image the point belongs to (set per form by :class:`FocalPointField`);
    without one (a new row) the widget says to save an image first.
    """

    template_name = TEMPLATE

    class Media:
        css = {"all": ["thumbkit/focal.css"]}
        js = ["thumbkit/focal.js"]

    def __init__(
        self,
        attrs: dict[str, Any] | None = None,
        image_spec: str = "360x360",
        previews: Sequence[tuple[int, int]] = PREVIEWS,
    ) -> None:
        super().__init__(attrs)
        self.image_spec = image_spec
        self.previews = [(int(w), int(h)) for w, h in previews]
        self.file: FieldFile | None = None

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        point = _point_or_none(value)
        box = ",".join(f"{n:g}" for n in point.box) if point and point.box else ""
        context["widget"].update(
            x="" if point is None else f"{point.x:g}",
            y="" if point is None else f"{point.y:g}",
            box=box,
            image=self.image(),
            has_file=bool(self.file),
            previews=[{"width": w, "height": h} for w, h in self.previews],
        )
        return context

    def image(self) -> Any:
        """The fit thumbnail shown to click on, or None (no file, or a broken one)."""
        if not self.file:
            return None
        try:
            return api.get_thumbnail(self.file, self.image_spec) or None
        except SourceError as exc:
            logger.warning("No focal point image of %r: %s", self.file, exc)
            return None

    def value_from_datadict(self, data: Any, files: Any, name: str) -> str:
        x, y = data.get(f"{name}_x", ""), data.get(f"{name}_y", "")
        if not x and not y:
            return ""
        box = data.get(f"{name}_box", "")
        return f"{x},{y},{box}" if box else f"{x},{y}"

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return f"{name}_x" not in data and f"{name}_y" not in data


class FocalPointField(forms.Field):
    """A focal point, cleaned to what its model column holds (``column``): a dict for a
    JSONField, ``"x,y"`` text otherwise, empty for none. ``image_field`` names the file
    field the point belongs to, shown by the widget."""

    widget = FocalPointWidget
    default_error_messages = {"invalid": _("Not a focal point: %(error)s")}

    def __init__(self, *, column: models.Field[Any, Any], image_field: str, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.column = column
        self.image_field = image_field

    def to_python(self, value: Any) -> FocalPoint | None:
        try:
            return to_focal(value)
        except InvalidFocalPoint as exc:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"error": exc}
            ) from None

    def clean(self, value: Any) -> Any:
        point = super().clean(value)
        return focal.stored(point, self.column)

    def prepare_value(self, value: Any) -> Any:
        return _point_or_none(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return _point_or_none(initial) != _point_or_none(data)

    def get_bound_field(self, form: forms.BaseForm, field_name: str) -> forms.BoundField:
        # The form's own copy of the widget learns which image the point belongs to.
        instance = getattr(form, "instance", None)
        if isinstance(self.widget, FocalPointWidget) and instance is not None:
            file = getattr(instance, self.image_field, None)
            self.widget.file = file if isinstance(file, FieldFile) else None
        return super().get_bound_field(form, field_name)


def _point_or_none(value: Any) -> FocalPoint | None:
    try:
        return to_focal(value)
    except InvalidFocalPoint:
        return None


def focal_columns(model: type[models.Model]) -> dict[str, str]:
    """``{column name: image field name}`` for the focal-point columns of ``model``."""
    found = {}
    for field in model._meta.get_fields():
        name = getattr(field, "focal_point_field", None)
        if isinstance(name, str) and name:
            found[name] = field.name
    return found


__all__ = ["FocalPointField", "FocalPointWidget", "focal_columns"]

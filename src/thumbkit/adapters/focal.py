"""Focal points kept on model rows: the column an ImageField reads, and ``set_focal_point``.

::

    class Photo(models.Model):
        image = ImageField(upload_to="photos", thumbnails={"square": "100x100 crop"},
                           focal_point_field="focus")
        focus = models.JSONField(null=True, blank=True)   # or a CharField holding "x,y"

    set_focal_point(photo.image, (0.9, 0.1))          # validated, stored, saved
    photo.image.thumbnails.square                      # now centred on (0.9, 0.1)

The column is part of the row, so reading the point costs no query (unless the column was
deferred: Django then loads it, one query per row, as for any deferred column). A JSONField
holds ``{"x": 0.9, "y": 0.1}`` (plus ``"box": [left, top, right, bottom]``), a CharField
or TextField the text ``"0.9,0.1"`` (six numbers with a box); either may also hold the
other form. A stored value that is not a point is logged once and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

from django.db import models
from django.db.models.fields.files import FieldFile

from ..core.focal import FocalPoint, to_focal
from ..exceptions import ConfigurationError, InvalidFocalPoint

logger = logging.getLogger("thumbkit")

# The column types a point is kept in.
COLUMN_TYPES = (models.JSONField, models.CharField, models.TextField)

# Bad stored values already logged, so a list page logs each once (bounded).
_warned: set[tuple[str, Any, str]] = set()
_WARNED_MAX = 1000


# Stored values already read, by value: a page asks each row's point once per crop it shows,
# and a dict lookup is several times cheaper than validating the value again (bounded).
_points: dict[Hashable, FocalPoint] = {}
_POINTS_MAX = 4096


def _slot(raw: Any) -> Hashable | None:
    """``raw`` as a cache key, or None. Types are part of it: ``True == 1``, yet True is
    not a number here."""
    if type(raw) is str:
        return raw
    if type(raw) is not dict:
        return None
    items = []
    for key, value in raw.items():
        if type(value) is list:
            value = tuple((type(v), v) for v in value)
        items.append((key, type(value), value))
    return tuple(items)


def read_point(instance: models.Model, attname: str) -> FocalPoint | None:
    """The point stored in ``attname`` of ``instance``, or None (none, or not a point)."""
    raw = getattr(instance, attname, None)
    if raw is None or raw == "" or raw == {}:
        return None
    slot = _slot(raw)
    try:
        found = _points.get(slot) if slot is not None else None
    except TypeError:  # an unhashable value inside: read it without the cache
        slot = found = None
    if found is not None:
        return found
    try:
        point = to_focal(raw)
    except InvalidFocalPoint as exc:
        seen = (instance._meta.label, instance.pk, repr(raw)[:200])
        if seen not in _warned:
            if len(_warned) >= _WARNED_MAX:
                _warned.clear()
            _warned.add(seen)
            logger.warning("Ignoring the focal point of %s %s: %s", *seen[:2], exc)
        return None
    if slot is not None and point is not None:
        if len(_points) >= _POINTS_MAX:
            _points.clear()
        _points[slot] = point
    return point


def stored(point: FocalPoint | None, column: models.Field[Any, Any]) -> Any:
    """What ``column`` holds for ``point``: a dict in a JSONField, text otherwise."""
    if point is None:
        if column.null:
            return None
        return {} if isinstance(column, models.JSONField) else ""
    if isinstance(column, models.JSONField):
        return point.as_dict()
    return point.text


def focal_column(field: Any) -> models.Field[Any, Any]:
    """The model field that keeps ``field``'s focal point; ConfigurationError if none."""
    name = getattr(field, "focal_point_field", None)
    if not name:
        raise ConfigurationError(
            f"{field} keeps no focal point: give it focal_point_field='<a JSONField or "
            "CharField of the model>'."
        )
    column = field.model._meta.get_field(name)
    if not isinstance(column, COLUMN_TYPES):
        raise ConfigurationError(
            f"focal_point_field={name!r} of {field} must name a JSONField, CharField or TextField."
        )
    return column


def set_focal_point(
    file: FieldFile, point: Any, box: Any = None, *, save: bool = True
) -> FocalPoint | None:
    """Give ``file``'s row a new focal point (None removes it); return the point stored.

    ``point`` is ``(x, y)``, ``"x,y"``, a mapping or a FocalPoint, with fractions from 0 to
    1; ``box`` is an optional ``(left, top, right, bottom)``. Raises InvalidFocalPoint
    (nothing changed) for anything else. With ``save`` (the default) a saved row is saved
    at once, only that column (``update_fields``). Crops made from now on follow the new
    point, under new names; thumbnails of the old point stay until their source goes.
    """
    column = focal_column(file.field)
    value = to_focal(point, box)
    instance = file.instance
    setattr(instance, column.attname, stored(value, column))
    if save and instance.pk is not None:
        instance.save(update_fields=[column.name])
    return value


__all__ = ["COLUMN_TYPES", "focal_column", "read_point", "set_focal_point", "stored"]

"""Django admin: a thumbnail column for changelists and image previews in change forms.

::

    from django.contrib import admin
    from thumbkit.admin import AdminThumbnail, ThumbnailAdminMixin

    @admin.register(Photo)
    class PhotoAdmin(ThumbnailAdminMixin, admin.ModelAdmin):
        list_display = ("__str__", "admin_thumbnail")
        admin_thumbnail = AdminThumbnail(image_field="image")

A changelist page costs one store round trip for all its thumbnails: rows loaded together
batch on their own, any file field (``thumbkit.adapters.peers``), and ``ThumbnailAdminMixin`` reads
the sources of every ``AdminThumbnail`` column of the page in one go, whatever their fields.
In change forms the mixin gives the column of an ``ImageField(focal_point_field=...)`` a
:class:`FocalPointWidget`: click the image to set its focal point, with live crop previews.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.admin.widgets import AdminFileWidget
from django.db import models
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .adapters.focalform import PREVIEWS, FocalPointField, FocalPointWidget, focal_columns
from .adapters.html import img_tag
from .exceptions import ConfigurationError, SourceError
from .lookup import api, batch, failures, resolver
from .lookup.source import Source, coerce
from .lookup.thumbnail import Placeholder, Thumbnail

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.contrib.admin.views.main import ChangeList
    from django.forms import Field as FormField

    _AdminBase = ModelAdmin[Any]
else:
    _AdminBase = object

logger = logging.getLogger("thumbkit")

THUMBNAIL_TEMPLATE = "thumbkit/admin/thumbnail.html"
PREVIEW_TEMPLATE = "thumbkit/admin/preview_file_input.html"

# What AdminThumbnail and the preview widget accept as ``spec``: a geometry string, a named
# spec, a thumbnail declared on the field, a registered generator id, a Spec, an ImageSpec
# class or instance.
SpecLike = Any


class AdminThumbnail:
    """A ``list_display`` column (or ``readonly_fields`` entry) showing a linked thumbnail.

    ``image_field`` names the model attribute to show: a file field (thumbkit's or Django's
    ImageField), whose thumbnail for ``spec`` is shown (``default_spec`` when ``spec`` is
    None), or an attribute that already is a thumbnail (an ``ImageSpecField``), shown as it
    is. It may also be a callable taking the object and returning either. ``template``
    replaces ``thumbkit/admin/thumbnail.html``; it gets ``model``, ``thumbnail``,
    ``original_image``, ``original_url`` and ``img`` (the rendered ``<img>``).

    A missing or broken source renders an empty cell (and is logged), never an error page;
    once its failure is remembered (``THUMBKIT["FAILURE_TTL"]``), the cell shows the error
    instead: ``<span class="thumbkit-admin-failure" title="...">SourceUnreadable: ...</span>``.
    """

    short_description: Any = _("Thumbnail")
    default_spec: SpecLike = "100x100"
    empty_value_display = ""

    def __init__(
        self,
        image_field: str | Any = "thumbnail",
        spec: SpecLike = None,
        template: str | None = None,
        short_description: Any = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        self.image_field = image_field
        self.spec = spec
        self.template = template
        if short_description is not None:
            self.short_description = short_description
        self.attrs = dict(attrs or {})

    def __call__(self, obj: Any) -> SafeString:
        try:
            # Reading the attribute may make the thumbnail already (an ImageSpecField, a
            # callable), so a broken source can surface here too.
            value = self.value(obj)
            thumb = self.thumbnail(value)
        except SourceError as exc:
            source = getattr(self.source_file(obj), "name", "?")
            logger.log(
                logging.DEBUG if failures.remembered(exc) else logging.WARNING,
                "No admin thumbnail for %r (%s, source %r): %s",
                obj,
                self.label,
                source,
                exc,
            )
            return failure_text(exc)
        if not thumb or not getattr(thumb, "url", ""):
            return SafeString("")
        original = self.original(obj, value)
        attrs = {"alt": str(self.short_description), "class": "thumbkit-admin-thumbnail"}
        context = {
            "model": obj,
            "thumbnail": thumb,
            "original_image": original,
            "original_url": _url(original),
            "img": _img(thumb, {**attrs, **self.attrs}),
        }
        html = render_to_string(self.template or THUMBNAIL_TEMPLATE, context).strip()
        return mark_safe(html)  # a template's output: the engine escaped what it rendered

    @property
    def label(self) -> str:
        return str(getattr(self.image_field, "__name__", self.image_field))

    def value(self, obj: Any) -> Any:
        """What ``image_field`` names on ``obj`` (or returns for it)."""
        if callable(self.image_field):
            return self.image_field(obj)
        try:
            return getattr(obj, self.image_field)
        except AttributeError:
            raise ConfigurationError(
                f"AdminThumbnail(image_field={self.image_field!r}): "
                f"{type(obj).__name__} has no attribute {self.image_field!r}."
            ) from None

    def thumbnail(self, value: Any) -> Any:
        """The thumbnail to show for ``value``, or None when there is nothing to show."""
        if not value:
            return None  # an empty file field, a placeholder, nothing at all
        if isinstance(value, FieldFile):
            return thumbnail_of(value, self.spec if self.spec is not None else self.default_spec)
        if hasattr(value, "url"):
            return value  # already a thumbnail (Thumbnail, an ImageSpecField's value)
        raise ConfigurationError(
            f"AdminThumbnail(image_field={self.image_field!r}) gave {value!r}: "
            "expected a file field's file or a thumbnail."
        )

    def original(self, obj: Any, value: Any) -> Any:
        """What the thumbnail links to: the source image (imagekit's ``original_image``)."""
        if isinstance(value, FieldFile):
            return value
        for name in ("source_file", "source"):
            found = getattr(value, name, None)
            if isinstance(found, FieldFile):
                return found
        return self.source_file(obj) or value

    def source_file(self, obj: Any) -> FieldFile | None:
        """The source file of this column for ``obj``, read without any I/O (None: unknown).

        A file field is its own source; an attribute declared by a descriptor with a
        ``source`` (an ``ImageSpecField``) has the file field it names. Callables are not
        called: what they return is only known by calling them.
        """
        if callable(self.image_field):
            return None
        name = _source_name(type(obj), self.image_field) or self.image_field
        if name not in _file_fields(type(obj)):
            return None
        file = getattr(obj, name)
        return file if isinstance(file, FieldFile) and file else None


def failure_text(exc: SourceError) -> SafeString:
    """A remembered failure as text for an admin cell (the error class and the message,
    shortened; in full as its title); "" for an error raised afresh, which is only logged."""
    failure = failures.remembered(exc)
    if failure is None:
        return SafeString("")
    short = failure.message if len(failure.message) <= 80 else f"{failure.message[:79]}…"
    return format_html(
        '<span class="thumbkit-admin-failure" title="{}">{}: {}</span>',
        failure.message,
        failure.error,
        short,
    )


def thumbnail_of(file: FieldFile, spec: SpecLike) -> Thumbnail | Placeholder:
    """``file``'s thumbnail for a spec in any form ``AdminThumbnail`` accepts, resolved as
    everywhere else (``thumbkit.lookup.resolver``: declared on the field, SPECS, generator id)."""
    return api.get_thumbnail(file, resolver.resolve(spec, file))


def _img(thumb: Any, attrs: Mapping[str, Any]) -> SafeString:
    if not isinstance(thumb, Thumbnail | Placeholder):
        # A thumbnail-like object of another kind: only its URL and size are needed.
        width, height = getattr(thumb, "width", None), getattr(thumb, "height", None)
        thumb = Placeholder(str(thumb.url), _int(width), _int(height))
    return img_tag(thumb, attrs)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _url(file: Any) -> str:
    try:
        return str(file.url) if file else ""
    except ValueError:  # a FieldFile without a file has no URL
        return ""


def _file_fields(model: type[models.Model]) -> set[str]:
    return {f.name for f in model._meta.concrete_fields if isinstance(f, models.FileField)}


def _source_name(model: type[Any], name: str) -> str | None:
    """The file field a virtual attribute (an ``ImageSpecField``) is made from, if any."""
    candidates = [getattr(model, name, None)]
    candidates.append(getattr(candidates[0], "field", None))
    with contextlib.suppress(Exception):  # not a model field (an attribute, a descriptor)
        candidates.append(model._meta.get_field(name))
    for item in candidates:
        for attr in ("source", "source_field_name", "source_field"):
            found = getattr(item, attr, None)
            if isinstance(found, str) and found:
                return found
    return None


# -- batching ---------------------------------------------------------------------------


def thumbnail_columns(model_admin: Any, list_display: Iterable[Any]) -> list[AdminThumbnail]:
    """The ``AdminThumbnail`` columns among ``list_display`` (names or the objects)."""
    found = []
    for item in list_display:
        column = getattr(model_admin, item, None) if isinstance(item, str) else item
        if isinstance(column, AdminThumbnail):
            found.append(column)
    return found


def prefetch_rows(rows: Sequence[Any], columns: Sequence[AdminThumbnail]) -> None:
    """Read the records of every source the columns show for ``rows``: one round trip.

    Thumbnails are not made here: a missing one is made when its cell is rendered.
    """
    sources: list[Source] = []
    for column in columns:
        for obj in rows:
            file = column.source_file(obj)
            if file:
                sources.append(coerce(file))
    if sources:
        batch.load_records(sources, peers=False)


def prefetch_changelist(cl: ChangeList) -> None:
    """Prefetch the thumbnails of a changelist page (its ``result_list`` is read once)."""
    columns = thumbnail_columns(cl.model_admin, cl.list_display)
    if columns:
        prefetch_rows(list(cl.result_list), columns)


# -- change form ------------------------------------------------------------------------


class AdminImagePreviewWidget(AdminFileWidget):
    """The admin's file input, with a linked preview of the current image above it."""

    template_name = PREVIEW_TEMPLATE

    def __init__(self, attrs: dict[str, Any] | None = None, spec: SpecLike = "200x200") -> None:
        super().__init__(attrs)
        self.spec = spec

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["preview"] = self.preview(value)
        return context

    def preview(self, value: Any) -> SafeString:
        """The ``<img>`` of the current file's preview, or "" (no file, broken file)."""
        if not isinstance(value, FieldFile) or not self.is_initial(value):
            return SafeString("")
        try:
            thumb = thumbnail_of(value, self.spec)
        except SourceError as exc:
            logger.warning("No admin preview of %r: %s", value, exc)
            return failure_text(exc)
        return _img(thumb, {"alt": str(_("Current image")), "class": "thumbkit-admin-preview"})


class ThumbnailAdminMixin(_AdminBase):
    """For ``ModelAdmin``: image previews in change forms, batched thumbnail columns.

    Every image field (thumbkit's or Django's) that would get the admin's file widget gets
    :class:`AdminImagePreviewWidget` with ``thumbnail_preview_spec``; a widget chosen in
    ``formfield_overrides`` or ``formfield_for_dbfield`` is kept. The focal-point column of
    a thumbkit ``ImageField`` (``focal_point_field``) gets a :class:`FocalPointField`, whose
    widget previews the crops ``focal_point_previews`` (``(width, height)`` pairs).
    Changelist pages read the records of every ``AdminThumbnail`` column in one store
    round trip.
    """

    thumbnail_preview_spec: SpecLike = "200x200"
    focal_point_previews: Sequence[tuple[int, int]] = PREVIEWS

    def formfield_for_dbfield(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> FormField | None:
        image_field = focal_columns(self.model).get(db_field.name)
        if image_field is not None:
            return FocalPointField(
                column=db_field,
                image_field=image_field,
                label=capfirst(db_field.verbose_name),
                help_text=db_field.help_text,
                widget=FocalPointWidget(previews=self.focal_point_previews),
            )
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if (
            isinstance(db_field, models.ImageField)
            and formfield is not None
            and type(formfield.widget) is AdminFileWidget
        ):
            formfield.widget = AdminImagePreviewWidget(
                attrs=formfield.widget.attrs, spec=self.thumbnail_preview_spec
            )
        return formfield

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        # A page to render (not a redirect after an action): its rows are loaded by now and
        # the template is not rendered yet.
        context = getattr(response, "context_data", None) or {}
        cl = context.get("cl")
        if cl is not None:
            prefetch_changelist(cl)
        return response


__all__ = [
    "AdminImagePreviewWidget",
    "AdminThumbnail",
    "FocalPointField",
    "FocalPointWidget",
    "ThumbnailAdminMixin",
    "prefetch_changelist",
    "prefetch_rows",
    "thumbnail_columns",
]

"""Model fields: ``ImageField`` with declared thumbnails, batched and kept in step with its file.

::

    class Profile(models.Model):
        photo = ImageField(upload_to="photos", thumbnails={"small": "100x100 crop", "card": "card"},
                           manifest_field="photo_thumbs")
        photo_thumbs = models.JSONField(default=dict, blank=True, editable=False)

    profile.photo.thumbnails.small.url      # or ["small"], .all(), .items(), "small" in ...

``focal_point_field="focus"`` names a column of the model (a JSONField or CharField) that
holds the photo's focal point: every centre crop of it follows the point (see
``thumbkit.adapters.focal``).

Declared thumbnails are made after the transaction that saved a new file commits (in the
request, or by a Django task when ``THUMBKIT["UPLOAD"]`` is ``"task"``). Replacing, clearing
or deleting the file removes its thumbnails and records after commit. Thumbnails of
instances loaded together resolve in one store round trip (see ``thumbkit.adapters.peers``), and in
none when the field keeps a manifest column on its own row.
"""

from __future__ import annotations

import logging
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from typing import TYPE_CHECKING, Any, Self, overload

from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.fields.files import ImageFieldFile, ImageFileDescriptor
from django.db.models.signals import post_delete, post_init, post_save, pre_delete

from .adapters import focal, lifecycle, peers
from .adapters.checks import step_extras
from .adapters.specfields import app_missing
from .core.focal import FocalPoint
from .core.spec import Spec
from .exceptions import ConfigurationError, InvalidSpec, did_you_mean
from .forms import limits_formfield
from .lookup import api, resolver
from .lookup.source import coerce
from .validators import ImageLimitsValidator, limits_validator, with_limits

logger = logging.getLogger("thumbkit")

Declared = Mapping[str, Any]  # name -> geometry string, named spec, or dict of options


# A declared value as a spec (resolved without a source: "card" means SPECS["card"]).
parse_declared = resolver.declared


# Names a declared thumbnail cannot take: attribute access would give the mapping's method.
RESERVED = frozenset(name for name in dir(Mapping) if not name.startswith("_")) | {"all"}


class Thumbnails(Mapping[str, api.Result]):
    """``photo.thumbnails``: the declared thumbnails by name, in declaration order."""

    def __init__(self, file: ThumbkitFieldFile) -> None:
        self._file = file

    def __getitem__(self, name: str) -> api.Result:
        field = self._file.field
        if name not in field.thumbnails:
            raise KeyError(self._unknown(name))
        # The resolver's first step gives the declared spec; get_thumbnail batches the row's
        # peers (batch.load_records) on the first lookup.
        return api.get_thumbnail(self._file, name)

    def __getattr__(self, name: str) -> api.Result:
        # Templates reach here too: ``{{ p.photo.thumbnails.smal.url }}`` asks ["smal"] first,
        # then this. A typo is a programming error: under DEBUG it raises InvalidSpec, which
        # Django's template engine lets through; otherwise it is logged once and the
        # AttributeError renders as empty, as Django does for any unknown attribute.
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._file.field.thumbnails:
            return self[name]
        message = self._unknown(name)
        if django_settings.DEBUG:
            raise InvalidSpec(message)
        _warn_once(self._file.field, name, message)
        raise AttributeError(message)

    def _unknown(self, name: str) -> str:
        names = self._file.field.thumbnails
        hint = did_you_mean(name, names)
        declared = ", ".join(names) or "none"
        return f"{self._file.field} declares no thumbnail {name!r}; declared: {declared}.{hint}"

    def __iter__(self) -> Iterator[str]:
        return iter(self._file.field.thumbnails)

    def __len__(self) -> int:
        return len(self._file.field.thumbnails)

    def __contains__(self, name: object) -> bool:
        return name in self._file.field.thumbnails

    def all(self) -> list[api.Result]:
        """Every declared thumbnail, in declaration order; missing ones are made together."""
        src = coerce(self._file)
        specs = self._file.field.declared_specs(self._file)
        return api.resolve([(src, spec) for spec in specs])

    def items(self) -> ItemsView[str, api.Result]:
        self.all()  # resolve (and make) them in one go; the view then reads the memo
        return super().items()

    def values(self) -> ValuesView[api.Result]:
        self.all()
        return super().values()

    def __repr__(self) -> str:
        return f"<Thumbnails of {self._file.name!r}: {', '.join(self)}>"


_warned: set[tuple[int, str]] = set()  # (id of the field, name) already logged


def _warn_once(field: ImageField, name: str, message: str) -> None:
    if (id(field), name) in _warned:
        return
    _warned.add((id(field), name))
    logger.warning("%s Templates render it as empty.", message)


class ThumbkitFieldFile(ImageFieldFile):
    field: ImageField

    def save(self, name: str, content: Any, save: bool = True) -> None:
        # A file written through the field is a new source even under its old name (a
        # storage that overwrites): the row's next save must give it new thumbnails. The
        # mark goes on the instance, because Django replaces this object when it assigns
        # the new name.
        lifecycle.mark_written(self.instance, self.field.attname)
        lifecycle.measure_upload(self.instance, self.field, content)  # for the manifest
        self.__dict__.pop(lifecycle.MEMO, None)
        super().save(name, content, save)

    @property
    def thumbnails(self) -> Thumbnails:
        return Thumbnails(self)

    @property
    def focal_point(self) -> FocalPoint | None:
        """The focal point the row keeps for this file (``focal_point_field``), or None."""
        return self.field.focal_point_of(self)


class ImageField(models.ImageField):
    """Django's ImageField, plus declared thumbnails, lifecycle and batching."""

    attr_class = ThumbkitFieldFile

    def __init__(
        self,
        *args: Any,
        thumbnails: Declared | None = None,
        manifest_field: str | None = None,
        generate_on_save: bool = True,
        validate_limits: bool | ImageLimitsValidator = True,
        focal_point_field: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.thumbnails: dict[str, Any] = dict(thumbnails or {})
        self.manifest_field = manifest_field
        self.focal_point_field = focal_point_field
        self.generate_on_save = generate_on_save
        self.limits_validator = limits_validator(validate_limits)
        super().__init__(*args, **kwargs)
        # A default validator, so model validation (full_clean, model forms) checks LIMITS
        # and migrations do not see it (deconstruct() leaves default validators out).
        self.default_validators = with_limits(self.default_validators, self.limits_validator)

    if TYPE_CHECKING:  # so type checkers know ``instance.photo.thumbnails``
        # django-stubs overrides __get__ the same way on each file field class.
        @overload  # type: ignore[override]
        def __get__(self, instance: None, owner: Any) -> ImageFileDescriptor: ...
        @overload
        def __get__(self, instance: models.Model, owner: Any) -> ThumbkitFieldFile: ...
        @overload
        def __get__(self, instance: Any, owner: Any) -> Self: ...
        def __get__(self, instance: Any, owner: Any) -> Any: ...

    def declared_spec(self, name: str) -> Spec:
        """The spec of the declared thumbnail ``name`` (``thumbkit.lookup.resolver.field_spec``)."""
        return resolver.field_spec(self, name)

    def declared_specs(self, file: Any = None) -> list[Spec]:
        """Every declared thumbnail's spec; for ``file``, following its focal point."""
        specs = [self.declared_spec(name) for name in self.thumbnails]
        return specs if file is None else [resolver.for_source(s, file) for s in specs]

    def focal_point_of(self, file: Any) -> FocalPoint | None:
        """The focal point of ``file``'s row (``focal_point_field``), None without one.

        Asked by ``thumbkit.lookup.resolver`` for every centre crop of a file of this field.
        """
        if self.focal_point_field is None:
            return None
        instance = getattr(file, "instance", None)
        if instance is None:
            return None
        return focal.read_point(instance, self.focal_point_field)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        # Thumbnails and the manifest do not change the column, so migrations ignore them.
        return name, "django.db.models.ImageField", args, kwargs

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**limits_formfield(kwargs, self.limits_validator))

    # django-stubs types this hook differently on Field and FileField; FileField's is right.
    def contribute_to_class(  # type: ignore[override]
        self, cls: type[models.Model], name: str, **kwargs: Any
    ) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        if cls._meta.abstract:
            return
        # One set of receivers per model (each handles every thumbkit field of its model), so
        # a second thumbkit field does not run them twice.
        uid = f"thumbkit:{cls._meta.label}"
        post_init.connect(lifecycle.initialised, sender=cls, dispatch_uid=f"{uid}:init", weak=False)
        post_save.connect(lifecycle.saved, sender=cls, dispatch_uid=f"{uid}:save", weak=False)
        pre_delete.connect(lifecycle.deleting, sender=cls, dispatch_uid=f"{uid}:pre", weak=False)
        post_delete.connect(lifecycle.deleted, sender=cls, dispatch_uid=f"{uid}:del", weak=False)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # Before Django writes the file or the row: without the app the thumbnails could
        # not be recorded, and the first save would fail after both were written.
        resolver.require_app()
        file = getattr(model_instance, self.attname)
        fresh = bool(file) and not file._committed
        result = super().pre_save(model_instance, add)  # writes an uncommitted file
        written = lifecycle.take_written(model_instance, self.attname)
        lifecycle.note_save(model_instance, self, bool(result) and (fresh or written))
        return result

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        missing = app_missing(self)
        if missing:  # the thumbnails cannot be checked without the app's settings
            return [*super().check(**kwargs), *missing]
        return [
            *super().check(**kwargs),
            *self._check_manifest(),
            *self._check_focal(),
            *self._check_thumbnails(),
        ]

    def _check_focal(self) -> list[checks.CheckMessage]:
        if self.focal_point_field is None:
            return []
        try:
            focal.focal_column(self)
        except (FieldDoesNotExist, ConfigurationError) as exc:
            return [
                checks.Error(
                    f"focal_point_field={self.focal_point_field!r} must name a JSONField, "
                    f"CharField or TextField of {self.model._meta.label} ({exc}).",
                    hint=f"Add {self.focal_point_field} = models.JSONField(null=True, blank=True).",
                    obj=self,
                    id="thumbkit.E020",
                )
            ]
        return []

    def _check_thumbnails(self) -> list[checks.CheckMessage]:
        errors: list[checks.CheckMessage] = []
        for name in self.thumbnails:
            problem = _name_problem(name)
            if problem is None:
                try:
                    spec = parse_declared(self.thumbnails[name])
                except InvalidSpec as exc:
                    problem = str(exc)
                else:
                    errors += step_extras(spec, f"Thumbnail {name!r}", obj=self)
            if problem is not None:
                errors.append(
                    checks.Error(f"Thumbnail {name!r}: {problem}", obj=self, id="thumbkit.E010")
                )
        return errors

    def _check_manifest(self) -> list[checks.CheckMessage]:
        if self.manifest_field is None:
            return []
        try:
            target = self.model._meta.get_field(self.manifest_field)
        except Exception:
            target = None
        if isinstance(target, models.JSONField):
            return []
        return [
            checks.Error(
                f"manifest_field={self.manifest_field!r} must name a JSONField of "
                f"{self.model._meta.label}.",
                hint=f"Add {self.manifest_field} = models.JSONField(default=dict, blank=True, "
                "editable=False).",
                obj=self,
                id="thumbkit.E011",
            )
        ]


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name or name.startswith("_"):
        return "a declared thumbnail's name is a non-empty string not starting with '_'."
    if name in RESERVED:
        return f"the name hides the method photo.thumbnails.{name}(); choose another name."
    return None


peers.add_image_field_class(ImageField)  # so peers and lifecycle know it without importing it
thumbkit_fields = peers.thumbkit_fields
source_fields = peers.source_fields


# imagekit's field names live in their own module; importable from here as the contract says.
from .adapters.specfields import ImageSpecField, ProcessedImageField  # noqa: E402

__all__ = [
    "ImageField",
    "ImageSpecField",
    "ProcessedImageField",
    "ThumbkitFieldFile",
    "Thumbnails",
    "source_fields",
    "thumbkit_fields",
]

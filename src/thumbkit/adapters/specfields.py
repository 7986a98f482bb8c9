"""imagekit's model fields on thumbkit: ``ImageSpecField`` (virtual) and ``ProcessedImageField``.

::

    class Profile(models.Model):
        avatar = models.ImageField(upload_to="avatars")
        avatar_thumbnail = ImageSpecField(source="avatar", processors=[ResizeToFill(100, 50)],
                                          format="JPEG", options={"quality": 60})
        avatar_small = ImageSpecField(source="avatar", id="myapp:profile:avatar_small")
        banner = ProcessedImageField(upload_to="banners", processors=[ResizeToFit(1600, 600)])

An ImageSpecField adds no column: ``profile.avatar_thumbnail`` is the thumbnail its generator
makes from ``profile.avatar`` (a :class:`~thumbkit.lookup.thumbnail.Thumbnail`, or a falsy
placeholder when the source is empty or the strategy has not made it yet). Rows loaded
together resolve their spec fields in one store round trip, whatever the source field's
class. When the source file changes and the row is saved, the field's strategy gets its
chance (optimistic: made after commit; deferred: enqueued), and the old file's thumbnails
go. Each field registers its generator id and an :class:`ImageFieldSourceGroup` for the
``generateimages`` command.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from django.apps import apps
from django.core import checks
from django.core.files import File
from django.db import models
from django.db.models.fields.files import FieldFile, ImageFieldFile
from django.db.models.signals import (
    class_prepared,
    post_delete,
    post_init,
    post_save,
    pre_delete,
    pre_save,
)

from ..conf import get_settings
from ..core.spec import Spec
from ..exceptions import ConfigurationError
from ..forms import limits_formfield
from ..lookup import api, refs, resolver
from ..lookup.generators import GeneratedImage, ImageSpec
from ..lookup.keys import renamed as renamed  # kept importable from here
from ..lookup.registry import AlreadyRegistered, register
from ..lookup.thumbnail import Placeholder, Thumbnail
from ..validators import ImageLimitsValidator, limits_validator, with_limits
from . import lifecycle, peers

# imagekit's strategy classes, for ``cachefile_strategy="imagekit...."`` in moved code.
IMAGEKIT_STRATEGIES = {
    "imagekit.cachefiles.strategies.JustInTime": "lazy",
    "imagekit.cachefiles.strategies.Optimistic": "optimistic",
}
# What saving a new source file does for a spec field, by strategy.
SAVE_MODES = {"optimistic": "generate", "deferred": "enqueue"}
# The answer for an empty source field: falsy, no URL, no error (templates use {% if %}).
EMPTY = Placeholder("")
CHUNK = 2000  # rows per query when a source group walks a table


class ImageSpecField:
    """A virtual field: the image a generator makes from another file field of the row.

    ``ImageSpecField(source="avatar", processors=[...], format="JPEG", options={...})``
    registers a generator under ``id`` (default ``"<app_label>:<model>:<field>"``);
    ``ImageSpecField(source="avatar", id="myapp:spec")`` uses one registered elsewhere;
    ``spec=MySpec`` registers that ImageSpec class. ``strategy``, ``storage`` and ``namer``
    override the generator's. ``autoconvert`` is accepted for imagekit's sake: thumbkit
    always converts the image to what the output format can hold.
    """

    def __init__(
        self,
        processors: Any = None,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
        source: str | None = None,
        cachefile_storage: Any = None,
        autoconvert: bool | None = None,
        cachefile_backend: Any = None,
        cachefile_strategy: Any = None,
        spec: type[ImageSpec] | None = None,
        id: str | None = None,
        *,
        post_processors: Any = None,
        strategy: str | None = None,
        storage: str | None = None,
        namer: str | None = None,
    ) -> None:
        if cachefile_backend is not None:
            raise ConfigurationError(
                "ImageSpecField(cachefile_backend=...) has no thumbkit equivalent; use "
                'strategy="deferred" for background generation.'
            )
        self._attrs = spec_attrs(
            "ImageSpecField", spec, processors, format, options, post_processors
        )
        self._spec_class = spec
        self._overrides = {
            k: v
            for k, v in {
                "strategy": strategy or _strategy_name(cachefile_strategy),
                "storage": storage or _text(cachefile_storage, "cachefile_storage"),
                "namer": namer,
            }.items()
            if v is not None
        }
        self.autoconvert = autoconvert
        self.source = source
        self.spec_id: str = id or ""
        self.name = ""
        self.model: type[models.Model] | None = None
        self._derived: tuple[Any, Any] | None = None
        self._refd: tuple[Spec, Spec] | None = None

    def __repr__(self) -> str:
        where = f"{self.model._meta.label}.{self.name}" if self.model else "unbound"
        return f"<ImageSpecField {where} id={self.spec_id!r}>"

    # -- the model side -------------------------------------------------------------------

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        self.name, self.model = name, cls
        if not self.spec_id:
            self.spec_id = f"{cls._meta.app_label}:{cls._meta.object_name}:{name}".lower()
        generator = self._spec_class or (
            _spec_class(cls, name, self._attrs) if self._attrs else None
        )
        if generator is not None:
            # As imagekit: a generator registered under this id elsewhere wins.
            with contextlib.suppress(AlreadyRegistered):
                register.generator(self.spec_id, generator)
        setattr(cls, name, SpecDescriptor(self))
        peers.add_spec_field(cls, self)
        if self.source:
            self._bind(cls)
        else:  # imagekit: the model's only ImageField, known once the model is complete
            class_prepared.connect(self._infer_source, sender=cls, weak=False)

    def _infer_source(self, sender: type[models.Model], **kwargs: Any) -> None:
        found = [f.name for f in sender._meta.fields if isinstance(f, models.ImageField)]
        if len(found) != 1:
            raise ConfigurationError(
                f"{sender._meta.label}.{self.name}: ImageSpecField needs source= "
                f"(the model has {len(found)} ImageFields)."
            )
        self.source = found[0]
        self._bind(sender)

    def _bind(self, cls: type[models.Model]) -> None:
        assert self.source is not None
        register.source_group(self.spec_id, ImageFieldSourceGroup(cls, self.source))
        if cls._meta.abstract:
            class_prepared.connect(self._on_subclass, weak=False, dispatch_uid=f"{id(self)}")
            return
        peers.add_spec_source(cls, self.source)
        connect_receivers(cls)

    def _on_subclass(self, sender: type[models.Model], **kwargs: Any) -> None:
        # Django sends no signals for abstract models: connect each concrete subclass.
        assert self.model is not None
        assert self.source is not None
        if issubclass(sender, self.model) and not sender._meta.abstract:
            peers.add_spec_source(sender, self.source)
            connect_receivers(sender)

    # -- the generator --------------------------------------------------------------------

    def generator_class(self) -> Any:
        """The registered generator, with this field's strategy/storage/namer applied.

        Looked up on use (not at class creation), so a generator registered later (an
        ``imagegenerators`` module, an override of an app's id) is the one used.
        """
        base = register.get(self.spec_id)
        if not self._overrides or not isinstance(base, type):
            return base
        if self._derived is None or self._derived[0] is not base:
            derived = type(base.__name__, (base,), dict(self._overrides))
            derived.__qualname__ = f"{base.__qualname__}[{self.spec_id}]"
            self._derived = (base, derived)
        return self._derived[1]

    def generator(self, source: Any) -> Any:
        cls = self.generator_class()
        if isinstance(cls, type):
            return cls(source=source)
        return cls(source=source, **self._overrides)

    def spec_for(self, source: Any) -> Spec:
        """The generator's spec for ``source``, referenced by generator id (so the deferred
        and on-demand strategies can rebuild it in another process)."""
        spec = resolver.of_generator(self.generator(source))
        cached = self._refd
        if cached is not None and cached[0] is spec:
            return cached[1]
        ref = refs.generator_ref(self.spec_id, self._overrides)
        refd = refs.with_ref(spec, ref)
        self._refd = (spec, refd)
        return refd

    def get(self, instance: models.Model) -> Thumbnail | Placeholder:
        """The thumbnail of ``instance``'s source (batched with the row's peers)."""
        assert self.source is not None
        file = getattr(instance, self.source)
        if not file:
            return EMPTY
        result: Thumbnail | Placeholder = api.get_thumbnail(file, self.spec_for(file))
        return result

    def save_mode(self) -> str | None:
        """ "generate", "enqueue" or None: what a saved new source file means for this field."""
        cls = self.generator_class()
        name = self._overrides.get("strategy") or _static_text(cls, "strategy")
        name = name or _strategy_name(_static_text(cls, "cachefile_strategy"))
        return SAVE_MODES.get(name or get_settings().strategy)


class SpecDescriptor:
    """``instance.<field>``: the thumbnail; on the class, the ImageSpecField itself."""

    def __init__(self, field: ImageSpecField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: Any) -> Any:
        if instance is None:
            return self.field
        return self.field.get(instance)

    def __set__(self, instance: models.Model, value: Any) -> None:
        raise AttributeError(
            f"{self.field!r} is computed from {self.field.source!r}; assign that field instead."
        )


class ImageFieldSourceGroup:
    """imagekit's source group: one file field over every row of a model (for the
    ``generateimages`` command). ``files()`` yields the non-empty FieldFiles, reading the
    table in chunks of primary key and file name only."""

    def __init__(self, model_class: type[models.Model], image_field: str) -> None:
        self.model_class = model_class
        self.image_field = image_field

    def __repr__(self) -> str:
        return f"<ImageFieldSourceGroup {self.model_class._meta.label}.{self.image_field}>"

    def files(self) -> Iterator[FieldFile]:
        for model in _concrete(self.model_class):
            rows = (
                model._base_manager.exclude(**{self.image_field: ""})
                .exclude(**{f"{self.image_field}__isnull": True})
                .only("pk", self.image_field)
                .order_by("pk")
            )
            for row in rows.iterator(chunk_size=CHUNK):
                file = getattr(row, self.image_field)
                if file:
                    yield file


class ProcessedImageFieldFile(ImageFieldFile):
    field: ProcessedImageField

    def save(self, name: str, content: Any, save: bool = True) -> None:
        # Processed before anything is written: a corrupt upload raises SourceUnreadable
        # and leaves no file (and, from pre_save, no row).
        processed = self.field.process(named(content, name), name)
        super().save(processed.name or name, processed, save)


class ProcessedImageField(models.ImageField):
    """An ImageField whose uploads are processed with a spec before they are stored.

    The stored file is the processed image, named with its format's extension; width and
    height fields describe it. Migrations see a plain ``models.ImageField``.
    """

    attr_class = ProcessedImageFieldFile

    def __init__(
        self,
        processors: Any = None,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
        verbose_name: str | None = None,
        name: str | None = None,
        width_field: str | None = None,
        height_field: str | None = None,
        autoconvert: bool | None = None,
        spec: type[ImageSpec] | None = None,
        spec_id: str | None = None,
        *,
        post_processors: Any = None,
        validate_limits: bool | ImageLimitsValidator = True,
        **kwargs: Any,
    ) -> None:
        self._attrs = spec_attrs(
            "ProcessedImageField", spec, processors, format, options, post_processors
        )
        self._spec_class = spec
        self.autoconvert = autoconvert
        self.spec_id = spec_id or ""
        self.limits_validator = limits_validator(validate_limits)
        super().__init__(verbose_name, name, width_field, height_field, **kwargs)
        # As thumbkit's ImageField: model validation checks the upload against LIMITS.
        self.default_validators = with_limits(self.default_validators, self.limits_validator)

    def contribute_to_class(  # type: ignore[override]
        self, cls: type[models.Model], name: str, **kwargs: Any
    ) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        if not self.spec_id:
            self.spec_id = f"{cls._meta.app_label}:{cls._meta.object_name}:{name}".lower()
        generator = self._spec_class or _spec_class(cls, name, self._attrs)
        with contextlib.suppress(AlreadyRegistered):
            register.generator(self.spec_id, generator)

    def generator(self, source: Any) -> Any:
        return register.make(self.spec_id, source=source)

    def process(self, content: Any, name: str) -> GeneratedImage:
        """The processed image of an upload, named ``name`` with the output's extension."""
        done = getattr(content, "thumbkit_spec", None)
        gen = self.generator(content)
        if isinstance(content, GeneratedImage) and done == gen.spec.canonical:
            return content  # processed by the form field already
        out: GeneratedImage = gen.generate()
        out.name = renamed(name, out.format)
        return out

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *app_missing(self)]

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        # The processors change the file, not the column.
        return name, "django.db.models.ImageField", args, kwargs

    def formfield(self, **kwargs: Any) -> Any:
        from ..forms import ProcessedImageField as FormField

        kwargs = {"form_class": FormField, "spec_id": self.spec_id, **kwargs}
        return super().formfield(**limits_formfield(kwargs, self.limits_validator))


def named(content: Any, name: str) -> Any:
    """``content``, or a File wrapping it under ``name`` when it has none.

    Django's idiom ``field.save("me.png", ContentFile(data))`` names the file in the call,
    not on the content; the source must still be read from the content, never looked up.
    """
    if isinstance(content, File) and not isinstance(content, FieldFile) and not content.name:
        return File(content, name=name)
    return content


def connect_receivers(cls: type[models.Model]) -> None:
    """thumbkit's lifecycle receivers for a model (the uids are ImageField's: once per model)."""
    uid = f"thumbkit:{cls._meta.label}"
    post_init.connect(lifecycle.initialised, sender=cls, dispatch_uid=f"{uid}:init", weak=False)
    pre_save.connect(lifecycle.presaving, sender=cls, dispatch_uid=f"{uid}:presave", weak=False)
    post_save.connect(lifecycle.saved, sender=cls, dispatch_uid=f"{uid}:save", weak=False)
    pre_delete.connect(lifecycle.deleting, sender=cls, dispatch_uid=f"{uid}:pre", weak=False)
    post_delete.connect(lifecycle.deleted, sender=cls, dispatch_uid=f"{uid}:del", weak=False)


spec_fields = peers.spec_fields  # the registry lives in peers: lifecycle reads it too


def _spec_class(model: type[models.Model], name: str, attrs: Mapping[str, Any]) -> type[ImageSpec]:
    # A named class per field, so re-importing the models module re-registers "the same"
    # generator (the registry compares module and qualified name) instead of raising.
    spec = type(f"{model.__name__}_{name}", (ImageSpec,), dict(attrs))
    spec.__module__ = model.__module__
    # The "<>" marks it as not importable by path: tasks find it by its generator id.
    spec.__qualname__ = f"{model.__qualname__}.<{name}>"
    return spec


def _concrete(model: type[models.Model]) -> Iterator[type[models.Model]]:
    """The tables holding ``model``'s rows: itself, or its concrete subclasses if abstract."""
    if not model._meta.abstract:
        if not model._meta.proxy:
            yield model
        return
    for sub in model.__subclasses__():
        yield from _concrete(sub)


def _strategy_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        cls = value if isinstance(value, type) else type(value)
        path = f"{cls.__module__}.{cls.__qualname__}"
        value = path if path in IMAGEKIT_STRATEGIES else None
        if value is None:
            raise ConfigurationError(
                "cachefile_strategy must be a strategy name (lazy, optimistic, deferred, "
                "on_demand), a dotted path, or one of imagekit's strategies."
            )
    return IMAGEKIT_STRATEGIES.get(str(value), str(value))


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigurationError(f"{what} must be a STORAGES alias (a string), not {value!r}.")


def _static_text(cls: Any, attr: str) -> str | None:
    value = inspect.getattr_static(cls, attr, None)
    return value if isinstance(value, str) else None


def spec_attrs(
    kind: str, spec: Any, processors: Any, format: Any, options: Any, post_processors: Any
) -> dict[str, Any]:
    """The ImageSpec attributes a field was given inline; refused beside ``spec=``."""
    given = {
        "processors": processors,
        "format": format,
        "options": options,
        "post_processors": post_processors,
    }
    attrs = {k: v for k, v in given.items() if v is not None}
    if attrs and spec is not None:
        raise TypeError(f"Give {kind} either spec= or processors/format/options, not both.")
    return attrs


def app_missing(field: models.Field[Any, Any]) -> list[checks.CheckMessage]:
    """thumbkit.E016 for a thumbkit field on a project without the app. The app's own checks
    are registered by its ``ready()``, which then never runs, so the field reports it."""
    if apps.is_installed("thumbkit"):
        return []
    return [
        checks.Error(
            f"{field} is a thumbkit field, but 'thumbkit' is not in INSTALLED_APPS.",
            hint='Add "thumbkit" to INSTALLED_APPS and run `python manage.py migrate thumbkit`.',
            obj=field,
            id="thumbkit.E016",
        )
    ]

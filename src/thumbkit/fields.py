"""Model fields: ``ImageField`` with declared thumbnails, batched and kept in step with its file.

::

    class Profile(models.Model):
        photo = ImageField(upload_to="photos", thumbnails={"small": "100x100 crop", "card": "card"},
                           manifest_field="photo_thumbs")
        photo_thumbs = models.JSONField(default=dict, blank=True, editable=False)

    profile.photo.thumbnails.small.url      # or ["small"], .all(), .items(), "small" in ...

Declared thumbnails are made after the transaction that saved a new file commits (in the
request, or by a Django task when ``THUMBKIT["UPLOAD"]`` is ``"task"``). Replacing, clearing
or deleting the file removes its thumbnails and records after commit. Thumbnails of
instances loaded together resolve in one store round trip (see ``thumbkit.peers``), and in
none when the field keeps a manifest column on its own row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.core import checks
from django.db import models
from django.db.models.fields.files import ImageFieldFile
from django.db.models.signals import post_delete, post_init, post_save

from . import lifecycle, peers
from .exceptions import InvalidSpec
from .spec import Spec, parse
from .thumbnail import Thumbnail

Declared = Mapping[str, Any]  # name -> geometry string, named spec, or dict of options


def parse_declared(value: Any) -> Spec:
    """A declared size: ``"100x100 crop"``, ``"card"`` or ``{"size": "100x100", "crop": ...}``."""
    if isinstance(value, Spec | str):
        return parse(value)
    if isinstance(value, Mapping):
        options = dict(value)
        size = options.pop("size", None)
        if not isinstance(size, str):
            raise InvalidSpec(f"A declared thumbnail needs a 'size' geometry string: {value!r}.")
        return parse(size, **options)
    raise InvalidSpec(f"A declared thumbnail is a string or a dict, not {value!r}.")


class Thumbnails(Mapping[str, Thumbnail]):
    """``photo.thumbnails``: the declared thumbnails by name, in declaration order."""

    def __init__(self, file: ThumbkitFieldFile) -> None:
        self._file = file

    def __getitem__(self, name: str) -> Thumbnail:
        field = self._file.field
        if name not in field.thumbnails:
            raise KeyError(name)
        return lifecycle.thumbnail_of(self._file, field.declared_spec(name))

    def __getattr__(self, name: str) -> Thumbnail:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"{self._file.field} declares no thumbnail {name!r}; "
                f"declared: {', '.join(self._file.field.thumbnails) or 'none'}."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._file.field.thumbnails)

    def __len__(self) -> int:
        return len(self._file.field.thumbnails)

    def __contains__(self, name: object) -> bool:
        return name in self._file.field.thumbnails

    def all(self) -> list[Thumbnail]:
        return [self[name] for name in self]


class ThumbkitFieldFile(ImageFieldFile):
    field: ImageField

    def save(self, name: str, content: Any, save: bool = True) -> None:
        # Marks a file written through the field, even when the row is saved later: the
        # next save of the row then treats it as a new source (same name or not).
        self._thumbkit_new = True
        super().save(name, content, save)

    @property
    def thumbnails(self) -> Thumbnails:
        return Thumbnails(self)


class ImageField(models.ImageField):
    """Django's ImageField, plus declared thumbnails, lifecycle and batching."""

    attr_class = ThumbkitFieldFile

    def __init__(
        self,
        *args: Any,
        thumbnails: Declared | None = None,
        manifest_field: str | None = None,
        generate_on_save: bool = True,
        **kwargs: Any,
    ) -> None:
        self.thumbnails: dict[str, Any] = dict(thumbnails or {})
        self.manifest_field = manifest_field
        self.generate_on_save = generate_on_save
        self._specs: dict[str, Spec] = {}
        super().__init__(*args, **kwargs)

    def declared_spec(self, name: str) -> Spec:
        # Parsed on first use: named specs depend on settings, which are not read at import.
        spec = self._specs.get(name)
        if spec is None:
            spec = self._specs[name] = parse_declared(self.thumbnails[name])
        return spec

    def declared_specs(self) -> list[Spec]:
        return [self.declared_spec(name) for name in self.thumbnails]

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        # Thumbnails and the manifest do not change the column, so migrations ignore them.
        return name, "django.db.models.ImageField", args, kwargs

    # django-stubs types this hook differently on Field and FileField; FileField's is right.
    def contribute_to_class(  # type: ignore[override]
        self, cls: type[models.Model], name: str, **kwargs: Any
    ) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        if cls._meta.abstract:
            return
        uid = f"thumbkit:{cls._meta.label}.{name}"
        post_init.connect(peers.join, sender=cls, dispatch_uid=f"{uid}:peers", weak=False)
        post_init.connect(lifecycle.remember, sender=cls, dispatch_uid=f"{uid}:init", weak=False)
        post_save.connect(lifecycle.saved, sender=cls, dispatch_uid=f"{uid}:save", weak=False)
        post_delete.connect(lifecycle.deleted, sender=cls, dispatch_uid=f"{uid}:del", weak=False)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        file = getattr(model_instance, self.attname)
        uploading = bool(file) and (not file._committed or getattr(file, "_thumbkit_new", False))
        result = super().pre_save(model_instance, add)
        file._thumbkit_new = False
        lifecycle.note_save(model_instance, self, uploading)
        return result

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_manifest(), *self._check_thumbnails()]

    def _check_thumbnails(self) -> list[checks.CheckMessage]:
        errors: list[checks.CheckMessage] = []
        for name in self.thumbnails:
            try:
                parse_declared(self.thumbnails[name])
            except InvalidSpec as exc:
                errors.append(
                    checks.Error(f"Thumbnail {name!r}: {exc}", obj=self, id="thumbkit.E010")
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


def thumbkit_fields(model: type[models.Model]) -> list[ImageField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, ImageField)]

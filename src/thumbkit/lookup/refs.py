"""Spec references: short JSON text that rebuilds a spec in another process.

The deferred strategy's task and the on-demand endpoint get a spec as text, never as a
pickle. A reference is one of::

    {"spec": "100x100 crop=50%,50%", "options": {"namer": "hash"}}   api.get_spec(text, **options)
    {"generator": "myapp:thumb", "kwargs": {"width": 100}}            register.make(id, source=..)
    {"class": "myapp.specs.Thumbnail", "kwargs": {}}                  an ImageSpec subclass
    {"field": "app_label.Model.field", "name": "small"}               a declared field thumbnail

Any of them may carry ``"focal": "0.9,0.1"``: the source's focal point the spec follows
(``focused``), applied again after loading.

Whoever builds a spec sets ``Spec.ref`` (``thumbkit.lookup.resolver`` for named specs with
processors and for declared thumbnails, ``ImageSpec`` for generators). A spec without
processors needs none: its canonical text parses back to the same spec. Loading a reference
ends in the resolver's steps: text through ``hooks.spec_from_text`` (``api.get_spec``), a
field's thumbnail through ``field.declared_spec`` (``resolver.field_spec``), a generator
through the registry; this module cannot import the resolver, which imports it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from django.utils.module_loading import import_string

from ..core.focal import FocalPoint, to_focal
from ..core.spec import Spec, with_focal
from ..exceptions import ConfigurationError, InvalidSpec
from . import hooks
from .registry import register
from .source import Source

_KINDS = ("spec", "generator", "class", "field")


def dumps(value: dict[str, Any]) -> str | None:
    """Compact, stable JSON (sorted keys), or None when a value is not JSON."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None


def text_ref(text: str, options: dict[str, Any]) -> str | None:
    return dumps({"spec": text, "options": options})


def generator_ref(id: str, kwargs: dict[str, Any]) -> str | None:
    return dumps({"generator": id, "kwargs": kwargs})


def class_ref(cls: type, kwargs: dict[str, Any]) -> str | None:
    path = f"{cls.__module__}.{cls.__qualname__}"
    return None if "<" in path else dumps({"class": path, "kwargs": kwargs})


def field_ref(label: str, field: str, name: str) -> str:
    return json.dumps({"field": f"{label}.{field}", "name": name}, sort_keys=True)


def ref_of(spec: Spec) -> str | None:
    """The reference of ``spec``: its own, else its canonical text when that parses back."""
    if spec.ref is not None:
        return spec.ref
    if spec.processors or spec.post_processors:
        return None  # their text names objects, which no parser can rebuild
    options = {k: v for k, v in (("namer", spec.namer), ("strategy", spec.strategy)) if v}
    return text_ref(spec.canonical, options)


def with_ref(spec: Spec, ref: str | None) -> Spec:
    """``spec`` carrying ``ref``, unless it can already be referenced (or ref is None)."""
    if ref is None or ref_of(spec) is not None:
        return spec
    return replace(spec, ref=ref)


def focused(spec: Spec, point: FocalPoint | None) -> Spec:
    """``spec`` following ``point`` (``core.spec.with_focal``), its own reference (if it
    has one) carrying the point, so another process rebuilds the same spec."""
    moved = with_focal(spec, point)
    if moved is spec or spec.ref is None:
        return moved
    value = json.loads(spec.ref)
    value.pop("focal", None)
    if moved.focal is not None:
        value["focal"] = moved.focal.text
    return replace(moved, ref=dumps(value))


def require(spec: Spec, strategy: str) -> str:
    """The reference of ``spec``, or a ConfigurationError saying how to give it one."""
    ref = ref_of(spec)
    if ref is None:
        raise ConfigurationError(
            f"The {strategy!r} strategy rebuilds specs in another process, and the spec "
            f"{spec.canonical!r} cannot be referenced there: its processors are objects. Give "
            "them as dotted paths in THUMBKIT['SPECS'] (and ask by name), register the "
            "ImageSpec with thumbkit.register.generator(), declare it on an ImageField, or "
            "use the 'lazy' or 'optimistic' strategy for it."
        )
    return ref


def storage_alias(source: Source, strategy: str) -> str:
    """The STORAGES alias of the source's storage: what another process can open it by."""
    from django.conf import settings

    if source.storage_id in settings.STORAGES:
        return source.storage_id
    raise ConfigurationError(
        f"The {strategy!r} strategy reopens sources in another process, and {source.name!r} "
        f"is on a storage that is not in STORAGES ({source.storage_id}); configure that "
        "storage in STORAGES and give the field storage=storages[alias]."
    )


def spec_from_ref(ref: str, source: Any = None) -> Spec:
    """The spec ``ref`` names (``source`` is given to generators that read it).

    Raises InvalidSpec for a reference that does not parse or names nothing usable.
    """
    try:
        value = json.loads(ref)
    except ValueError:
        raise InvalidSpec(f"Not a spec reference: {ref[:80]!r}.") from None
    kind = next((k for k in _KINDS if isinstance(value, dict) and k in value), None)
    if kind is None:
        raise InvalidSpec(f"Not a spec reference: {ref[:80]!r}.")
    try:
        spec = _LOADERS[kind](value, source)
        if "focal" in value:
            spec = with_focal(spec, to_focal(value["focal"]))
    except (InvalidSpec, ConfigurationError):
        raise
    except (LookupError, TypeError, ValueError, ImportError, AttributeError) as exc:
        raise InvalidSpec(f"The spec reference {ref[:80]!r} names nothing usable: {exc}") from exc
    return spec if spec.ref == ref else replace(spec, ref=ref)


def _load_text(value: dict[str, Any], source: Any) -> Spec:
    # api.get_spec (the API imports this module), set at AppConfig.ready()
    return hooks.spec_from_text(value["spec"], **dict(value.get("options") or {}))


def _load_generator(value: dict[str, Any], source: Any) -> Spec:
    return _spec_of(register.make(value["generator"], source=source, **value["kwargs"]))


def _load_class(value: dict[str, Any], source: Any) -> Spec:
    base = hooks.image_spec_class  # generators.ImageSpec, set at AppConfig.ready()
    if base is None:
        hooks.not_ready()
    cls = import_string(value["class"])
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise InvalidSpec(f"{value['class']!r} is not an ImageSpec subclass.")
    return _spec_of(cls(source=source, **value["kwargs"]))


def _load_field(value: dict[str, Any], source: Any) -> Spec:
    from django.apps import apps

    label, _, field_name = str(value["field"]).rpartition(".")
    field = apps.get_model(label)._meta.get_field(field_name)
    return _spec_of_field(field, str(value["name"]))


def _spec_of(generator: Any) -> Spec:
    spec = getattr(generator, "spec", None)
    if not isinstance(spec, Spec):
        raise InvalidSpec(f"{generator!r} has no spec.")
    return spec


def _spec_of_field(field: Any, name: str) -> Spec:
    declared = getattr(field, "declared_spec", None)
    if not callable(declared):
        raise InvalidSpec(f"{field!r} declares no thumbnails.")
    spec = declared(name)
    if not isinstance(spec, Spec):
        raise InvalidSpec(f"{field!r} has no thumbnail {name!r}.")
    return spec


_LOADERS = {
    "spec": _load_text,
    "generator": _load_generator,
    "class": _load_class,
    "field": _load_field,
}

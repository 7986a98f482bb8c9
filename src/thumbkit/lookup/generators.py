"""``ImageSpec``: imagekit's spec classes, on thumbkit's specs, store and strategies.

::

    class Thumbnail(ImageSpec):
        processors = [ResizeToFill(100, 50)]
        format = "JPEG"
        options = {"quality": 60}

    Thumbnail(source=photo.image).thumbnail()   # stored, recorded, batched: a Thumbnail
    Thumbnail(source=open("in.jpg", "rb")).generate().read()   # just the bytes, nothing kept

An ImageSpec becomes a :class:`~thumbkit.core.spec.Spec` with no geometry (the processors size
the image), so everything a spec string can do applies: one key per distinct pipeline,
exactly one generation, the lazy/optimistic/deferred/on-demand strategies. Attributes may be
properties reading ``self.source`` (imagekit's "specs that change"): the spec is then built
for each source, and sources that differ in what the processors read get different files.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.utils.module_loading import import_string

from ..conf import get_settings
from ..core.engines import get_engine
from ..core.spec import Spec
from ..exceptions import InvalidSpec
from . import api, refs, resolver
from .generate import post_processed
from .keys import extension, safe_stem
from .registry import register
from .source import coerce
from .thumbnail import Placeholder, Thumbnail

# imagekit's ``options`` keys that map onto spec options; "optimize" is accepted because
# thumbkit always optimizes JPEG and PNG output.
_OPTIONS = ("quality", "progressive", "background", "colorspace")
_IGNORED_OPTIONS = ("optimize",)
# Attributes that make up the spec; when none of them is a property, the spec is built once
# per class rather than once per source.
_SPEC_ATTRS = (
    "processors",
    "format",
    "options",
    "post_processors",
    "storage",
    "strategy",
    "namer",
    "cachefile_storage",
    "cachefile_strategy",
)


class GeneratedImage(ContentFile):  # type: ignore[type-arg]
    """The result of :meth:`ImageSpec.generate`: the encoded bytes, with size and format."""

    def __init__(self, data: bytes, name: str, width: int, height: int, format: str) -> None:
        super().__init__(data, name=name)
        self.width, self.height, self.format = width, height, format


class ImageSpec:
    """A generator that makes one image from ``source`` with ``processors``.

    Class attributes (or properties): ``processors``, ``format``, ``options`` (``quality``,
    ``progressive``, ``background``, ``colorspace``), ``post_processors``, ``strategy``
    (``"lazy"``, ``"optimistic"``, ``"deferred"``, ``"on_demand"``), ``storage`` (a
    STORAGES alias) and ``namer``. imagekit's ``cachefile_strategy`` and
    ``cachefile_storage`` are read too when given as names.
    """

    processors: Any = ()
    format: str | None = None
    options: Mapping[str, Any] | None = None
    post_processors: Any = ()
    strategy: str | None = None
    storage: str | None = None
    namer: str | None = None

    # Set by ``register.make``: the id this generator was made under, so its spec can be
    # rebuilt from (id, kwargs) by a task worker or the on-demand endpoint.
    _thumbkit_generator_id: str | None = None
    _thumbkit_generator_kwargs: Mapping[str, Any] = {}

    def __init__(self, source: Any = None, **kwargs: Any) -> None:
        self.source = source
        for name, value in kwargs.items():
            setattr(self, name, value)
        self._kwargs = tuple(kwargs)
        self._ref_kwargs: dict[str, Any] = dict(kwargs)

    @property
    def spec(self) -> Spec:
        """The spec for this source (built once per class unless attributes vary).

        It carries a reference (``Spec.ref``) when it can be rebuilt elsewhere: by generator
        id when made through ``register.make``, else by the class's dotted path.
        """
        cls = type(self)
        if self._kwargs or _dynamic(cls) or _overridden(self):
            return refs.with_ref(self._build(), self._reference())
        cache: dict[str, Any] = cls.__dict__.get("_thumbkit_spec_cache") or {}
        if cache.get("settings") is not get_settings():
            cache = {"settings": get_settings(), "specs": {}}
            cls._thumbkit_spec_cache = cache  # type: ignore[attr-defined]
        specs: dict[str | None, Spec] = cache["specs"]
        made_as = self._thumbkit_generator_id
        spec = specs.get(made_as)
        if spec is None:
            spec = specs[made_as] = refs.with_ref(self._build(), self._reference())
        return spec

    def _reference(self) -> str | None:
        made_as = self._thumbkit_generator_id
        if made_as is not None:
            return refs.generator_ref(made_as, dict(self._thumbkit_generator_kwargs))
        cls: type = type(self)
        return refs.class_ref(cls, self._ref_kwargs) if _rebuildable(cls) else None

    def _build(self) -> Spec:
        options = dict(self.options or {})
        for name in _IGNORED_OPTIONS:
            options.pop(name, None)
        kwargs = {name: options.pop(name) for name in _OPTIONS if name in options}
        if options:
            raise InvalidSpec(
                f"{type(self).__qualname__}.options has unsupported keys {sorted(options)}; "
                f"supported: {', '.join(_OPTIONS + _IGNORED_OPTIONS)}."
            )
        return resolver.of_spec(
            Spec(None, None),
            dict(
                processors=list(self.processors or ()),
                post_processors=list(self.post_processors or ()),
                format=self.format,
                storage=self.storage or _named(getattr(self, "cachefile_storage", None)),
                strategy=self.strategy or _named(getattr(self, "cachefile_strategy", None)),
                namer=self.namer,
                **kwargs,
            ),
        )

    def thumbnail(self) -> Thumbnail | Placeholder:
        """The stored image for ``source``, made (or served) by the spec's strategy."""
        return api.get_thumbnail(as_source(self.source), self.spec)

    def generate(self) -> GeneratedImage:
        """Make the image now and return it as a file; nothing is stored or recorded."""
        spec = self.spec
        src = coerce(as_source(self.source))
        out = get_engine().render(src.read(), [spec], get_settings())[0]
        data = post_processed(out.data, out.format, spec)
        name = f"{safe_stem(src.name)}.{extension(out.format)}"
        return GeneratedImage(data, name, out.width, out.height, out.format)


class ThumbnailGenerator(ImageSpec):
    """``thumbkit:thumbnail``: imagekit's default thumbnail generator.

    Both sides given: crop to exactly that size (around ``anchor``, or the busiest part when
    there is none); one side: fit. Used by ``{% thumbnail "100x50" source %}``.
    """

    def __init__(
        self,
        source: Any = None,
        width: int | None = None,
        height: int | None = None,
        anchor: Any = None,
        crop: bool | None = None,
        upscale: bool | None = None,
        **kwargs: Any,
    ) -> None:
        from ..processors import Thumbnail as ThumbnailProcessor

        step = ThumbnailProcessor(width, height, anchor=anchor, crop=crop, upscale=upscale)
        super().__init__(source, processors=[step], **kwargs)
        given = {"width": width, "height": height, "anchor": anchor, "crop": crop}
        given["upscale"] = upscale
        self._ref_kwargs = {k: v for k, v in given.items() if v is not None} | kwargs


def as_source(value: Any) -> Any:
    """Accept what imagekit accepts: also a plain open file, wrapped as a Django File."""
    if value is None or isinstance(value, str | File) or not callable(getattr(value, "read", None)):
        return value
    return File(value, name=getattr(value, "name", None) or "image")


def _dynamic(cls: type) -> bool:
    return _dynamic_name(cls)


def _overridden(spec: ImageSpec) -> bool:
    # A subclass's __init__ may set spec attributes on the instance (self.processors = ...)
    # without passing them as keywords: the class's cached spec is not this one's.
    return any(name in spec.__dict__ for name in _SPEC_ATTRS)


@functools.cache
def _dynamic_name(cls: Any) -> bool:
    return any(isinstance(inspect.getattr_static(cls, a, None), property) for a in _SPEC_ATTRS)


def _rebuildable(cls: type) -> bool:
    # cls(source=..., **kwargs) makes this spec again only with a constructor that keeps its
    # keywords; a subclass's own __init__ may take arguments it does not pass on.
    inits = (ImageSpec.__init__, ThumbnailGenerator.__init__)
    own = inspect.getattr_static(cls, "__init__", None)
    return any(own is init for init in inits) and _importable(cls)


@functools.cache
def _importable(cls: Any) -> bool:
    # A class made at run time (in a function, by type()) cannot be found by its path.
    try:
        return bool(import_string(f"{cls.__module__}.{cls.__qualname__}") is cls)
    except ImportError:
        return False


def _named(value: Any) -> str | None:
    return value if isinstance(value, str) else None


register.generator("thumbkit:thumbnail", ThumbnailGenerator)
register.generator("imagekit:thumbnail", ThumbnailGenerator)

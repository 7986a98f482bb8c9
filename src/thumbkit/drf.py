"""Django REST framework: the thumbnails of an image field, as URL, width and height.

::

    from thumbkit.drf import ThumbnailField

    class ProfileSerializer(serializers.ModelSerializer):
        thumbnails = ThumbnailField(source="photo", specs=["small", "card"])
        hero = ThumbnailField(source="photo", specs="card", srcset=[320, 640], placeholder=True)

        class Meta:
            model = Profile
            fields = ["id", "name", "thumbnails", "hero"]

gives ``"thumbnails": {"small": {"url": ..., "width": 100, "height": 100}, "card": {...}}``
and, for one spec, the entry itself, with ``srcset`` (``"url 320w, url 640w"``) and
``placeholder`` (the source's LQIP kept on every record: dominant colour, ThumbHash and the
preview's ``data:`` URI, no I/O) when asked. A name means what it means to
``get_thumbnail``: a thumbnail declared on the field, a named spec, a geometry string.

One store read for a whole list: when the serializer is the child of the list serializer
a view made (``many=True``), the first ``ThumbnailField`` to run reads the records of every
``ThumbnailField`` of every object of the list at once, whatever the list is (a queryset,
a paginator's page, instances rebuilt from a cache). A nested list batches the same way with
``ThumbnailListSerializer`` as its ``list_serializer_class``; without it, its rows batch as
rows loaded together do (``thumbkit.adapters.peers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Manager, QuerySet

from .adapters.tags.common import lookup
from .adapters.tags.picture import variant
from .core.spec import Spec
from .exceptions import InvalidSpec, SourceError
from .lookup import api, batch, resolver
from .lookup.source import Source, coerce
from .lookup.thumbnail import Placeholder, Thumbnail, https

try:
    from rest_framework import serializers
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(
        "thumbkit.drf needs Django REST framework: pip install 'django-thumbkit[drf]'"
    ) from exc

_DONE = "_thumbkit_prefetched"  # on a list serializer: the list it read the records of

Result = Thumbnail | Placeholder
Entry = dict[str, Any]


class ThumbnailField(serializers.Field[Any, None, Any, Any]):
    """Read-only: the thumbnails ``specs`` of the image field ``source`` (None if empty).

    ``specs`` is one name (the entry itself), a list of names (keyed by name) or a dict of
    output key to name, spec or dict of spec options. ``srcset`` is a list of widths: each
    entry gets a ``srcset`` of the spec at those widths (aspect kept, no upscaling unless
    the spec says so). ``placeholder=True`` adds the record's low-quality placeholder:
    ``{"color": "#a1b2c3", "thumbhash": ..., "uri": "data:image/png;base64,..."}`` (nulls for
    a record made before thumbkit kept them, or a stand-in).
    URLs are absolute when the request is in the context (as DRF's own ``ImageField``),
    unless ``absolute=False``, and https on a secure request.

    Missing thumbnails are served by their strategy (made now with ``lazy``); a missing or
    unusable source gives None, logged, as in a template.
    """

    def __init__(
        self,
        specs: str | Spec | Sequence[str | Spec] | Mapping[str, Any],
        *,
        srcset: Sequence[int] | None = None,
        placeholder: bool = False,
        absolute: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)
        self.single = isinstance(specs, str | Spec)
        self.specs = _named(specs)
        self.widths = _widths(srcset)
        if not isinstance(placeholder, bool):
            raise InvalidSpec(f"ThumbnailField placeholder is True or False, got {placeholder!r}.")
        self.placeholder = placeholder
        self.absolute = absolute

    def to_representation(self, value: Any) -> Any:
        _prefetch_list_of(self)
        if not value:
            return None
        plan = [(name, self._specs_for(spec, value)) for name, spec in self.specs.items()]
        wanted = [spec for _, specs in plan for spec in specs]
        found = lookup(value, self.field_name, lambda: _resolve(value, wanted))
        if found is None:
            return None
        results = iter(found)
        entries = {name: self._entry([next(results) for _ in specs]) for name, specs in plan}
        return next(iter(entries.values())) if self.single else entries

    def _specs_for(self, asked: Any, source: Any) -> list[Spec]:
        """The spec, then its srcset widths (as this field asks)."""
        if isinstance(asked, Mapping):
            spec = resolver.declared(asked)
        else:
            spec = resolver.resolve(asked, source)
        if self.widths and not spec.has_geometry:
            raise InvalidSpec(
                f"ThumbnailField srcset needs a spec with a geometry, not {spec.canonical!r}."
            )
        return [spec, *(variant(spec, width, None) for width in self.widths)]

    def _entry(self, thumbs: list[Result]) -> Entry:
        main, *rest = thumbs
        entry = self._describe(main)
        if self.widths:
            entry["srcset"] = self._srcset(rest)
        if self.placeholder:
            # Part of the record the store read brought: no query, no storage call.
            entry["placeholder"] = {
                "color": main.placeholder_color or None,
                "thumbhash": main.thumbhash or None,
                "uri": main.placeholder_uri or None,
            }
        return entry

    def _describe(self, thumb: Result) -> Entry:
        return {
            "url": self._url(thumb.url) if thumb.url else None,
            "width": int(thumb.width) if thumb.width else None,
            "height": int(thumb.height) if thumb.height else None,
        }

    def _srcset(self, thumbs: list[Result]) -> str:
        """``url 320w, url 640w``: made thumbnails only, one entry per distinct width."""
        seen: set[int] = set()
        entries = []
        for asked, thumb in zip(self.widths, thumbs, strict=True):
            width = int(thumb.width or 0) or asked  # a predicted record of unknown size
            if thumb and width not in seen:
                seen.add(width)
                entries.append(f"{self._url(thumb.url)} {width}w")
        return ", ".join(entries)

    def _url(self, url: str) -> str:
        request = self.context.get("request")
        if request is None:
            return url
        if self.absolute:
            url = request.build_absolute_uri(url)
        return https(url) if request.is_secure() else url


class ThumbnailListSerializer(serializers.ListSerializer[Any]):
    """A list serializer that reads the records of its child's ThumbnailFields for the
    whole list in one store read; for nested lists (``Meta.list_serializer_class``)."""

    def to_representation(self, data: Any) -> list[Any]:
        items = list(data.all() if isinstance(data, Manager) else data)
        self.__dict__[_DONE] = items
        child = self.child
        assert child is not None  # DRF's ListSerializer requires one
        prefetch(child, items)
        return [child.to_representation(item) for item in items]


def prefetch(serializer: Any, objects: Iterable[Any]) -> None:
    """Read, in one store round trip, the records of every ``ThumbnailField`` of
    ``serializer`` for each of ``objects``; their fields then serialize with no I/O."""
    fields = [f for f in serializer.fields.values() if isinstance(f, ThumbnailField)]
    if not fields:
        return
    sources: list[Source] = []
    for obj in objects:
        for field in fields:
            try:
                value = field.get_attribute(obj)
                if value:
                    sources.append(coerce(value))
            except (SourceError, serializers.SkipField):
                continue  # its own representation logs or skips it
            except (AttributeError, KeyError, ObjectDoesNotExist):
                continue  # DRF raises it again, with its message, when it serializes obj
    batch.load_records(sources, peers=False)


def _prefetch_list_of(field: ThumbnailField) -> None:
    """On the first object of a view's list, prefetch the whole list (once per list)."""
    child = field.parent
    owner = getattr(child, "parent", None)
    if not isinstance(owner, serializers.ListSerializer) or owner.parent is not None:
        return  # a single object (its peers batch), or a nested list
    data = owner.instance
    if owner.__dict__.get(_DONE, _DONE) is data:
        return
    owner.__dict__[_DONE] = data
    items = _loaded(data)
    if items is not None:
        prefetch(child, items)


def _loaded(data: Any) -> list[Any] | None:
    """The objects of a list a list serializer is iterating, if they are in memory."""
    if isinstance(data, list | tuple):
        return list(data)
    if isinstance(data, QuerySet) and data._result_cache is not None:
        return list(data._result_cache)
    return None  # a manager (``.all()`` runs a new query) or an iterator: peers batch it


def _resolve(value: Any, specs: list[Spec]) -> list[Result]:
    src = coerce(value)
    return api.resolve([(src, spec) for spec in specs])


def _named(specs: str | Spec | Sequence[str | Spec] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(specs, str | Spec):
        return {str(specs): specs}
    named = dict(specs) if isinstance(specs, Mapping) else {str(s): s for s in specs}
    if not named:
        raise InvalidSpec("ThumbnailField needs at least one spec.")
    return named


def _widths(value: Sequence[int] | None) -> tuple[int, ...]:
    if not value:
        return ()
    if isinstance(value, str | bytes) or not all(
        isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in value
    ):
        raise InvalidSpec(f"ThumbnailField srcset is a list of positive widths, got {value!r}.")
    return tuple(sorted(set(value)))

"""The one spec resolver: every way a name or a value becomes a :class:`~thumbkit.core.spec.Spec`.

Every entry point asks here: ``get_thumbnail``/``aget_thumbnail``/``get_spec``/
``prefetch_thumbnails``, the ``{% thumbnail %}``, ``thumbnail_url`` and ``{% picture %}`` tags,
a field's ``.thumbnails``, ``ImageSpecField``, the admin, and (through ``thumbkit.lookup.refs``) the
on-demand endpoint and the tasks. A name (a string) means, in this order:

1. the thumbnail declared under that name on the source's field, when the source is a
   FieldFile of a field that declares it (``ImageField(thumbnails={"card": ...})``);
2. ``THUMBKIT["SPECS"][name]``;
3. the generator registered under that id (``thumbkit.register``), made for the source;
4. otherwise a geometry string with options (sorl's grammar); an invalid one raises
   :class:`~thumbkit.exceptions.InvalidSpec`.

A declared value is itself resolved without a source (steps 2 to 4): ``{"card": "card"}`` on
a field means ``SPECS["card"]``. Resolved for a source whose field keeps a focal point
(``ImageField(focal_point_field=...)``), a spec that crops at the centre follows the point of
the source's row (:func:`for_source`), unless the spec names a point of its own. Fields are
asked by duck typing (``field.thumbnails``, a mapping of names, ``field.declared_spec(name)``
and ``field.focal_point_of(file)``), so this module imports no adapter.

Answers are cached where they cannot change between two calls: strings and options
(``_parse_cached``), what a field declares under a name (``_answers``, by field and name),
and declared thumbnails on their field; all follow settings changes. Generators are asked
each time: they may read the source.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from django.apps import apps
from django.core.exceptions import AppRegistryNotReady

from ..conf import get_settings, on_reset
from ..core import limits
from ..core.focal import FocalPoint
from ..core.spec import CENTER, Spec, parse
from ..exceptions import ConfigurationError, InvalidSpec, did_you_mean
from . import refs
from .registry import register

# A cached name: (the source's field, its spec, the field's focal point reader or None).
_Answer = tuple[Any, Spec, Callable[[Any], FocalPoint | None] | None]

# The attribute of a field object that caches its declared specs: (settings, {name: Spec}).
_DECLARED_CACHE = "_thumbkit_declared_specs"


def resolve(value: Any, source: Any = None, options: Mapping[str, Any] | None = None) -> Spec:
    """The spec ``value`` means for ``source``, with ``options`` on top; LIMITS checked.

    ``value`` is a name or geometry string (see the module's precedence), a Spec, an
    ImageSpec class (made with ``source=source``) or a generator object with a ``.spec``.
    A centre crop follows the focal point of the source's row (:func:`for_source`).
    """
    if not isinstance(value, str):
        return _for(_resolve_value(value, source, options), source)
    # A name, once per thumbnail of a list page: one dict lookup answers it, with whether
    # the spec follows the field's focal points decided once for the field, not per row.
    field = None if source is None or isinstance(source, str) else _field_of(source)
    items = tuple(options.items()) if options else ()
    slot = (id(field), value, items)
    try:
        entry = _answers.get(slot)
    except TypeError:  # an unhashable option value: resolve without the cache
        return _for(_resolve_name(value, field, source, options)[0], source)
    if entry is None or entry[0] is not field:
        spec, lasting = _resolve_name(value, field, source, options)
        if not lasting:
            return _for(spec, source)
        entry = _remember(slot, field, spec)
    reader = entry[2]
    return entry[1] if reader is None else _follow(entry[1], reader(source))


def _resolve_value(value: Any, source: Any, options: Mapping[str, Any] | None) -> Spec:
    if isinstance(value, Spec):
        return of_spec(value, options)
    made = value(source=source) if isinstance(value, type) else value
    return of_spec(of_generator(made), options)


def _for(spec: Spec, source: Any) -> Spec:
    return spec if source is None or isinstance(source, str) else for_source(spec, source)


def _resolve_name(
    value: str, field: Any, source: Any, options: Mapping[str, Any] | None
) -> tuple[Spec, bool]:
    """The precedence itself: declared on the field, SPECS, generator id, geometry; and
    whether the answer may be cached (not a generator's: its spec may read the source)."""
    declared = _declared_by(field, value)
    if declared is not None:
        return (of_spec(declared, options) if options else declared), True
    if value in register and value not in get_settings().specs:
        return of_spec(generator(value, source), options), False
    try:
        return of_spec(value, options), True
    except InvalidSpec as exc:
        raise _with_suggestion(exc, value, field) from None


def _with_suggestion(exc: InvalidSpec, value: str, field: Any) -> InvalidSpec:
    """``exc`` with "Did you mean 'small'?" when ``value`` is a single word close to a name
    it could have meant: a thumbnail the field declares, a named spec or a generator id."""
    if type(exc) is not InvalidSpec or len(value.split()) != 1:
        return exc  # OutputTooLarge, or a geometry with a bad option: nothing to suggest
    declared = getattr(field, "thumbnails", None) or ()
    names = [*declared, *get_settings().specs, *register.ids()]
    hint = did_you_mean(value.strip(), names)
    return InvalidSpec(f"{exc}{hint}") if hint else exc


def _field_of(source: Any) -> Any:
    return getattr(source, "field", None)


def for_source(spec: Spec, source: Any) -> Spec:
    """``spec`` following the focal point of ``source``, when it crops at the centre and
    names no point itself. The point is asked of the source's field by duck typing
    (``field.focal_point_of(file)``, a FocalPoint or None): thumbkit's ImageField reads it
    from a column of the source's row, so it costs no query."""
    reader = _reader(_field_of(source), spec)
    return spec if reader is None else _follow(spec, reader(source))


def _reader(field: Any, spec: Spec) -> Callable[[Any], FocalPoint | None] | None:
    """The field's ``focal_point_of`` when ``spec`` would follow it; None when the spec
    names its own point or does not crop at the centre, or when the field keeps no points
    (it has no ``focal_point_of``, or its ``focal_point_field`` is None)."""
    if spec.crop != CENTER or spec.focal is not None:
        return None
    if getattr(field, "focal_point_field", True) is None:
        return None
    reader = getattr(field, "focal_point_of", None)
    return reader if callable(reader) else None


def _follow(spec: Spec, point: FocalPoint | None) -> Spec:
    return spec if point is None else focused(spec, point)


class _Focused(dict[tuple[Any, ...], Spec]):
    """Specs moved to a point, by (what makes the spec, the point): a warm page asks for
    the same rows' points again, and a dict lookup is cheaper than rebuilding the spec."""

    def cache_clear(self) -> None:
        self.clear()


_focused = on_reset(_Focused())


def focused(spec: Spec, point: FocalPoint | None) -> Spec:
    """``spec`` following ``point`` (None: none), its reference too (``refs.focused``)."""
    slot = (spec.canonical, spec.ref, spec.namer, spec.strategy, point)
    found = _focused.get(slot)
    if found is None:
        if len(_focused) >= _ANSWERS_MAX:
            _focused.clear()
        found = _focused[slot] = refs.focused(spec, point)
    return found


class _Answers(dict[tuple[int, str, tuple[tuple[str, Any], ...]], _Answer]):
    """Resolved names by (id of the source's field or of None, name, options): a list page
    asks the same few fields for the same few names on every row, and should pay one dict
    lookup, not the precedence (a plain ImageField, which has no ``thumbnails``, would raise
    and catch an AttributeError each time). An answer is (the field, its spec, the field's
    focal point reader when the spec follows it, else None). The field is kept in the
    answer, so a reused id never answers for another field. Cleared when settings or the
    generator registry change.
    """

    def cache_clear(self) -> None:
        self.clear()


_ANSWERS_MAX = 4096  # entries; names may be any geometry string
_answers = on_reset(_Answers())
register.on_change(_answers.clear)


def _remember(
    slot: tuple[int, str, tuple[tuple[str, Any], ...]], field: Any, spec: Spec
) -> _Answer:
    if len(_answers) >= _ANSWERS_MAX:
        _answers.clear()
    answer = _answers[slot] = (field, spec, _reader(field, spec))
    return answer


def of_spec(spec: str | Spec, options: Mapping[str, Any] | None = None) -> Spec:
    """Steps 2 and 4 (SPECS, else a geometry string), or a Spec with options applied.

    Cached by (text, options); refuses request sizes above LIMITS at once.
    """
    require_app()
    if isinstance(spec, Spec) and not options:
        parsed = spec
    else:
        items = tuple(sorted(options.items())) if options else ()
        try:
            parsed = _parse_cached(spec, items)
        except TypeError:  # an unhashable option value: parse without the cache
            parsed = _parse(spec, items)
    limits.check_request(parsed, get_settings().limits)
    return parsed


NOT_INSTALLED = (
    "thumbkit is used, but 'thumbkit' is not in INSTALLED_APPS, so its tables, system checks, "
    'template tags and row batching are missing. Add "thumbkit" to INSTALLED_APPS and run '
    "`python manage.py migrate thumbkit`."
)


class _AppCheck:
    """Whether ``require_app`` found the app installed; forgotten when settings change."""

    ok = False

    def cache_clear(self) -> None:
        self.ok = False


_app_check = on_reset(_AppCheck())


def require_app() -> None:
    """Refuse to work without the app: the db store's table and the hooks its ``ready()``
    fills would be missing, and the first save would fail deep inside Django. Every lookup
    resolves its spec first, so this runs before any file or record is written; once the
    app is found, a lookup pays one attribute read."""
    if _app_check.ok:
        return
    try:
        installed = apps.is_installed("thumbkit")
    except AppRegistryNotReady:  # asked while apps load (a model class body): ask later
        return
    if not installed:
        raise ConfigurationError(NOT_INSTALLED)
    _app_check.ok = True


@on_reset
@functools.lru_cache(maxsize=1024)
def _parse_cached(spec: str | Spec, options: tuple[tuple[str, Any], ...]) -> Spec:
    return _parse(spec, options)


def _parse(spec: str | Spec, options: tuple[tuple[str, Any], ...]) -> Spec:
    parsed = parse(spec, **dict(options))
    if isinstance(spec, str):
        # A named spec with processors: its name (and JSON options) rebuild it elsewhere.
        return refs.with_ref(parsed, refs.text_ref(spec, dict(options)))
    if spec.ref is not None and (parsed.canonical, parsed.namer) != (spec.canonical, spec.namer):
        # Options changed what the reference would rebuild: it no longer names this spec.
        return replace(parsed, ref=None)
    return parsed


def _declared_by(field: Any, name: str) -> Spec | None:
    if field is None:
        return None
    names = getattr(field, "thumbnails", None)
    if not isinstance(names, Mapping) or name not in names:
        return None
    get = getattr(field, "declared_spec", None)
    spec = get(name) if callable(get) else None
    return spec if isinstance(spec, Spec) else None


def field_spec(field: Any, name: str) -> Spec:
    """The spec of the thumbnail ``name`` declared on ``field`` (``field.thumbnails``).

    Parsed on first use and again after settings change (named specs and LIMITS are
    settings); referenced by field and name, so a worker rebuilds it.
    """
    current = get_settings()
    cache = field.__dict__.get(_DECLARED_CACHE)
    if cache is None or cache[0] is not current:
        cache = (current, {})
        setattr(field, _DECLARED_CACHE, cache)
    specs: dict[str, Spec] = cache[1]
    spec = specs.get(name)
    if spec is None:
        ref = refs.field_ref(field.model._meta.label, field.name, name)
        spec = specs[name] = refs.with_ref(declared(field.thumbnails[name]), ref)
    return spec


def declared(value: Any) -> Spec:
    """A declared size: ``"100x100 crop"``, ``"card"`` or ``{"size": "100x100", "crop": ...}``.

    Resolved without a source (steps 2 to 4). In a dict, ``size`` may also be a
    ``(width, height)`` pair (django-athumb's style), with ``None`` for a free side.
    """
    if isinstance(value, Spec | str):
        return resolve(value)
    if isinstance(value, Mapping):
        options = dict(value)
        size = _geometry(options.pop("size", None), value)
        return resolve(size, None, options)
    raise InvalidSpec(f"A declared thumbnail is a string or a dict, not {value!r}.")


def _geometry(size: Any, declared: Any) -> str:
    if isinstance(size, str):
        return size
    if isinstance(size, list | tuple) and len(size) == 2:
        width, height = (str(side) if side else "" for side in size)
        return f"{width}x{height}" if height else width
    raise InvalidSpec(
        f"A declared thumbnail needs a 'size': a geometry string or a (width, height) pair; "
        f"got {declared!r}."
    )


def generator(id: str, source: Any = None, **kwargs: Any) -> Spec:
    """Step 3: the spec of the generator ``id`` made for ``source`` (with ``kwargs``)."""
    return of_generator(register.make(id, source=source, **kwargs))


def of_generator(generator: Any) -> Spec:
    """A generator's spec (an ImageSpec's ``.spec``); ConfigurationError for anything else."""
    spec = getattr(generator, "spec", None)
    if not isinstance(spec, Spec):
        raise ConfigurationError(f"{generator!r} is not a spec: it has no Spec in .spec.")
    return spec


__all__ = [
    "declared",
    "field_spec",
    "focused",
    "for_source",
    "generator",
    "of_generator",
    "resolve",
]

"""System checks for THUMBKIT settings, with stable ids.

=============  ==========================================================
thumbkit.E001  unknown key in THUMBKIT (or in THUMBKIT["LIMITS"])
thumbkit.E002  THUMBKIT["STORAGE"] is not an alias in STORAGES
thumbkit.E003  THUMBKIT["STORE"] is unknown or cannot be imported
thumbkit.E004  THUMBKIT["ENGINE"] is unknown or cannot be imported
thumbkit.E005  an optional extra the settings need is not installed (the redis store, the
               vips engine, a spec's MozJpeg or OxiPng post-processor)
thumbkit.E006  a named spec in THUMBKIT["SPECS"] is invalid
thumbkit.E007  the cache store names a CACHES alias that does not exist
thumbkit.E008  THUMBKIT["STRATEGY"] is unknown, "deferred" without a Tasks framework, or
               THUMBKIT["DEFERRED_FALLBACK"] is neither a mode nor a URL
thumbkit.E009  THUMBKIT is not a dict, or a value has the wrong type or range
thumbkit.E010  a declared thumbnail of a thumbkit ImageField is invalid
thumbkit.E011  an ImageField's manifest_field does not name a JSONField of its model
thumbkit.E012  THUMBKIT["UPLOAD"] is unknown, or "task" without a Tasks framework / backend
thumbkit.E013  THUMBKIT["NAMER"] is unknown or cannot be imported
thumbkit.E014  a THUMBKIT["STORE_OPTIONS"] key is not a parameter of the store (or of the
               client it passes its options to: redis-py's ``Redis`` for the redis store)
thumbkit.E015  the db store's STORE_OPTIONS["using"] is not an alias in DATABASES
thumbkit.E016  a thumbkit model field is used, but "thumbkit" is not in INSTALLED_APPS
               (reported by the field: without the app these checks are not registered)
thumbkit.E017  THUMBKIT["METRICS"] names an unknown sink (``thumbkit.adapters.stats``)
=============  ==========================================================

The checks import nothing they name: a module's presence is asked of ``find_spec``, so a
broken optional dependency is reported, never raised, and checks stay fast.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, register

from ..conf import DEFAULT_LIMITS, DEFAULTS, QUALITY_FORMATS, user_settings
from ..core.sizes import parse_sizes
from ..exceptions import did_you_mean
from ..lookup.stores.options import OPTION_TARGETS as OPTION_TARGETS  # still importable from here
from ..lookup.stores.options import store_option_problem

# (setting, built-in value) -> (module it needs, extra that installs it)
EXTRAS = {
    ("STORE", "redis"): ("redis", "redis"),
    ("ENGINE", "vips"): ("pyvips", "vips"),
}

Kind = type | tuple[type, ...]

TYPES: dict[str, Kind] = {
    "STORAGE": str,
    "STORE": str,
    "ENGINE": str,
    "STRATEGY": str,
    "DEFERRED_FALLBACK": str,
    "PREFIX": str,
    "NAMER": str,
    "STORE_OPTIONS": dict,
    "ON_STORE_ERROR": str,
    "STORE_FALLBACK": str,
    "STORE_RETRY_AFTER": (int, float),
    "LIMITS": dict,
    "SPECS": dict,
    "QUALITY": (int, dict),
    "AVIF_SPEED": int,
    "LOCK_TIMEOUT": (int, float),
    "PROGRESSIVE": bool,
    "CACHE_CONTROL": (str, type(None)),
    "UPLOAD": str,
    "TASK_BACKEND": str,
    "TASK_QUEUE": str,
    "FORCE_SSL": bool,
    "CACHE_BUSTER": (str, bool, type(None)),
    "URL_DOMAIN": (str, type(None)),
    "FAILURE_TTL": (int, float, type(None)),
    "SIZES_ALLOWED": (list, tuple, type(None)),
    "METRICS": (str, list, tuple, type(None)),
}

UPLOAD_MODES = ("sync", "task", "off")

RANGES: dict[str, tuple[float, float]] = {
    "QUALITY": (1, 100),
    "AVIF_SPEED": (0, 10),
    "LOCK_TIMEOUT": (0.001, float("inf")),
    "STORE_RETRY_AFTER": (0, float("inf")),
    "FAILURE_TTL": (0, float("inf")),
}


@register("thumbkit")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not apps.is_installed("thumbkit"):
        return []  # imported by a field of a project without the app: E016 says so
    raw = getattr(django_settings, "THUMBKIT", None)
    if raw is not None and not isinstance(raw, Mapping):
        return [Error("THUMBKIT must be a dict.", id="thumbkit.E009")]
    user = user_settings()
    errors = _unknown_keys(user) + _types(user) + _limits(user.get("LIMITS", {}))
    errors += _formats(user) if not errors else []
    if errors:
        return errors  # later checks assume the shapes are right
    errors += _storage(user)
    errors += _extras(user)
    errors += _named("STORE", user, _registry("lookup.stores", "STORES"), "thumbkit.E003")
    errors += _named("ENGINE", user, _registry("core.engines", "ENGINES"), "thumbkit.E004")
    errors += _named("NAMER", user, _namers(), "thumbkit.E013")
    errors += _cache_alias(user)
    errors += _store_options(user)
    errors += _strategy(user)
    errors += _upload(user)
    errors += _on_store_error(user)
    errors += _url_domain(user)
    errors += _specs()
    return errors


def _unknown_keys(user: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = [
        Error(
            f"THUMBKIT has an unknown key {key!r}; it would silently do nothing."
            + did_you_mean(key, DEFAULTS),
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id="thumbkit.E001",
        )
        for key in sorted(set(user) - set(DEFAULTS))
    ]
    limits = user.get("LIMITS", {})
    if isinstance(limits, Mapping):
        errors += [
            Error(
                f"THUMBKIT['LIMITS'] has an unknown key {key!r}; it would silently do nothing."
                + did_you_mean(key, DEFAULT_LIMITS),
                hint=f"Known keys: {', '.join(sorted(DEFAULT_LIMITS))}.",
                id="thumbkit.E001",
            )
            for key in sorted(set(limits) - set(DEFAULT_LIMITS))
        ]
    return errors


def _types(user: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key, kind in TYPES.items():
        if key not in user:
            continue
        value = user[key]
        if not _is(value, kind):
            errors.append(_wrong(f"THUMBKIT[{key!r}]", value, kind))
        elif _out_of_range(key, value):
            low, high = RANGES[key]
            errors.append(
                Error(
                    f"THUMBKIT[{key!r}] = {value!r} is out of range ({low} to {high}).",
                    id="thumbkit.E009",
                )
            )
    return errors


def _out_of_range(key: str, value: Any) -> bool:
    if key not in RANGES or not isinstance(value, int | float):
        return False  # None, or a dict (QUALITY per format: _formats checks it)
    low, high = RANGES[key]
    return not low <= value <= high


def _formats(user: dict[str, Any]) -> list[CheckMessage]:
    """QUALITY per format ({"WEBP": 80}) and SIZES_ALLOWED's entries."""
    errors: list[CheckMessage] = []
    quality = user.get("QUALITY")
    if isinstance(quality, Mapping):
        for fmt, value in quality.items():
            name = str(fmt).upper()
            if name not in (*QUALITY_FORMATS, "JPG"):
                known = ", ".join(QUALITY_FORMATS)
                problem = f"has a key {fmt!r}; the formats with a quality are {known}"
            elif not (_is(value, int) and 1 <= value <= 100):
                problem = f"[{fmt!r}] = {value!r} is not an int from 1 to 100"
            else:
                continue
            errors.append(Error(f"THUMBKIT['QUALITY'] {problem}.", id="thumbkit.E009"))
    allowed = user.get("SIZES_ALLOWED")
    if allowed is not None:
        try:
            parse_sizes(allowed)
        except ValueError as exc:
            hint = 'A width (320), "320", "320x240" or "x240"; None allows every size.'
            errors.append(
                Error(
                    f"THUMBKIT['SIZES_ALLOWED'] is invalid: {exc}.", hint=hint, id="thumbkit.E009"
                )
            )
    return errors


def _limits(limits: Any) -> list[CheckMessage]:
    if not isinstance(limits, Mapping):
        return []  # reported by _types
    errors: list[CheckMessage] = []
    for key, value in limits.items():
        if key == "FORMATS":
            ok = isinstance(value, list | tuple) and all(isinstance(f, str) for f in value)
            if not ok:
                errors.append(_wrong("THUMBKIT['LIMITS']['FORMATS']", value, "list of str"))
        elif key in DEFAULT_LIMITS and value is not None and not (_is(value, int) and value > 0):
            errors.append(_wrong(f"THUMBKIT['LIMITS'][{key!r}]", value, "positive int or None"))
    return errors


def _is(value: Any, kind: Kind) -> bool:
    # bool is an int to Python, never to a user writing QUALITY = True.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        return False
    return isinstance(value, kind)


def _wrong(where: str, value: Any, kind: Kind | str) -> Error:
    expected = kind if isinstance(kind, str) else _kind_name(kind)
    return Error(
        f"{where} = {value!r} has the wrong type; expected {expected}.", id="thumbkit.E009"
    )


def _kind_name(kind: Kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _storage(user: dict[str, Any]) -> list[CheckMessage]:
    alias = user.get("STORAGE", DEFAULTS["STORAGE"])
    if alias in django_settings.STORAGES:
        return []
    return [
        Error(
            f"THUMBKIT['STORAGE'] = {alias!r} is not an alias in STORAGES.",
            hint=f"Aliases: {', '.join(sorted(django_settings.STORAGES))}.",
            id="thumbkit.E002",
        )
    ]


def _namers() -> dict[str, str]:
    from ..lookup.keys import NAMERS

    return {name: f"thumbkit.lookup.keys.{func.__name__}" for name, func in NAMERS.items()}


def _registry(package: str, name: str) -> dict[str, str]:
    module = importlib.import_module(f"thumbkit.{package}")
    registry: dict[str, str] = getattr(module, name)
    return registry


def _named(key: str, user: dict[str, Any], builtins: dict[str, str], id: str) -> list[CheckMessage]:
    value = user.get(key, DEFAULTS[key])
    if (key, value) in EXTRAS and not importable(EXTRAS[key, value][0]):
        return []  # reported as a missing extra (E005)
    path = builtins.get(value, value)
    problem = _import_problem(path)
    if problem is None:
        return []
    return [
        Error(
            f"THUMBKIT[{key!r}] = {value!r} is neither one of {', '.join(builtins)} "
            f"nor an importable dotted path: {problem}",
            id=id,
        )
    ]


def _import_problem(path: str) -> str | None:
    """Why ``path`` (``module.attr``) cannot be used, or None if it can."""
    module, _, attr = path.rpartition(".")
    if not module or not importable(module):
        return f"no module {module or path!r}."
    try:
        imported = importlib.import_module(module)
    except Exception as exc:  # a module that fails on import is reported, not raised
        return f"importing {module!r} failed: {exc!r}."
    return None if hasattr(imported, attr) else f"{module!r} has no {attr!r}."


def _extras(user: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for (key, value), (module, extra) in EXTRAS.items():
        if user.get(key, DEFAULTS[key]) == value and not importable(module):
            errors.append(
                Error(
                    f"THUMBKIT[{key!r}] = {value!r} needs the {module!r} package.",
                    hint=f"pip install 'django-thumbkit[{extra}]'",
                    id="thumbkit.E005",
                )
            )
    return errors


def _cache_alias(user: dict[str, Any]) -> list[CheckMessage]:
    if user.get("STORE", DEFAULTS["STORE"]) != "cache":
        return []
    alias = user.get("STORE_OPTIONS", {}).get("cache", "default")
    if alias in django_settings.CACHES:
        return []
    return [
        Error(
            f"The cache store uses the CACHES alias {alias!r}, which does not exist.",
            hint=f"Aliases: {', '.join(sorted(django_settings.CACHES))}.",
            id="thumbkit.E007",
        )
    ]


def _imported(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _store_options(user: dict[str, Any]) -> list[CheckMessage]:
    store = user.get("STORE", DEFAULTS["STORE"])
    options = user.get("STORE_OPTIONS", {})
    path = _registry("lookup.stores", "STORES").get(store, store)
    if _import_problem(path) is not None:
        return []  # reported as E003 or E005
    try:
        cls = _imported(path)
        problem = store_option_problem(cls, options)
    except (TypeError, ValueError):  # not a class with a signature: E003's business
        return []
    errors: list[CheckMessage] = []
    if problem is not None:
        errors.append(Error(problem, id="thumbkit.E014"))
    from ..lookup.stores.db import DatabaseStore

    if isinstance(cls, type) and issubclass(cls, DatabaseStore):
        errors += _db_alias(options.get("using"))
    return errors


def _db_alias(alias: Any) -> list[CheckMessage]:
    if alias is None or alias in django_settings.DATABASES:
        return []
    return [
        Error(
            f"The db store uses the DATABASES alias {alias!r}, which does not exist.",
            hint=f"Aliases: {', '.join(sorted(django_settings.DATABASES))}.",
            id="thumbkit.E015",
        )
    ]


def _strategy(user: dict[str, Any]) -> list[CheckMessage]:
    from ..lookup.strategies import STRATEGIES

    value = user.get("STRATEGY", DEFAULTS["STRATEGY"])
    errors: list[CheckMessage] = []
    problem = None if value in STRATEGIES else _import_problem(value)
    if problem is not None:
        errors.append(
            Error(
                f"THUMBKIT['STRATEGY'] = {value!r} is unknown: {problem}",
                hint=f"Choose one of {', '.join(STRATEGIES)}, or a strategy class's dotted path.",
                id="thumbkit.E008",
            )
        )
    if value == "deferred" and not (importable("django.tasks") or importable("django_tasks")):
        errors.append(
            Error(
                "THUMBKIT['STRATEGY'] = 'deferred' needs Django's Tasks framework.",
                hint="Use Django >= 6.0, or pip install django-tasks on Django 5.2.",
                id="thumbkit.E008",
            )
        )
    return errors + _deferred_fallback(user)


DEFERRED_FALLBACKS = ("none", "source", "predict")


def _deferred_fallback(user: dict[str, Any]) -> list[CheckMessage]:
    value = user.get("DEFERRED_FALLBACK", DEFAULTS["DEFERRED_FALLBACK"])
    if value in DEFERRED_FALLBACKS or value.startswith(("/", "http://", "https://", "data:")):
        return []
    return [
        Error(
            f"THUMBKIT['DEFERRED_FALLBACK'] = {value!r} is neither a mode nor a URL.",
            hint=f"Choose one of {', '.join(DEFERRED_FALLBACKS)}, or a URL starting with / "
            "or http(s)://.",
            id="thumbkit.E008",
        )
    ]


def _upload(user: dict[str, Any]) -> list[CheckMessage]:
    mode = user.get("UPLOAD", DEFAULTS["UPLOAD"])
    if mode not in UPLOAD_MODES:
        hint = f"Choose one of {', '.join(UPLOAD_MODES)}."
        return [Error(f"THUMBKIT['UPLOAD'] = {mode!r} is unknown.", hint=hint, id="thumbkit.E012")]
    if mode != "task":
        return []
    if not (importable("django.tasks") or importable("django_tasks")):
        return [
            Error(
                "THUMBKIT['UPLOAD'] = 'task' needs Django's Tasks framework.",
                hint="Use Django >= 6.0, or pip install django-tasks on Django 5.2.",
                id="thumbkit.E012",
            )
        ]
    backend = user.get("TASK_BACKEND", DEFAULTS["TASK_BACKEND"])
    tasks = getattr(django_settings, "TASKS", None) or {"default": {}}
    if backend in tasks:
        return []
    return [
        Error(
            f"THUMBKIT['TASK_BACKEND'] = {backend!r} is not an alias in TASKS.",
            hint=f"Aliases: {', '.join(sorted(tasks))}.",
            id="thumbkit.E012",
        )
    ]


ON_STORE_ERROR_MODES = ("fallback", "raise")


def _on_store_error(user: dict[str, Any]) -> list[CheckMessage]:
    mode = user.get("ON_STORE_ERROR", DEFAULTS["ON_STORE_ERROR"])
    if mode in ON_STORE_ERROR_MODES:
        return []
    return [
        Error(
            f"THUMBKIT['ON_STORE_ERROR'] = {mode!r} is unknown.",
            hint=f"Choose one of {', '.join(ON_STORE_ERROR_MODES)}.",
            id="thumbkit.E009",
        )
    ]


def _url_domain(user: dict[str, Any]) -> list[CheckMessage]:
    from urllib.parse import urlsplit

    value = (user.get("URL_DOMAIN") or "").strip().rstrip("/")
    if not value:
        return []
    parts = urlsplit(value if "//" in value else f"//{value}")
    host_only = not (parts.path or parts.query or parts.fragment)
    if parts.netloc and host_only and parts.scheme in ("", "http", "https"):
        return []
    return [
        Error(
            f"THUMBKIT['URL_DOMAIN'] = {value!r} is not a host.",
            hint='Give a host, optionally with a scheme: "cdn.example.com" or '
            '"https://cdn.example.com" (no path).',
            id="thumbkit.E009",
        )
    ]


def _specs() -> list[CheckMessage]:
    from ..conf import get_settings
    from ..core.spec import parse
    from ..exceptions import InvalidSpec

    errors: list[CheckMessage] = []
    for name in get_settings().specs:
        try:
            spec = parse(name)
        except InvalidSpec as exc:
            errors.append(
                Error(f"THUMBKIT['SPECS'][{name!r}] is invalid: {exc}", id="thumbkit.E006")
            )
        else:
            errors += step_extras(spec, f"THUMBKIT['SPECS'][{name!r}]")
    return errors


def step_extras(spec: Any, where: str, obj: Any = None) -> list[CheckMessage]:
    """E005 for each processor or post-processor of ``spec`` whose package is missing.

    A step names what it needs in ``thumbkit_requires`` (module, extra), as
    ``thumbkit.optimize.MozJpeg`` does; without this the first thumbnail would fail.
    """
    errors: list[CheckMessage] = []
    for step in (*spec.processors, *spec.post_processors):
        module, extra = getattr(step, "thumbkit_requires", (None, None))
        if module is not None and not importable(module):
            errors.append(
                Error(
                    f"{where} uses {type(step).__name__}, which needs the {module!r} package.",
                    hint=f"pip install 'django-thumbkit[{extra}]'",
                    obj=obj,
                    id="thumbkit.E005",
                )
            )
    return errors


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False

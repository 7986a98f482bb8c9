"""System checks for THUMBKIT settings, with stable ids.

=============  ==========================================================
thumbkit.E001  unknown key in THUMBKIT (or in THUMBKIT["LIMITS"])
thumbkit.E002  THUMBKIT["STORAGE"] is not an alias in STORAGES
thumbkit.E003  THUMBKIT["STORE"] is unknown or cannot be imported
thumbkit.E004  THUMBKIT["ENGINE"] is unknown or cannot be imported
thumbkit.E005  an optional extra the settings need is not installed
thumbkit.E006  a named spec in THUMBKIT["SPECS"] is invalid
thumbkit.E007  the cache store names a CACHES alias that does not exist
thumbkit.E008  THUMBKIT["STRATEGY"] is unknown
thumbkit.E009  THUMBKIT is not a dict, or a value has the wrong type
=============  ==========================================================
"""

from __future__ import annotations

import importlib.util
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, register

from .conf import DEFAULT_LIMITS, DEFAULTS, get_settings, user_settings

EXTRAS = {
    ("STORE", "redis"): ("redis", "redis"),
    ("ENGINE", "vips"): ("pyvips", "vips"),
}
BUILTIN_STORES = ("db", "cache", "redis")
BUILTIN_ENGINES = ("pillow", "vips")
BUILTIN_STRATEGIES = ("lazy",)


@register("thumbkit")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(django_settings, "THUMBKIT", None)
    if raw is not None and not isinstance(raw, dict):
        return [Error("THUMBKIT must be a dict.", id="thumbkit.E009")]
    user = user_settings()
    errors: list[CheckMessage] = []
    errors += _unknown_keys(user)
    errors += _types(user)
    if errors:
        return errors
    errors += _storage(user)
    errors += _named("STORE", user, BUILTIN_STORES, "thumbkit.E003")
    errors += _named("ENGINE", user, BUILTIN_ENGINES, "thumbkit.E004")
    errors += _extras(user)
    errors += _cache_alias(user)
    errors += _strategy(user)
    errors += _specs()
    return errors


def _unknown_keys(user: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = [
        Error(
            f"THUMBKIT has an unknown key {key!r}; it would silently do nothing.",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id="thumbkit.E001",
        )
        for key in sorted(set(user) - set(DEFAULTS))
    ]
    limits = user.get("LIMITS", {})
    if isinstance(limits, dict):
        errors += [
            Error(
                f"THUMBKIT['LIMITS'] has an unknown key {key!r}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULT_LIMITS))}.",
                id="thumbkit.E001",
            )
            for key in sorted(set(limits) - set(DEFAULT_LIMITS))
        ]
    return errors


def _types(user: dict[str, Any]) -> list[CheckMessage]:
    expected = {
        "STORAGE": str,
        "STORE": str,
        "ENGINE": str,
        "STRATEGY": str,
        "PREFIX": str,
        "STORE_OPTIONS": dict,
        "LIMITS": dict,
        "SPECS": dict,
        "QUALITY": int,
        "AVIF_SPEED": int,
        "LOCK_TIMEOUT": (int, float),
        "PROGRESSIVE": bool,
    }
    return [
        Error(f"THUMBKIT[{key!r}] has the wrong type: {user[key]!r}.", id="thumbkit.E009")
        for key, kind in expected.items()
        if key in user and not isinstance(user[key], kind)
    ]


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


def _named(key: str, user: dict[str, Any], builtins: tuple[str, ...], id: str) -> list[CheckMessage]:
    value = user.get(key, DEFAULTS[key])
    if value in builtins:
        return []
    module, _, attr = value.rpartition(".")
    if module and _importable(module):
        mod = importlib.import_module(module)
        if hasattr(mod, attr):
            return []
    return [
        Error(
            f"THUMBKIT[{key!r}] = {value!r} is neither one of {', '.join(builtins)} "
            "nor an importable dotted path.",
            id=id,
        )
    ]


def _extras(user: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for (key, value), (module, extra) in EXTRAS.items():
        if user.get(key, DEFAULTS[key]) == value and not _importable(module):
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


def _strategy(user: dict[str, Any]) -> list[CheckMessage]:
    value = user.get("STRATEGY", DEFAULTS["STRATEGY"])
    if value in BUILTIN_STRATEGIES:
        return []
    return [
        Error(
            f"THUMBKIT['STRATEGY'] = {value!r} is unknown.",
            hint=f"Choose one of {', '.join(BUILTIN_STRATEGIES)}.",
            id="thumbkit.E008",
        )
    ]


def _specs() -> list[CheckMessage]:
    from .exceptions import InvalidSpec
    from .spec import parse

    errors: list[CheckMessage] = []
    for name in get_settings().specs:
        try:
            parse(name)
        except InvalidSpec as exc:
            errors.append(Error(f"THUMBKIT['SPECS'][{name!r}] is invalid: {exc}", id="thumbkit.E006"))
    return errors


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False

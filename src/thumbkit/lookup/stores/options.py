"""Whether ``STORE_OPTIONS`` fit a store class: asked by ``build_store`` and system check E014."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

# Stores that hand their ``**options`` on to a client: what the client takes is accepted.
OPTION_TARGETS: dict[str, tuple[str, ...]] = {
    "thumbkit.lookup.stores.redis.RedisStore": (
        "redis.Redis",
        "redis.connection.ConnectionPool",
        "redis.connection.AbstractConnection",
        "redis.connection.Connection",
        "redis.connection.SSLConnection",
        "redis.connection.UnixDomainSocketConnection",
    ),
}


def store_option_problem(cls: type, options: Mapping[Any, Any]) -> str | None:
    """Why ``cls(**options)`` cannot work (naming the first bad key), or None.

    Compared with the constructor's signature, so a misspelt key is found when the project
    starts, not as a ``TypeError`` at the first lookup (redis-py takes unknown keys and only
    fails when it connects). A store with ``**kwargs`` accepts anything unless its options
    are known to go to a client (OPTION_TARGETS).
    """
    accepted = _store_parameters(cls)
    if accepted is None:
        return None
    for key in options:
        if not isinstance(key, str) or key not in accepted:
            return (
                f"THUMBKIT['STORE_OPTIONS'] has the key {key!r}, which {_path(cls)} does not "
                f"take. It takes: {', '.join(sorted(accepted)) or 'no options'}."
            )
    return None


def _store_parameters(cls: type) -> set[str] | None:
    names, open_ended = _parameters(cls)
    if not open_ended:
        return names
    found = False
    for target in OPTION_TARGETS.get(_path(cls), ()):
        try:
            more, _ = _parameters(_imported(target))
        except (ImportError, AttributeError, TypeError, ValueError):
            continue  # a client version without this class: its siblings still count
        names |= more
        found = True
    # Without the client installed (E005) its parameters are unknown: accept anything.
    return names if found else None


def _parameters(target: Callable[..., Any]) -> tuple[set[str], bool]:
    """The keyword parameters of a class or function, and whether it takes ``**kwargs``."""
    signature = inspect.signature(target)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = signature.parameters.values()
    names = {p.name for p in params if p.kind in kinds} - {"self"}
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _imported(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"

"""Processors and post-processors attached to a spec, and their canonical text.

A *processor* is any object with ``process(image) -> image`` working on a Pillow image (so
pilkit's and imagekit's processors plug in unchanged); it runs after the spec's geometry.
A *post-processor* (an optimizer) is any object with ``process(data, format) -> bytes``
working on the encoded file.

In settings they are written as dotted paths, or as dicts with ``"PATH"`` plus keyword
arguments (the django-thumbnails style)::

    "SPECS": {"small": {"size": "100x100", "crop": "center",
                        "processors": [{"PATH": "thumbkit.processors.Adjust", "contrast": 1.2}],
                        "post_processors": ["thumbkit.optimize.MozJpeg"]}}

A dotted path naming a function makes a processor that calls ``func(image, **kwargs)``
(``func(data, format, **kwargs)`` for post-processors). Every step has a canonical text
(class path and arguments) that is part of the spec's key, so changing a pipeline makes new
files.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.utils.module_loading import import_string

from .exceptions import InvalidSpec


class FunctionStep:
    """A plain function made into a processor (or post-processor) with fixed kwargs."""

    def __init__(self, func: Callable[..., Any], path: str, kwargs: Mapping[str, Any]) -> None:
        self.func, self.path, self.kwargs = func, path, dict(kwargs)

    def process(self, *args: Any) -> Any:
        return self.func(*args, **self.kwargs)

    def thumbkit_text(self) -> str:
        return _call_text(self.path, self.kwargs)


def load_steps(value: Any, kind: str) -> tuple[Any, ...]:
    """Turn a list of objects, dotted paths or {"PATH": ..., **kwargs} into step objects."""
    if value is None:
        return ()
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        value = [value]
    return tuple(_load(item, kind) for item in value)


def _load(item: Any, kind: str) -> Any:
    if isinstance(item, str):
        return _from_path(item, {}, kind)
    if isinstance(item, Mapping):
        options = dict(item)
        path = options.pop("PATH", None)
        if not isinstance(path, str):
            raise InvalidSpec(f"A {kind} written as a dict needs a 'PATH': {item!r}.")
        return _from_path(path, options, kind)
    if callable(getattr(item, "process", None)):
        return item
    raise InvalidSpec(f"A {kind} needs a process() method, a dotted path or a dict: {item!r}.")


def _from_path(path: str, kwargs: Mapping[str, Any], kind: str) -> Any:
    try:
        target = import_string(path)
    except ImportError as exc:
        raise InvalidSpec(f"The {kind} {path!r} cannot be imported: {exc}") from exc
    if inspect.isclass(target):
        return target(**kwargs)
    if callable(target):
        return FunctionStep(target, path, kwargs)
    raise InvalidSpec(f"The {kind} {path!r} is neither a class nor a function.")


def step_text(step: Any) -> str:
    """The canonical text of a step: its own ``thumbkit_text()``, else class and attributes."""
    own = getattr(step, "thumbkit_text", None)
    if callable(own):
        return str(own())
    cls = type(step)
    state = {k: v for k, v in sorted(vars(step).items()) if not k.startswith("_")}
    return _call_text(f"{cls.__module__}.{cls.__qualname__}", state)


def steps_text(steps: Sequence[Any]) -> str:
    return "[" + ";".join(step_text(s) for s in steps) + "]"


def run(image: Any, processors: Sequence[Any]) -> Any:
    for processor in processors:
        image = processor.process(image)
    return image


def run_post(data: bytes, fmt: str, post_processors: Sequence[Any]) -> bytes:
    for step in post_processors:
        data = step.process(data, fmt)
    return data


def _call_text(path: str, kwargs: Mapping[str, Any]) -> str:
    args = ",".join(f"{k}={_value_text(v)}" for k, v in sorted(kwargs.items()))
    return f"{path}({args})"


def _value_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "(" + ",".join(_value_text(v) for v in value) + ")"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_value_text(v)}" for k, v in sorted(value.items())) + "}"
    if callable(getattr(value, "process", None)):
        return step_text(value)
    return repr(value).replace(" ", "")

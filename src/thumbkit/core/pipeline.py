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

A dotted path naming a function (or a plain function given in code) makes a step that calls
``func(image, **kwargs)`` (``func(data, format, **kwargs)`` for post-processors); a class
given in code is instantiated without arguments; nested lists (``ProcessorPipeline``) are
flattened. Every step has a canonical text (class path and arguments) that is part of the
spec's key, so changing a pipeline makes new files, and one pipeline written two ways
(object or dotted path, nested or flat) makes one file.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from typing import Any

from django.utils.module_loading import import_string
from PIL import Image

from ..exceptions import GenerationError, InvalidSpec

Size = tuple[int, int]
SizeCheck = Callable[[Size], None]


class FunctionStep:
    """A plain function made into a processor (or post-processor) with fixed kwargs."""

    def __init__(self, func: Callable[..., Any], path: str, kwargs: Mapping[str, Any]) -> None:
        self.func, self.path, self.kwargs = func, path, dict(kwargs)

    def process(self, *args: Any) -> Any:
        return self.func(*args, **self.kwargs)

    def thumbkit_text(self) -> str:
        # The function's own location, so a re-exported path and the object agree; a
        # lambda's ("module.<lambda>") is not unique, so it keeps the path it was named by.
        own = _qualified(self.func)
        return _call_text(own if own and "<" not in own else self.path, self.kwargs)


def load_steps(value: Any, kind: str) -> tuple[Any, ...]:
    """Turn a list of objects, dotted paths or {"PATH": ..., **kwargs} into step objects."""
    if value is None:
        return ()
    steps = tuple(_load(item, kind) for item in _flattened(value))
    for step in steps:
        step_text(step)  # a step without a stable text is a bad spec: say so now, not later
    return steps


def _flattened(value: Any) -> Iterator[Any]:
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        yield value
        return
    for item in value:
        yield from _flattened(item)


def _load(item: Any, kind: str) -> Any:
    if isinstance(item, str):
        return _from_path(item, {}, kind)
    if isinstance(item, Mapping):
        options = dict(item)
        path = options.pop("PATH", None)
        if not isinstance(path, str):
            raise InvalidSpec(f"A {kind} written as a dict needs a 'PATH': {item!r}.")
        return _from_path(path, options, kind)
    if inspect.isclass(item) or inspect.isroutine(item):
        return _made(item, _named(item), {}, kind)
    if callable(getattr(item, "process", None)):
        return item
    raise InvalidSpec(f"A {kind} needs a process() method, a dotted path or a dict: {item!r}.")


def _from_path(path: str, kwargs: Mapping[str, Any], kind: str) -> Any:
    try:
        target = import_string(path)
    except ImportError as exc:
        raise InvalidSpec(f"The {kind} {path!r} cannot be imported: {exc}") from exc
    if not callable(target):
        raise InvalidSpec(f"The {kind} {path!r} is neither a class nor a function.")
    return _made(target, path, kwargs, kind)


def _made(target: Callable[..., Any], path: str, kwargs: Mapping[str, Any], kind: str) -> Any:
    if not inspect.isclass(target):
        return FunctionStep(target, path, kwargs)
    try:
        step = target(**kwargs)
    except Exception as exc:  # user code: bad arguments must read as a bad spec
        raise InvalidSpec(f"The {kind} {path}({_kwargs_text(kwargs)}) failed: {exc}") from exc
    if not callable(getattr(step, "process", None)):
        raise InvalidSpec(f"The {kind} {path!r} has no process() method.")
    return step


def step_text(step: Any) -> str:
    """The canonical text of a step: its own ``thumbkit_text()``, else class and attributes.

    It must be the same in every process and release, so values are written by what they
    are, never by ``id()``: a value whose text would hold a memory address is refused.
    """
    own = getattr(step, "thumbkit_text", None)
    if callable(own):
        return str(own())
    path = _qualified(type(step)) or type(step).__name__
    if isinstance(step, list | tuple):  # pilkit's ProcessorPipeline is a list of steps
        return path + steps_text(step)
    return _call_text(path, _state(step))


def steps_text(steps: Sequence[Any]) -> str:
    return "[" + ";".join(step_text(s) for s in steps) + "]"


def output_size(steps: Sequence[Any], size: Size) -> Size | None:
    """The size ``steps`` make from ``size``, when every step can tell (see processors)."""
    for step in steps:
        predict = getattr(step, "output_size", None)
        if not callable(predict):
            return None
        predicted = predict(size)
        if predicted is None:
            return None
        size = predicted
    return size


def run(
    image: Image.Image, processors: Sequence[Any], check: SizeCheck | None = None
) -> Image.Image:
    """Run ``processors`` in order, each on the image the one before returned.

    ``check`` (a LIMITS check) sees every size a step announces (``target_size``,
    ``output_size``) before it runs, so a huge canvas is refused before it is allocated,
    and every size a step made after it ran.
    """
    for processor in processors:
        if check is not None:
            _check_planned(processor, image.size, check)
        image = processor.process(image)
        if not isinstance(image, Image.Image):
            raise GenerationError(f"The processor {step_text(processor)} returned {image!r}.")
        if check is not None:
            check(image.size)
    return image


def _check_planned(processor: Any, size: Size, check: SizeCheck) -> None:
    for hint in ("target_size", "output_size"):
        predict = getattr(processor, hint, None)
        planned = predict(size) if callable(predict) else None
        if planned is not None:
            check(planned)


def run_post(data: bytes, fmt: str, post_processors: Sequence[Any]) -> bytes:
    for step in post_processors:
        data = step.process(data, fmt)
        if not isinstance(data, bytes | bytearray | memoryview) or not data:
            raise GenerationError(f"The post-processor {step_text(step)} returned no bytes.")
        data = bytes(data)
    return data


def _state(step: Any) -> dict[str, Any]:
    names = getattr(step, "__dict__", None)
    if names is None:
        slots = [s for c in type(step).__mro__ for s in getattr(c, "__slots__", ())]
        names = {s: getattr(step, s) for s in slots if hasattr(step, s)}
    return {k: v for k, v in names.items() if not k.startswith("_")}


def _qualified(obj: Any) -> str | None:
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{name}" if module and name else None


def _named(obj: Any) -> str:
    """The import path of a function or class; lambdas and local ones have no unique one."""
    path = _qualified(obj)
    if path is None or "<" in path:
        raise InvalidSpec(f"{obj!r} has no import path; define it at module level.")
    return path


def _call_text(path: str, kwargs: Mapping[str, Any]) -> str:
    return f"{path}({_kwargs_text(kwargs)})"


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={_value_text(v)}" for k, v in sorted(kwargs.items()))


def _value_text(value: Any) -> str:
    if isinstance(value, enum.Enum):  # before int: Pillow's constants are IntEnums
        return f"{_qualified(type(value))}.{value.name}"
    if value is None or isinstance(value, bool | int | float | complex):
        return repr(value)
    if isinstance(value, str | bytes):
        # No spaces (the spec's canonical text is space-separated), but no collisions either.
        return repr(value).replace(" ", "\\x20")
    if inspect.isclass(value) or inspect.isroutine(value):
        return _named(value)
    if isinstance(value, list | tuple):
        return "(" + ",".join(_value_text(v) for v in value) + ")"
    if isinstance(value, Set):
        return "{" + ",".join(sorted(_value_text(v) for v in value)) + "}"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_value_text(v)}" for k, v in sorted(value.items())) + "}"
    if callable(getattr(value, "process", None)):
        return step_text(value)
    if isinstance(value, Image.Image):
        digest = hashlib.sha256(f"{value.mode}:{value.size}".encode() + value.tobytes())
        return "image:" + digest.hexdigest()[:32]
    return _object_text(value)


def _object_text(value: Any) -> str:
    text = repr(value)
    if " at 0x" not in text:
        return text.replace(" ", "\\x20")
    state = getattr(value, "__dict__", None)
    if state is None:
        raise InvalidSpec(
            f"{text} has no stable text for a thumbnail key; give its class a thumbkit_text()."
        )
    return _call_text(_qualified(type(value)) or type(value).__name__, _state(value))

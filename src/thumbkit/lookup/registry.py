"""Generator ids and source groups: ``thumbkit.register``, imagekit's registry.

::

    from thumbkit import ImageSpec, register

    class Thumbnail(ImageSpec):
        processors = [ResizeToFill(100, 50)]

    register.generator("myapp:thumbnail", Thumbnail)       # or @register.generator("...")
    register.source_group("myapp:thumbnail", JpegsInADirectory("/pics"))

Modules named ``imagegenerators`` in installed apps are imported when Django starts, so
registrations there need no import of their own. Ids are free text; colons separate parts
by convention, and patterns given to ``generateimages`` use ``*`` for any run of characters.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from ..exceptions import ConfigurationError

G = TypeVar("G")


class SourceGroup(Protocol):
    """Sources a generator id is used with, for ``generateimages``.

    Example: every JPEG in a directory (imagekit's docs)::

        class JpegsInADirectory:
            def __init__(self, dir):
                self.dir = dir
            def files(self):
                for path in sorted(pathlib.Path(self.dir).glob("*.jpg")):
                    yield django.core.files.File(open(path, "rb"), name=path.name)
    """

    def files(self) -> Iterable[Any]:
        """Yield sources: FieldFiles, Django Files or storage names."""


class AlreadyRegistered(ConfigurationError):
    """A generator id is taken by another generator."""


class NotRegistered(ConfigurationError):
    """No generator has this id."""


class Registry:
    def __init__(self) -> None:
        self._generators: dict[str, Any] = {}
        self._groups: dict[str, list[SourceGroup]] = {}
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` whenever a generator id is registered or unregistered (the
        resolver forgets its cached answers: an id may now mean another spec)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def generator(self, id: str, generator: Any = None) -> Any:
        """Register ``generator`` (an ImageSpec subclass or any callable) under ``id``.

        Without ``generator`` it returns a class decorator. Registering the same generator
        twice is harmless; another one under a taken id raises :class:`AlreadyRegistered`.
        """
        if generator is None:

            def decorate(cls: G) -> G:
                self.generator(id, cls)
                return cls

            return decorate
        current = self._generators.get(id)
        if current is not None and not _same(current, generator):
            raise AlreadyRegistered(f"The generator id {id!r} is taken by {current!r}.")
        if current is not generator:
            self._generators[id] = generator
            self._changed()
        return generator

    def source_group(self, id: str, group: SourceGroup) -> None:
        """Tell ``generateimages`` which sources ``id`` is used with (several groups allowed)."""
        groups = self._groups.setdefault(id, [])
        if all(existing is not group for existing in groups):
            groups.append(group)

    def __contains__(self, id: object) -> bool:
        """Whether a generator is registered as ``id`` (the resolver's third step)."""
        return id in self._generators

    def unregister(self, id: str) -> None:
        if self._generators.pop(id, None) is not None:
            self._changed()
        self._groups.pop(id, None)

    def get(self, id: str) -> Any:
        try:
            return self._generators[id]
        except KeyError:
            known = ", ".join(sorted(self._generators)) or "none"
            raise NotRegistered(f"No generator is registered as {id!r}; known: {known}.") from None

    def make(self, id: str, **kwargs: Any) -> Any:
        """An instance of the generator ``id``, made with ``kwargs`` (``source=...``)."""
        generator = self.get(id)(**kwargs)
        # Remembered so the spec can name itself by (id, kwargs) to another process.
        with contextlib.suppress(AttributeError, TypeError):
            generator._thumbkit_generator_id = id
            generator._thumbkit_generator_kwargs = {
                k: v for k, v in kwargs.items() if k != "source"
            }
        return generator

    def ids(self, patterns: Iterable[str] = ()) -> list[str]:
        """Registered ids matching any of ``patterns`` (all when none), sorted."""
        matchers = [_pattern(p) for p in patterns]
        return sorted(id for id in self._generators if not matchers or any(m(id) for m in matchers))

    def source_groups(self, id: str) -> list[SourceGroup]:
        return list(self._groups.get(id, ()))

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(list(self._generators.items()))


def _pattern(text: str) -> Callable[[str], bool]:
    regex = re.compile(".*".join(re.escape(part) for part in text.split("*")) + r"\Z")
    return lambda id: regex.match(id) is not None


def _same(a: Any, b: Any) -> bool:
    # Re-importing a module (autoreload, tests) makes a new class of the same name.
    return a is b or (
        getattr(a, "__module__", None) == getattr(b, "__module__", None)
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
    )


register = Registry()


def autodiscover() -> None:
    """Import ``<app>.imagegenerators`` for every installed app that has one."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("imagegenerators")

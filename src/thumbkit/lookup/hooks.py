"""Questions the lookup layer asks the layers above it, answered at ``AppConfig.ready()``.

``batch``, ``strategies`` and ``refs`` need answers only the Django adapters (peers, tasks,
the endpoint) or the API built on top of them have. They do not import those modules (the
import graph has one direction, see docs/architecture.md): ``ThumbkitConfig.ready()`` puts
the answers in these slots. Each slot is a module attribute, so asking costs one attribute
read. ``lifecycle`` asks for the upload task the same way (``tasks`` imports ``lifecycle``).
Before ``ready()`` (thumbkit not in INSTALLED_APPS) a lookup gathers no peers, and the rest
raise a ConfigurationError that says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from ..core.spec import Spec
from ..exceptions import ConfigurationError
from .source import Source
from .thumbnail import Thumbnail


def _no_peers(sources: Iterable[Source]) -> list[Source]:
    return []


def not_ready(*args: Any, **kwargs: Any) -> NoReturn:
    raise ConfigurationError(
        "thumbkit's app is not ready: add 'thumbkit' to INSTALLED_APPS (its AppConfig.ready() "
        "connects the task framework, the on-demand endpoint and spec references)."
    )


#: The sources of the rows loaded together with the rows ``sources`` belong to (their peers),
#: so one store read covers a page. Filled with ``thumbkit.adapters.peers.peer_sources``.
peer_sources: Callable[[Iterable[Source]], list[Source]] = _no_peers

#: Returns the function that enqueues one deferred thumbnail (``tasks.enqueue_thumbnail``);
#: raises ConfigurationError when there is no Tasks framework.
thumbnail_enqueuer: Callable[[], Callable[..., Any]] = not_ready

#: Returns the function that enqueues an upload's declared thumbnails (``lifecycle`` asks for
#: ``tasks.enqueue_field_thumbnails``: tasks imports lifecycle); raises without Tasks.
field_thumbnails_enqueuer: Callable[[], Callable[..., Any]] = not_ready

#: The ``on_demand`` strategy's record of a missing thumbnail: ``endpoint.signed_record``.
signed_record: Callable[[Source, Spec, str], Thumbnail] = not_ready

#: The spec a ``{"spec": text, "options": {...}}`` reference names: ``api.get_spec``.
spec_from_text: Callable[..., Spec] = not_ready

#: The class a ``{"class": path}`` reference must subclass: ``generators.ImageSpec``.
image_spec_class: type[Any] | None = None

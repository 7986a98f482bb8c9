"""Child processes of the lock tests (spawned: they set Django up from a config dict).

``child_hold`` takes a generation lock and hangs holding it until it is SIGKILLed;
``child_generate`` asks for a thumbnail and reports how long that took. With a file SQLite
database in the config (the parent's test database is in memory), the holder migrates it
first, so both children share the lock table.
"""

from __future__ import annotations

import time
from typing import Any

from tests.stores_util import _child_setup


def child_hold(config: dict[str, Any], key: str, timeout: float, taken: Any) -> None:
    _child_setup(config)
    if config.get("migrate"):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    from thumbkit.lookup.stores import get_store

    held = get_store().lock(key, timeout)
    if held.__enter__():
        taken.set()
    time.sleep(600)


def child_generate(config: dict[str, Any], results: Any) -> None:
    try:
        _child_setup(config)
        from django.db import connections

        from thumbkit import get_thumbnail
        from thumbkit.signals import thumbnails_generated

        generated: list[int] = []
        thumbnails_generated.connect(
            lambda **kw: generated.append(len(kw["thumbnails"])), weak=False
        )
        if config.get("warm"):  # not timed: imports and connections of a fresh process
            get_thumbnail(config["source"], config["warm"])
            generated.clear()
        started = time.monotonic()
        thumb = get_thumbnail(config["source"], config["spec"])
        seconds = time.monotonic() - started
        connections.close_all()
        results.put({"seconds": seconds, "generated": sum(generated), "name": thumb.name})
    except BaseException as exc:
        results.put({"error": f"{type(exc).__name__}: {exc}"})

"""What every benchmark worker shares: the environment, counters and the result protocol.

Workers are separate processes (each library needs its own ``INSTALLED_APPS``); the
orchestrator (``benchmarks/run.py``) passes them an :class:`Env` as JSON and reads one
``BENCH-RESULT`` JSON line back from their stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from django.core.files.storage import FileSystemStorage

RESULT_PREFIX = "BENCH-RESULT "
REDIS_URL = os.environ.get("THUMBKIT_BENCH_REDIS", "redis://127.0.0.1:6379/12")
PG = {"HOST": "127.0.0.1", "PORT": "5432", "USER": "postgres"}
# Read by the orchestrator and inherited by its workers (see CountingStorage).
STORAGE_CLASS = (
    "UrlCountingStorage" if os.environ.get("THUMBKIT_BENCH_COUNT_URL") else "CountingStorage"
)


@dataclass(frozen=True)
class Env:
    """Where a run keeps its files, and which services it uses."""

    work: str  # temporary directory of this run
    db: str  # "postgres" | "sqlite"
    redis: bool  # Redis reachable: configurations that need it run
    run: str  # this run's id: part of every database name and Redis key it makes
    rows: int = 1000  # the largest page: rows inserted and thumbnails made

    @property
    def mark(self) -> str:
        """In every Redis key and database name of this run, so two runs never collide."""
        return f"tkbench_{self.run}"

    @property
    def media(self) -> Path:
        return Path(self.work) / "media"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Env:
        return cls(**json.loads(text))


def database(env: Env, name: str) -> dict[str, Any]:
    """The ``default`` database of one library's workers (each library has its own)."""
    if env.db == "postgres":
        return {"ENGINE": "django.db.backends.postgresql", "NAME": f"{env.mark}_{name}", **PG}
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(env.work) / f"{name}.db")}


def base_settings(env: Env, name: str) -> dict[str, Any]:
    """Settings shared by every worker; libraries add their apps and options."""
    counting = {
        "BACKEND": f"benchmarks.common.{STORAGE_CLASS}",
        "OPTIONS": {"location": str(env.media), "base_url": "/media/"},
    }
    return {
        "SECRET_KEY": "thumbkit-benchmarks",
        "DEBUG": False,
        "USE_TZ": True,
        "ALLOWED_HOSTS": ["*"],
        "INSTALLED_APPS": ["django.contrib.contenttypes", "benchmarks.listpage.apps.BenchConfig"],
        "DATABASES": {"default": database(env, name)},
        "CACHES": {
            # Room for every record: LocMemCache culls at 300 entries by default.
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "OPTIONS": {"MAX_ENTRIES": 1_000_000},
            },
            "redis": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"{env.mark}-{name}",
            },
        },
        "STORAGES": {
            "default": counting,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        "MEDIA_ROOT": str(env.media),
        "MEDIA_URL": "/media/",
        "TEMPLATES": [{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        "LOGGING_CONFIG": None,
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
    }


def configure(settings: dict[str, Any]) -> None:
    import django
    from django.conf import settings as django_settings

    count_redis()
    django_settings.configure(**settings)
    django.setup()


# --- counters ------------------------------------------------------------------------------


class CountingStorage(FileSystemStorage):
    """FileSystemStorage that counts its I/O calls (class-wide: sources and thumbnails alike).

    ``url`` is not overridden: a subclass that overrides it is no longer a plain
    FileSystemStorage to thumbkit (``thumbnail.url_is_pure``), which then asks the storage
    for every URL instead of caching it, a path no real FileSystemStorage takes. Set
    ``THUMBKIT_BENCH_COUNT_URL=1`` to count ``url`` calls too (:class:`UrlCountingStorage`).
    """

    calls: ClassVar[Counter[str]] = Counter()

    def _count(self, name: str) -> None:
        CountingStorage.calls[name] += 1

    def open(self, name: str, mode: str = "rb") -> Any:
        self._count("open")
        return super().open(name, mode)

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        self._count("save")
        return super().save(name, content, max_length)

    def delete(self, name: str) -> None:
        self._count("delete")
        super().delete(name)

    def exists(self, name: str) -> bool:
        self._count("exists")
        return super().exists(name)

    def size(self, name: str) -> int:
        self._count("size")
        return super().size(name)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        self._count("listdir")
        return super().listdir(path)

    def get_modified_time(self, name: str) -> Any:
        self._count("get_modified_time")
        return super().get_modified_time(name)

    def get_accessed_time(self, name: str) -> Any:
        self._count("get_accessed_time")
        return super().get_accessed_time(name)

    def get_created_time(self, name: str) -> Any:
        self._count("get_created_time")
        return super().get_created_time(name)


class UrlCountingStorage(CountingStorage):
    """CountingStorage that counts ``url`` calls too (which defeats thumbkit's URL cache)."""

    def url(self, name: str | None) -> str:
        self._count("url")
        return super().url(name)


class RedisCounter:
    """Commands sent and round trips made by every redis-py connection of this process."""

    commands = 0
    round_trips = 0


def count_redis() -> None:
    """Wrap redis-py's connection so every command and every socket write is counted.

    A plain command is one command and one round trip; a pipeline is N commands and one
    round trip. Connection handshakes (CLIENT SETINFO, SELECT) count too: they are real.
    """
    try:
        from redis.connection import AbstractConnection
    except ImportError:
        return
    if getattr(AbstractConnection, "_tkbench_counted", False):
        return
    send_packed: Callable[..., None] = AbstractConnection.send_packed_command
    send_command: Callable[..., None] = AbstractConnection.send_command
    pack_commands: Callable[..., Any] = AbstractConnection.pack_commands

    def counted_send_packed(self: Any, command: Any, check_health: bool = True) -> None:
        RedisCounter.round_trips += 1
        send_packed(self, command, check_health)

    def counted_send_command(self: Any, *args: Any, **kwargs: Any) -> None:
        RedisCounter.commands += 1
        send_command(self, *args, **kwargs)

    def counted_pack_commands(self: Any, commands: Any) -> Any:
        commands = list(commands)
        RedisCounter.commands += len(commands)
        return pack_commands(self, commands)

    AbstractConnection.send_packed_command = counted_send_packed  # type: ignore[method-assign]
    AbstractConnection.send_command = counted_send_command  # type: ignore[method-assign]
    AbstractConnection.pack_commands = counted_pack_commands  # type: ignore[method-assign]
    AbstractConnection._tkbench_counted = True  # type: ignore[attr-defined]


@dataclass
class Counts:
    queries: int = 0
    redis_commands: int = 0
    redis_round_trips: int = 0
    storage_io: int = 0
    storage: dict[str, int] | None = None


class Counting:
    """Count SQL queries, Redis commands and storage calls made inside a ``with`` block."""

    def __enter__(self) -> Counting:
        from django.db import connection

        self.queries = 0
        self._wrapper = connection.execute_wrapper(self._query)
        self._wrapper.__enter__()
        self._redis = (RedisCounter.commands, RedisCounter.round_trips)
        self._storage = Counter(CountingStorage.calls)
        return self

    def _query(self, execute: Callable[..., Any], *args: Any) -> Any:
        self.queries += 1
        return execute(*args)

    def __exit__(self, *exc: Any) -> None:
        self._wrapper.__exit__(*exc)
        calls = Counter(CountingStorage.calls)
        calls.subtract(self._storage)
        detail = {name: n for name, n in sorted(calls.items()) if n}
        self.counts = Counts(
            queries=self.queries,
            redis_commands=RedisCounter.commands - self._redis[0],
            redis_round_trips=RedisCounter.round_trips - self._redis[1],
            storage_io=sum(n for name, n in detail.items() if name != "url"),
            storage=detail,
        )


# --- memory ----------------------------------------------------------------------------------


def _status(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def reset_peak() -> int:
    """Reset the process's peak RSS to its current RSS (Linux ``clear_refs``); return RSS."""
    # Without it the peak counts from process start: an overestimate, never an underestimate.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def peak_rss() -> int:
    return _status("VmHWM")


# --- results ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def emit(result: dict[str, Any]) -> None:
    """Hand a result to the orchestrator (one line on stdout)."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def parse_results(stdout: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[len(RESULT_PREFIX) :])
        for line in stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]

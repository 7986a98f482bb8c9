"""The ``redis`` store: records in Redis through redis-py (``pip install django-thumbkit[redis]``).

Batch reads are one ``MGET``; writes are one pipeline of ``SET`` + ``HSET`` (the per-source
index is a Redis hash of the source's records). ``get_sources``, a list page's one read, is
one ``EVAL`` of a script that runs ``HGETALL`` on every index and answers in one reply: a
pipeline of one ``HGETALL`` per row is one round trip too, but redis-py packs each command
and parses each reply in Python (``benchmarks/redis_read.py`` compares them). Locks are
``SET NX PX`` (in a script that also returns the holder, so a dead holder's lock is taken
over at once: see :mod:`thumbkit.lookup.stores.locks`), released by a compare-and-delete
script. No ``KEYS``: maintenance walks records with ``SCAN``.

Every call is bounded: ``connect_timeout`` and ``socket_timeout`` (0.5 s each by default;
redis-py's own default is 5 s, too long for a page) cap connecting and each reply, and the
client makes no retries. A refused connection or a timeout raises
:class:`~thumbkit.exceptions.StoreUnavailable`, which pages turn into their fallback.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ...exceptions import ConfigurationError, StoreError, StoreUnavailable
from ..thumbnail import Thumbnail
from . import locks

# A lock's value starts with its holder's token (see locks.encode); ARGV[1] is "token:".
_RELEASE = """
local v = redis.call('get', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
# Take a free lock, or say who holds it: one round trip either way.
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return redis.call('get', KEYS[1])
"""
# Take over the lock of a dead holder, if it is still the value that was found dead.
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
# Every index in KEYS, in order: one flat field/value list each (empty for a missing key).
# Sent with EVAL, not EVALSHA: the server caches the compiled script by its text, and a
# list page never pays the NOSCRIPT round trip of a server that has not seen it yet.
_READ_INDEXES = """
local found = {}
for i, key in ipairs(KEYS) do found[i] = redis.call('hgetall', key) end
return found
"""
# The holder's heartbeat: a new value, the same expiry (a heartbeat never extends a lock).
_BEAT = """
local v = redis.call('get', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  local ttl = redis.call('pttl', KEYS[1])
  if ttl > 0 then
    redis.call('set', KEYS[1], ARGV[2], 'PX', ttl)
    return 1
  end
end
return 0
"""


class RedisStore:
    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "thumbkit:",
        socket_timeout: float = 0.5,
        connect_timeout: float = 0.5,
        **options: Any,
    ) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ConfigurationError(
                "The redis store needs redis-py: pip install 'django-thumbkit[redis]'."
            ) from exc
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        # Unreachable or too slow, as opposed to refusing a command (wrong type, no auth).
        self._unavailable: tuple[type[BaseException], ...] = (
            redis.ConnectionError,
            redis.TimeoutError,
            OSError,
        )
        self.prefix = prefix
        # redis-py's own name for the connect timeout is accepted too.
        connect_timeout = options.pop("socket_connect_timeout", connect_timeout)
        self.client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout, **options
        )
        self._release = self.client.register_script(_RELEASE)
        self._acquire = self.client.register_script(_ACQUIRE)
        self._take_over = self.client.register_script(_TAKE_OVER)
        self._beat = self.client.register_script(_BEAT)

    def _record(self, key: str) -> str:
        return f"{self.prefix}r:{key}"

    def _index(self, source_key: str) -> str:
        return f"{self.prefix}s:{source_key}"

    @contextmanager
    def _mapped(self, action: str) -> Iterator[None]:
        try:
            yield
        except self._unavailable as exc:
            raise StoreUnavailable(f"{action} in Redis failed: {exc}") from exc
        except self._errors as exc:
            raise StoreError(f"{action} in Redis failed: {exc}") from exc

    def get_many(self, keys: Sequence[str]) -> dict[str, Thumbnail]:
        if not keys:
            return {}
        with self._mapped("Reading thumbnail records"):
            values = self.client.mget([self._record(k) for k in keys])
        return {k: Thumbnail.from_json(v) for k, v in zip(keys, values, strict=True) if v}

    def set_many(self, thumbnails: Sequence[Thumbnail]) -> None:
        if not thumbnails:
            return
        with self._mapped("Writing thumbnail records"):
            pipe = self.client.pipeline(transaction=False)
            for t in thumbnails:
                pipe.set(self._record(t.key), t.to_json())
                pipe.hset(self._index(t.source_key), t.key, t.to_json())
            pipe.execute()

    def delete_many(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        records = self.get_many(keys)
        with self._mapped("Deleting thumbnail records"):
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(*[self._record(k) for k in keys])
            for t in records.values():
                pipe.hdel(self._index(t.source_key), t.key)
            pipe.execute()

    def get_sources(self, source_keys: Sequence[str]) -> dict[str, dict[str, Thumbnail]]:
        if not source_keys:
            return {}
        names = [self._index(key) for key in source_keys]
        with self._mapped("Reading source indexes"):
            hashes = self.client.eval(_READ_INDEXES, len(names), *names)
        return {key: _records(flat) for key, flat in zip(source_keys, hashes, strict=True) if flat}

    def source_keys(self, source_key: str) -> list[str]:
        with self._mapped("Reading the source index"):
            members = self.client.hkeys(self._index(source_key))
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    def iter_all(self) -> Iterator[Thumbnail]:
        with self._mapped("Scanning thumbnail records"):
            batch: list[Any] = []
            for name in self.client.scan_iter(match=f"{self.prefix}r:*", count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    yield from self._load(batch)
                    batch = []
            yield from self._load(batch)

    def _load(self, names: list[Any]) -> Iterator[Thumbnail]:
        if names:
            yield from (Thumbnail.from_json(v) for v in self.client.mget(names) if v)

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        return self._lock(f"{self.prefix}l:{key}", timeout)

    @contextmanager
    def _lock(self, name: str, timeout: float) -> Iterator[bool]:
        token, owner = secrets.token_hex(16), locks.me()
        with self._mapped("Taking a generation lock"):
            won = self._try_lock(name, token, owner, max(1, int(timeout * 1000)))
        if not won:
            yield False
            return
        beating = locks.HEARTBEATS.add(functools.partial(self._refresh, name, token, owner))

        def release() -> None:
            locks.HEARTBEATS.remove(beating)
            with self._mapped("Releasing a generation lock"):
                self._release(keys=[name], args=[f"{token}:"])

        with locks.released(release):
            yield True

    def _try_lock(self, name: str, token: str, owner: locks.Owner, ms: int) -> bool:
        mine = locks.encode(token, owner, time.time())
        found = self._acquire(keys=[name], args=[mine, ms])
        if found == 1:
            return True
        held = locks.decode(found)
        if held is None or not locks.is_dead(held.owner, held.beat):
            return False
        # Its holder is gone (killed, or its host silent): take it over, unless it changed.
        return bool(self._take_over(keys=[name], args=[found, mine, ms]) == 1)

    def _refresh(self, name: str, token: str, owner: locks.Owner, now: float) -> None:
        self._beat(keys=[name], args=[f"{token}:", locks.encode(token, owner, now)])


def _records(flat: list[Any]) -> dict[str, Thumbnail]:
    """A source's records from HGETALL's flat reply: field, value, field, value..."""
    pairs = iter(flat)
    return {_text(key): Thumbnail.from_json(value) for key, value in zip(pairs, pairs, strict=True)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

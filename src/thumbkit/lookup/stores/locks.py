"""Who holds a generation lock, whether that process is still alive, and its heartbeat.

Every lock a store takes records its owner: the host (the host name and, on Linux, the PID
namespace, so two containers that share a host name are not taken for one host), the
process id and the process's start time (so a recycled pid is not taken for the old
process), and a heartbeat time. A caller that finds a key locked asks :func:`is_dead`:

- an owner on this host is dead when its pid is gone (``os.kill(pid, 0)`` raises
  ``ProcessLookupError``), is a zombie, or now belongs to a process that started at another
  time (``/proc/<pid>/stat``; without ``/proc`` only the pid is compared);
- an owner on another host is dead when its heartbeat is older than :data:`STALE_AFTER`
  (the hosts' clocks are assumed to agree within a second or two, as NTP keeps them).

A dead owner's lock is taken over at once, atomically (each store compares and sets), so
a killed worker's rerun does not wait out ``LOCK_TIMEOUT``. A live but hung holder still
loses its lock when ``LOCK_TIMEOUT`` passes: the heartbeat says the process is alive, it
never extends the lock.

While a process holds locks, one daemon thread refreshes their heartbeats every
:data:`HEARTBEAT_INTERVAL` seconds (one small write per lock held longer than that; most
generations release their lock before the first beat). The thread ends when the process
holds no lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger("thumbkit")

HEARTBEAT_INTERVAL = 1.0  # seconds between two heartbeats of a held lock
STALE_AFTER = 5.0  # a lock of another host whose heartbeat is older than this is dead


@dataclass(frozen=True)
class Owner:
    """The process holding a lock."""

    host: str
    pid: int
    start: str  # the process's start time on its host ("" when it cannot be read)


@dataclass(frozen=True)
class Held:
    """A lock as a store recorded it: whose it is, and the owner's last heartbeat."""

    token: str
    owner: Owner
    beat: float  # time.time() of the owner's last heartbeat


# --- this process -------------------------------------------------------------------------

_me: dict[int, Owner] = {}


def me() -> Owner:
    """This process as a lock owner (worked out again in a forked child)."""
    pid = os.getpid()
    found = _me.get(pid)
    if found is None:
        found = _me[pid] = Owner(_host(), pid, _stat(pid)[1])
    return found


def _host() -> str:
    try:  # the PID namespace: pids are only comparable inside one
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}" if namespace else socket.gethostname()


def _stat(pid: int) -> tuple[str, str]:
    """(state, start time) of a process from ``/proc/<pid>/stat``; ("", "") without it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return "", ""
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
    fields = raw[raw.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return "", ""
    return fields[0], fields[19]  # state (field 3) and starttime (field 22)


# --- lock values ---------------------------------------------------------------------------


def encode(token: str, owner: Owner, beat: float) -> str:
    """A lock's value: ``token:pid:start:beat:host`` (the host last, as it may hold ':')."""
    return f"{token}:{owner.pid}:{owner.start}:{beat:.3f}:{owner.host}"


def decode(value: object) -> Held | None:
    """The lock a value describes; None for anything else (a lock of an older release)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    parts = value.split(":", 4)
    if len(parts) != 5:
        return None
    token, pid, start, beat, host = parts
    try:
        return Held(token, Owner(host, int(pid), start), float(beat))
    except ValueError:
        return None


def is_dead(owner: Owner, beat: float, now: float | None = None) -> bool:
    """Whether the owner of a lock is certainly gone (see the module docs)."""
    mine = me()
    if owner.host != mine.host:
        return (time.time() if now is None else now) - beat > STALE_AFTER
    if owner.pid == mine.pid:
        return bool(owner.start and mine.start and owner.start != mine.start)
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, as another user
    except OSError:
        return False
    state, start = _stat(owner.pid)
    if state in {"Z", "X"}:  # killed, not yet reaped by its parent
        return True
    return bool(owner.start and start and start != owner.start)


# --- heartbeats -----------------------------------------------------------------------------

Beat = Callable[[float], None]


class Heartbeats:
    """The locks this process holds, and the daemon thread that refreshes their heartbeats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._beats: dict[int, Beat] = {}
        self._next = 0
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, beat: Beat) -> int:
        """Call ``beat(time.time())`` every interval until :meth:`remove`; return a handle."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child has none of its parent's threads
                self._pid, self._thread, self._beats = os.getpid(), None, {}
            self._next += 1
            self._beats[self._next] = beat
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="thumbkit-heartbeat", daemon=True
                )
                self._thread.start()
            return self._next

    def remove(self, handle: int) -> None:
        with self._lock:
            self._beats.pop(handle, None)

    def __len__(self) -> int:
        return len(self._beats)

    def _run(self) -> None:
        while True:
            time.sleep(HEARTBEAT_INTERVAL)
            with self._lock:
                beats = list(self._beats.values())
                if not beats:
                    self._thread = None
                    return
            now = time.time()
            for beat in beats:
                try:
                    beat(now)
                except Exception:  # best effort: a missed beat only ages the heartbeat
                    logger.debug("A lock heartbeat failed", exc_info=True)


HEARTBEATS = Heartbeats()


@contextmanager
def released(release: Callable[[], None]) -> Iterator[None]:
    """Run ``release`` when the block ends, without ever hiding what ended it.

    A lock is released on every way out. When the block ends with an exception (a timeout
    signal, KeyboardInterrupt, a failed generation), a release that fails too (a database
    connection still busy with the interrupted query, a store gone) is logged, and the
    original exception goes on: an exception raised in ``finally`` would replace it.
    """
    try:
        yield
    except BaseException:
        try:
            release()
        except Exception:
            logger.warning("Releasing a generation lock failed after an error", exc_info=True)
        raise
    release()

"""The faults of the soak benchmark (``benchmarks/soak.py``): a TCP proxy and a storage.

:class:`TcpFaultProxy` stands between thumbkit's metadata store and its server (Redis, or
the PostgreSQL alias of the db store). It forwards bytes unchanged, or holds every chunk the
client sends for ``delay`` seconds (one round trip costs ``delay`` more: a slow store), or
refuses: its listening socket is closed and live connections are cut, so a connect is
refused and a connection in use breaks, as when the server goes away.

:class:`FaultyStorage` is the benchmark's ``default`` storage (sources and thumbnails): a
``CountingStorage`` whose ``_save`` can be slow or fail, and whose ``open`` of a source can
be slow or fail. A failing save writes half the bytes and then raises ``ENOSPC`` from inside
Django's own write loop, which is what a full disk does to ``FileSystemStorage._save``.

Both are switched by the worker between phases; nothing here is thumbkit's code.
"""

from __future__ import annotations

import contextlib
import errno
import io
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from django.core.files.base import File

from .common import CountingStorage

SOURCES = "src/"  # names of sources on the storage start so; thumbnails are under PREFIX


class TcpFaultProxy:
    """127.0.0.1:<port> -> ``target``, with ``slow(delay)``, ``refuse()`` and ``restore()``."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.delay = 0.0
        self.port = 0
        self._listener: socket.socket | None = None
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TcpFaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # 0 the first time, the same port after
        listener.listen(64)
        listener.settimeout(0.1)  # the accept loop notices a closed listener quickly
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def slow(self, delay: float) -> None:
        self.delay = delay

    def refuse(self) -> None:
        """Nothing listens on the port any more, and every open connection is cut."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            _cut(sock)

    def restore(self) -> None:
        self.delay = 0.0
        if self._listener is None:
            self.start()

    def close(self) -> None:
        self.refuse()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by refuse()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _cut(client)
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            with self._lock:
                self._live.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, delayed: bool) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    if delayed and self.delay:
                        time.sleep(self.delay)  # one request of the client waits this long
                    dst.sendall(data)
        finally:
            with self._lock:
                self._live.difference_update((src, dst))
            _cut(src)
            _cut(dst)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Faults:
    """What FaultyStorage does now: ``save`` and ``open`` are "", "slow" or "fail"."""

    save = ""
    open = ""
    delay = 0.2
    save_failure = "partial"  # or "raise": refuse before writing a byte

    @classmethod
    def clear(cls) -> None:
        cls.save = cls.open = ""


class _DiskFull(File):  # type: ignore[type-arg]
    """Content whose second half cannot be written: ENOSPC in the middle of Django's loop."""

    def __init__(self, data: bytes, name: str | None) -> None:
        super().__init__(io.BytesIO(data), name)
        self.data = data

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        yield self.data[: len(self.data) // 2]
        raise OSError(errno.ENOSPC, "No space left on device (injected by the soak)")


class FaultyStorage(CountingStorage):
    """CountingStorage with injectable faults on ``_save`` and on reading sources."""

    injected: ClassVar[dict[str, int]] = {"save": 0, "open": 0}

    def _save(self, name: str, content: Any) -> str:
        if Faults.save == "slow":
            time.sleep(Faults.delay)
        elif Faults.save == "fail":
            FaultyStorage.injected["save"] += 1
            if Faults.save_failure == "raise":
                raise OSError(errno.ENOSPC, "No space left on device (injected by the soak)")
            content.seek(0)
            content = _DiskFull(content.read(), content.name)
        saved: str = super()._save(name, content)  # type: ignore[misc]
        return saved

    def open(self, name: str, mode: str = "rb") -> Any:
        if name.startswith(SOURCES) and Faults.open == "slow":
            time.sleep(Faults.delay)
        elif name.startswith(SOURCES) and Faults.open == "fail":
            FaultyStorage.injected["open"] += 1
            raise OSError(errno.EIO, "Input/output error (injected by the soak)")
        return super().open(name, mode)

"""A real S3 endpoint for the tests, and the storages the storage-facing tests run on.

``Endpoint`` is moto's S3 server on 127.0.0.1 with a small HTTP proxy in front of it. Every
request a storage makes goes through the proxy, which

* counts them (method and path), so a test can assert "0 requests" or "one GET of the
  source", and
* injects faults on demand: answers 500 or 503, holds a request past the client's read
  timeout ("timeout") or only delays it ("slow"), or refuses connections (its listening
  socket closed); for every request or only the first N, optionally only for one method or
  for paths with a given ending.

Tests look at the bucket through ``Endpoint.client``, which talks to moto directly, so
looking never shows up in the counts.

``Media`` is the storage a test runs on: FileSystemStorage below a fresh MEDIA_ROOT
(``fs``) or S3Storage on a fresh bucket at the endpoint (``s3``), with the few operations the
tests need (list, read, write) done beside the storage, not through it.
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from PIL import Image

REGION = "us-east-1"
ACCESS_KEY = "thumbkit-test-key"
SECRET_KEY = "thumbkit-test-secret"  # moto accepts any credentials

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business, never forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}
FAULT_MODES = ("500", "503", "timeout", "refused", "slow")
ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>Injected by the test proxy</Message><RequestId>test</RequestId></Error>"
)


@dataclass(frozen=True)
class Seen:
    """One request as the proxy received it."""

    method: str
    path: str  # unquoted, without the query string: "/<bucket>/<key>"
    query: str


@dataclass
class Fault:
    mode: str
    method: str | None = None
    times: int | None = None  # None: every matching request
    hold: float = 3.0  # seconds a "timeout" (or "slow") holds the request
    suffix: str = ""  # only paths ending so

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        return self.method in (None, method) and path.endswith(self.suffix)


@dataclass
class Proxy:
    """A threaded HTTP reverse proxy in front of ``upstream`` that counts and can fail."""

    upstream: tuple[str, int]
    seen: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests handled at once since the last reset
    _server: ThreadingHTTPServer | None = None
    open_sockets: set[socket.socket] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        serve = lambda: server.serve_forever(poll_interval=0.05)  # noqa: E731 - quick to stop
        threading.Thread(target=serve, daemon=True, name="s3-proxy").start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self.lock:
            sockets, self.open_sockets = set(self.open_sockets), set()
        for sock in sockets:  # pooled keep-alive connections must fail too
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # --- counting ----------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.max_in_flight = 0

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """The requests seen since the last reset, optionally of one method and path."""
        with self.lock:
            return [
                s
                for s in self.seen
                if (method is None or s.method == method) and (path is None or s.path == path)
            ]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len(self.requests(method, path))

    # --- faults ------------------------------------------------------------------------

    @contextmanager
    def failing(
        self,
        mode: str,
        *,
        times: int | None = None,
        method: str | None = None,
        suffix: str = "",
        hold: float = 3.0,
    ) -> Iterator[None]:
        """Fail matching requests (all, or the first ``times``; of one ``method``; whose
        path ends with ``suffix``) in ``mode`` inside the block: answer ``"500"`` or
        ``"503"``, or hold them ``hold`` seconds and then drop (``"timeout"``) or forward
        (``"slow"``) them.

        ``"refused"`` closes the listening socket and every open connection for the whole
        block (it is about connections, so the filters do not apply); the proxy listens
        again, on the same port, when the block ends.
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"Unknown fault mode {mode!r}; one of {FAULT_MODES}")
        if mode == "refused":
            self.stop()
            try:
                yield
            finally:
                self.start()
            return
        fault = Fault(mode, method, times, hold, suffix)
        with self.lock:
            self.faults.append(fault)
        try:
            yield
        finally:
            with self.lock:
                self.faults.remove(fault)

    def fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None


def _handler_for(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        owner = proxy

    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: Proxy
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    upstream: http.client.HTTPConnection | None = None

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every body back for ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner.lock:
            self.owner.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.owner.lock:
            self.owner.open_sockets.discard(self.connection)
        if self.upstream is not None:
            self.upstream.close()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the counts are the log

    def do_GET(self) -> None:
        self._proxy()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _proxy(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        owner = self.owner
        with owner.lock:
            owner.seen.append(Seen(self.command, unquote(parts.path), parts.query))
            owner.in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
        try:
            fault = owner.fault_for(self.command, unquote(parts.path))
            if fault is not None and fault.mode == "slow":
                time.sleep(fault.hold)
            elif fault is not None:
                self._fail(fault)
                return
            self._forward(body)
        finally:
            with owner.lock:
                owner.in_flight -= 1

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _fail(self, fault: Fault) -> None:
        if fault.mode == "timeout":
            time.sleep(fault.hold)  # longer than the client waits: it gives up first
            self.close_connection = True
            return
        code = "InternalError" if fault.mode == "500" else "SlowDown"
        payload = b"" if self.command == "HEAD" else ERROR_BODY.format(code=code).encode()
        self.send_response(int(fault.mode))
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self, body: bytes) -> None:
        if self.upstream is None:
            self.upstream = http.client.HTTPConnection(*self.owner.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        self.upstream.request(self.command, self.path, body=body or None, headers=headers)
        response = self.upstream.getresponse()
        payload = response.read()
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() in HOP_BY_HOP or (key.lower() == "content-length"):
                continue
            self.send_header(key, value)
        # A HEAD answer carries the object's length but no body.
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class Endpoint:
    """moto's S3 server plus the proxy; ``url`` is what storages are pointed at."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        self.moto_url = "http://{}:{}".format(*self._moto.get_host_and_port())
        self.proxy = Proxy(self._moto.get_host_and_port())
        self.proxy.start()
        self.client = _client(self.moto_url)

    @property
    def url(self) -> str:
        return self.proxy.url

    def close(self) -> None:
        self.proxy.stop()
        self._moto.stop()

    def new_bucket(self) -> str:
        name = f"thumbkit-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=name)
        return name

    def empty(self, bucket: str) -> None:
        keys = self.keys(bucket)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch})

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", ()))

    def storage_options(self, bucket: str, **options: Any) -> dict[str, Any]:
        """S3Storage OPTIONS for ``bucket`` through the proxy: path-style addressing, dummy
        credentials, and timeouts and retries small enough for fault tests to be quick."""
        return {
            "bucket_name": bucket,
            "endpoint_url": self.url,
            "region_name": REGION,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            # Public, unsigned URLs of the path-style form ("<endpoint>/<bucket>/<key>"), made
            # by string formatting: botocore's unsigned presigning needs a client of its own.
            "querystring_auth": False,
            "custom_domain": f"{self.url.removeprefix('http://')}/{bucket}",
            "url_protocol": "http:",
            "client_config": client_config(),
            **options,
        }


def client_config(
    connect_timeout: float = 2.0, read_timeout: float = 5.0, attempts: int = 2
) -> Any:
    from botocore.config import Config

    return Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
    )


def _client(url: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=client_config(),
    )


FILESYSTEM = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STATICFILES = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


def s3_backend(endpoint: Endpoint, bucket: str, **options: Any) -> dict[str, Any]:
    """A STORAGES entry: S3Storage on ``bucket`` at the endpoint."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": endpoint.storage_options(bucket, **options),
    }


def s3_storages(endpoint: Endpoint, bucket: str, **options: Any) -> dict[str, Any]:
    """A STORAGES dict whose ``default`` is S3Storage on ``bucket``."""
    return {"default": s3_backend(endpoint, bucket, **options), "staticfiles": STATICFILES}


@dataclass
class Media:
    """The default storage of a test, and what is on it.

    ``root`` is the test's MEDIA_ROOT in both kinds: file fields with their own
    FileSystemStorage keep using it. On ``s3`` the default storage is the bucket.
    """

    kind: str
    root: Path
    endpoint: Endpoint | None = None
    bucket: str = ""

    def files(self, under: str = "") -> list[str]:
        """Every name on the default storage below ``under``, sorted."""
        if self.endpoint is not None:
            prefix = f"{under.strip('/')}/" if under else ""
            return self.endpoint.keys(self.bucket, prefix)
        found: list[str] = []
        for directory, _dirs, names in os.walk(self.root / under):
            found.extend(os.path.relpath(os.path.join(directory, n), self.root) for n in names)
        return sorted(found)

    def read(self, name: str) -> bytes:
        if self.endpoint is not None:
            obj = self.endpoint.client.get_object(Bucket=self.bucket, Key=name)
            return bytes(obj["Body"].read())
        return (self.root / name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        """Put ``data`` under exactly ``name`` (as something other than thumbkit would)."""
        if self.endpoint is not None:
            self.endpoint.client.put_object(Bucket=self.bucket, Key=name, Body=data)
            return
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def exists(self, name: str) -> bool:
        return name in self.files(os.path.dirname(name))

    def decoded(self, name: str) -> tuple[tuple[int, int], str]:
        """The pixel size and format of a stored file, read from its bytes."""
        with Image.open(io.BytesIO(self.read(name))) as image:
            return image.size, str(image.format)

    def url(self, name: str) -> str:
        """The URL the default storage gives ``name`` (computed here, not by the storage)."""
        if self.endpoint is not None:
            return f"{self.endpoint.url}/{self.bucket}/{name}"
        return f"/media/{name}"


def name_in_url(url: str) -> str:
    """The storage name in a ``/media/...`` URL or a path-style S3 URL."""
    if url.startswith("/media/"):
        return url.removeprefix("/media/")
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https"), url
    return unquote(parts.path).lstrip("/").split("/", 1)[1]

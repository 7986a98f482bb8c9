"""The metadata store down during render: a bounded wait, one warning, the fallback, no 500.

Each store is pointed at a port where nothing listens (refused at once) and at a server that
accepts connections and never answers (only the store's timeouts end the wait). A page of
100 profiles, each with two thumbnails, then costs one store call (the first lookup fails,
and lookups for ``STORE_RETRY_AFTER`` seconds fail at once), logs one warning, generates
nothing, and renders ``STORE_FALLBACK``; ``ON_STORE_ERROR = "raise"`` fails closed instead.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.db.utils import load_backend
from django.test import Client, override_settings

from tests import images
from tests.api_support import Images
from tests.conftest import thumbkit_settings
from tests.testapp.models import Profile
from thumbkit import get_thumbnail, prefetch_thumbnails
from thumbkit.exceptions import StoreError, StoreUnavailable
from thumbkit.lookup import api
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.stores.outage import OUTAGE
from thumbkit.lookup.thumbnail import Placeholder, Thumbnail

pytestmark = pytest.mark.django_db

ROWS = 100
PAGE = f"/profiles/profile/?per_page={ROWS}"
WARNING = "The metadata store is unavailable"


# --- the dead services -----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts connections and never answers a byte (a hung Redis or DB)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@contextmanager
def database_alias(alias: str, port: int, **options: Any) -> Iterator[None]:
    """A PostgreSQL alias on ``port``: the store's own database, apart from the rows'.

    Made as a connection of this thread only, not a DATABASES entry (the test database
    setup would try to create it; Django's test case allows such dynamic connections).
    """
    config = dict(connections.settings["pg"], PORT=str(port), NAME="thumbkit_store")
    config["OPTIONS"] = options
    wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)
    setattr(connections._connections, alias, wrapper)
    try:
        yield
    finally:
        wrapper.close()
        delattr(connections._connections, alias)


def dead_cache(port: int, **options: Any) -> Any:
    caches = {
        **settings.CACHES,
        "dead": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": options,
        },
    }
    return override_settings(CACHES=caches)


# Each case: (THUMBKIT store settings, context that makes the dead service, wait bound).
Case = tuple[dict[str, Any], Callable[[int], Any], float]


def redis_case(port: int) -> dict[str, Any]:
    return {"STORE": "redis", "STORE_OPTIONS": {"url": f"redis://127.0.0.1:{port}/0"}}


def cache_case(port: int) -> dict[str, Any]:
    return {"STORE": "cache", "STORE_OPTIONS": {"cache": "dead"}}


def db_case(port: int) -> dict[str, Any]:
    return {"STORE": "db", "STORE_OPTIONS": {"using": "thumbkit_store"}}


@contextmanager
def nothing(port: int) -> Iterator[None]:
    yield


CASES: dict[str, tuple[Callable[[int], dict[str, Any]], Callable[[int], Any], float]] = {
    # The redis store's own timeouts: 0.5 s to connect, 0.5 s per reply.
    "redis": (redis_case, nothing, 0.5),
    # The cache store is bounded by the cache backend's client options.
    "cache": (
        cache_case,
        lambda port: dead_cache(port, socket_timeout=0.5, socket_connect_timeout=0.5),
        0.5,
    ),
    # libpq's connect_timeout (at least 2 s) bounds a server that accepts and never answers.
    "db": (db_case, lambda port: database_alias("thumbkit_store", port, connect_timeout=2), 2.0),
}


@pytest.fixture
def rows(tmp_path: Path) -> Iterator[list[Profile]]:
    """100 profiles with real source files (a generation by mistake would leave files)."""
    data = images.jpeg((80, 60))
    (tmp_path / "profiles").mkdir()
    for i in range(ROWS):
        (tmp_path / "profiles" / f"p{i:03}.jpg").write_bytes(data)
    with override_settings(MEDIA_ROOT=str(tmp_path)), thumbkit_settings(UPLOAD="off"):
        Profile.objects.bulk_create(
            Profile(name=f"p{i}", photo=f"profiles/p{i:03}.jpg") for i in range(ROWS)
        )
        yield list(Profile.objects.all())


@contextmanager
def counted_store() -> Iterator[Counter[str]]:
    """Count every call into the configured store's methods (instrumentation only)."""
    store = get_store()
    calls: Counter[str] = Counter()
    names = ("get_many", "get_sources", "set_many", "delete_many", "source_keys", "lock")
    originals = {name: getattr(store, name) for name in names}

    def wrap(name: str) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return originals[name](*args, **kwargs)

        return counted

    for name in names:
        setattr(store, name, wrap(name))
    try:
        yield calls
    finally:
        for name in names:
            delattr(store, name)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "thumbkit" and r.levelno >= logging.WARNING
    ]


def render_page(caplog: pytest.LogCaptureFixture) -> tuple[int, str, float]:
    client = Client(raise_request_exception=False)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="thumbkit"):
        started = time.monotonic()
        response = client.get(PAGE)
        elapsed = time.monotonic() - started
    return response.status_code, response.content.decode(), elapsed


def check_fallback_page(html: str, root: Path) -> None:
    """Every row has its two <img>: the predicted names, and nothing was generated."""
    parser = Images()
    parser.feed(html)
    assert len(parser.found) == 2 * ROWS
    small = [img for img in parser.found if img.get("class") == "small"]
    big = [img for img in parser.found if img.get("class") == "big"]
    assert len(small) == len(big) == ROWS
    for img in big:  # the inline tag leaves out the size it does not know
        assert str(img["src"]).startswith("/media/thumbs/")
        assert "width" not in img
    assert len({img["src"] for img in parser.found}) == 2 * ROWS
    assert not (root / "thumbs").exists()  # no generation, no lock, no write


# --- the page ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("fault", ["refused", "silent"])
def test_a_page_renders_its_fallback_within_a_bounded_time_with_one_store_call(
    kind: str,
    fault: str,
    rows: list[Profile],
    silent_port: int,
    caplog: pytest.LogCaptureFixture,
    settings: Any,
) -> None:
    store_settings, service, timeout = CASES[kind]
    port = silent_port if fault == "silent" else closed_port()
    with service(port), thumbkit_settings(**store_settings(port), UPLOAD="off"):
        with counted_store() as calls:
            status, html, elapsed = render_page(caplog)
        assert status == 200
        assert dict(calls) == {"get_sources": 1}  # one lookup asked; 199 answered at once
        assert elapsed < (timeout if fault == "silent" else 0) + 3.0, elapsed
        if fault == "silent":
            assert elapsed >= timeout * 0.9  # the store's timeout was what ended the wait
        warnings = warnings_of(caplog)
        assert len(warnings) == 1, warnings
        assert WARNING in warnings[0]
        check_fallback_page(html, Path(settings.MEDIA_ROOT))


@pytest.mark.parametrize("kind", list(CASES))
def test_fail_closed_raises_store_unavailable(
    kind: str, rows: list[Profile], caplog: pytest.LogCaptureFixture
) -> None:
    store_settings, service, _ = CASES[kind]
    port = closed_port()
    with service(port), thumbkit_settings(**store_settings(port), ON_STORE_ERROR="raise"):
        with pytest.raises(StoreUnavailable, match="failed"):
            Client().get(PAGE)
        status, _, _ = render_page(caplog)
        assert status == 500
        with pytest.raises(StoreUnavailable):
            get_thumbnail(rows[0].photo, "small")
        with pytest.raises(StoreUnavailable):
            prefetch_thumbnails(rows, "photo", ["small"])


@pytest.mark.redis
def test_predicted_urls_are_the_real_ones_when_the_thumbnails_exist(
    need_redis: None,
    rows: list[Profile],
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    live = {"STORE": "redis", "STORE_OPTIONS": {"url": settings.REDIS_URL, "prefix": redis_prefix}}
    with thumbkit_settings(**live, UPLOAD="off"):
        made = {p.pk: get_thumbnail(p.photo, "small").url for p in rows}
    dead = {"STORE": "redis", "STORE_OPTIONS": {"url": f"redis://127.0.0.1:{closed_port()}/0"}}
    with thumbkit_settings(**dead, UPLOAD="off"):
        status, html, _ = render_page(caplog)
    assert status == 200
    parser = Images()
    parser.feed(html)
    small = [img["src"] for img in parser.found if img.get("class") == "small"]
    assert small == [made[p.pk] for p in rows]  # the files exist: the page looks right


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("source", lambda p: f"/media/{p.photo.name}"),
        ("/static/wait.svg", lambda p: "/static/wait.svg"),
        ("none", lambda p: None),
    ],
)
def test_store_fallback_modes(
    mode: str, expected: Callable[[Profile], str | None], rows: list[Profile]
) -> None:
    dead = redis_case(closed_port())
    with thumbkit_settings(**dead, STORE_FALLBACK=mode, UPLOAD="off"):
        result = get_thumbnail(rows[0].photo, "small")
    assert isinstance(result, Placeholder)
    assert not result
    assert (result.url or None) == expected(rows[0])


# --- the outage window -----------------------------------------------------------------------


def test_lookups_inside_the_retry_window_skip_the_store_and_one_warning_covers_them(
    silent_port: int, rows: list[Profile], caplog: pytest.LogCaptureFixture
) -> None:
    with (
        thumbkit_settings(**redis_case(silent_port), UPLOAD="off"),
        counted_store() as calls,
        caplog.at_level(logging.INFO, logger="thumbkit"),
    ):
        started = time.monotonic()
        first = get_thumbnail(rows[0].photo, "small")
        first_took = time.monotonic() - started
        started = time.monotonic()
        rest = [get_thumbnail(p.photo, "small") for p in rows[1:]]
        rest_took = time.monotonic() - started
        skipped = OUTAGE.skipped  # (settings changes reset the outage: read it here)
    assert isinstance(first, Thumbnail)
    assert (first.width, first.height) == (0, 0)  # predicted: size unknown
    assert all(isinstance(t, Thumbnail) for t in rest)
    assert 0.45 < first_took < 2.0
    assert rest_took < 0.5, rest_took  # 99 lookups, none waited for the store
    assert dict(calls) == {"get_sources": 1}
    assert len(warnings_of(caplog)) == 1
    assert skipped == ROWS - 1


class Switch:
    """A TCP forwarder to the real Redis that can be switched off: an outage, then a return.

    Off, it drops every open connection (pooled clients see them die) and closes new ones
    as soon as they are accepted.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.up = True
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.server.settimeout(0.1)
        self.port = int(self.server.getsockname()[1])
        self.open: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn = self.server.accept()[0]
            except OSError:
                continue
            if not self.up:
                conn.close()
                continue
            upstream = socket.create_connection(self.upstream)
            self.open += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def off(self) -> None:
        self.up = False
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.open.clear()

    def close(self) -> None:
        self.off()
        self.stopped.set()
        self.server.close()


@pytest.fixture
def switch(need_redis: None) -> Iterator[Switch]:
    from urllib.parse import urlsplit

    url = urlsplit(settings.REDIS_URL)
    forwarder = Switch((url.hostname or "127.0.0.1", url.port or 6379))
    yield forwarder
    forwarder.close()


@pytest.mark.redis
def test_an_outage_then_a_return_one_warning_then_back_to_the_store(
    switch: Switch, rows: list[Profile], caplog: pytest.LogCaptureFixture, redis_prefix: str
) -> None:
    names = [p.photo.name for p in rows]  # bare names: no memo, no peers, a read each
    live = {"url": f"redis://127.0.0.1:{switch.port}/0", "prefix": redis_prefix}
    with thumbkit_settings(STORE="redis", STORE_OPTIONS=live, STORE_RETRY_AFTER=0.2, UPLOAD="off"):
        made = get_thumbnail(names[0], "small")  # works: generated and recorded
        assert made.width > 0
        switch.off()
        with counted_store() as calls, caplog.at_level(logging.INFO, logger="thumbkit"):
            down = get_thumbnail(names[0], "small")
            get_thumbnail(names[1], "small")  # inside the window: not asked
            assert dict(calls) == {"get_sources": 1}
            time.sleep(0.25)
            get_thumbnail(names[2], "small")  # asked again: still down, no warning
            assert dict(calls) == {"get_sources": 2}
            switch.up = True
            time.sleep(0.25)
            back = get_thumbnail(names[0], "small")
            assert not OUTAGE.active
    assert isinstance(down, Thumbnail)
    assert down.name == made.name  # the predicted name is the real one
    assert (down.width, back) == (0, made)  # then the stored record again
    assert dict(calls) == {"get_sources": 3}
    assert len(warnings_of(caplog)) == 1
    assert any(
        "metadata store is back after" in r.getMessage()
        for r in caplog.records
        if r.name == "thumbkit" and r.levelno == logging.INFO
    )


def test_prefetch_degrades_to_nothing_known_and_lookups_fall_back(
    rows: list[Profile], caplog: pytest.LogCaptureFixture
) -> None:
    with (
        thumbkit_settings(**redis_case(closed_port()), UPLOAD="off"),
        counted_store() as calls,
        caplog.at_level(logging.INFO, logger="thumbkit"),
    ):
        found = prefetch_thumbnails(rows, "photo", ["small"])
        looked_up = [get_thumbnail(p.photo, "small") for p in rows]
    assert set(found.values()) == {None}
    assert all(t.width == 0 for t in looked_up if isinstance(t, Thumbnail))
    assert dict(calls) == {"get_sources": 1}
    assert len(warnings_of(caplog)) == 1


def test_generation_paths_still_raise_while_the_store_is_down(rows: list[Profile]) -> None:
    """ensure() (uploads, commands) must not pretend: it raises StoreUnavailable."""
    with thumbkit_settings(**redis_case(closed_port()), UPLOAD="off"):
        field: Any = Profile._meta.get_field("photo")
        with pytest.raises(StoreUnavailable):
            api.ensure(rows[0].photo, field.declared_specs())


def test_a_store_error_that_is_not_an_outage_still_raises(rows: list[Profile]) -> None:
    """A missing table is a configuration error: never hidden behind a fallback."""
    with (
        thumbkit_settings(STORE="db", STORE_OPTIONS={"using": "default"}, UPLOAD="off"),
        connections["default"].cursor() as cursor,
    ):
        cursor.execute("ALTER TABLE thumbkit_thumbnailrecord RENAME TO thumbkit_gone")
        try:
            with pytest.raises(StoreError) as info:
                get_thumbnail(coerce(rows[0].photo), "small")
        finally:
            cursor.execute("ALTER TABLE thumbkit_gone RENAME TO thumbkit_thumbnailrecord")
    assert type(info.value) is StoreError


# --- settings checks -------------------------------------------------------------------------


def test_checks_refuse_an_unknown_on_store_error_and_a_negative_retry() -> None:
    from thumbkit.adapters import checks

    with thumbkit_settings(ON_STORE_ERROR="ignore"):
        found = checks.check_settings()
    assert [(e.id, e.msg) for e in found] == [
        ("thumbkit.E009", "THUMBKIT['ON_STORE_ERROR'] = 'ignore' is unknown.")
    ]
    assert found[0].hint == "Choose one of fallback, raise."
    with thumbkit_settings(STORE_RETRY_AFTER=-1):
        found = checks.check_settings()
    assert [e.id for e in found] == ["thumbkit.E009"]
    assert "STORE_RETRY_AFTER" in found[0].msg
    assert "out of range" in found[0].msg
    with thumbkit_settings(STORE_FALLBACK=3):
        found = checks.check_settings()
    assert [e.id for e in found] == ["thumbkit.E009"]


def test_a_long_outage_is_reminded_at_most_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from thumbkit.lookup.stores import outage

    monkeypatch.setattr(outage, "REMIND_EVERY", 0.2)
    state = outage.Outage()
    with caplog.at_level(logging.INFO, logger="thumbkit"):
        for _ in range(3):  # one failure a window: the first warns, the next two are quiet
            state.failed(StoreUnavailable("down"), retry_after=0)
        state.failed(StoreUnavailable("down"), retry_after=5)
        with pytest.raises(StoreUnavailable):  # inside a window: no call, counted
            state.check()
        time.sleep(0.25)
        state.failed(StoreUnavailable("still down"), retry_after=0)
        state.succeeded()
        state.succeeded()  # nothing to end: nothing logged
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "thumbkit"]
    assert [level for level, _ in messages] == ["WARNING", "WARNING", "INFO"]
    assert "is unavailable (lookups do not ask it again for 0.0s): down" in messages[0][1]
    assert (
        "still unavailable after 0s (1 lookups answered without it): still down" in (messages[1][1])
    )
    assert "is back after" in messages[2][1]
    assert not state.active

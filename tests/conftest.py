"""Shared fixtures: services (fail loudly in CI, skip elsewhere), stores, sources."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings

from tests import images
from thumbkit import conf

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    if service_up(port):
        return
    if IN_CI:
        pytest.fail(f"{name} is not running on 127.0.0.1:{port}; CI needs it.", pytrace=False)
    pytest.skip(f"{name} is not running on 127.0.0.1:{port}")


@pytest.fixture
def need_postgres() -> None:
    require_service("PostgreSQL", 5432)


@pytest.fixture
def need_redis() -> None:
    require_service("Redis", 6379)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    conf.reset()
    yield
    conf.reset()


def thumbkit_settings(**changes: Any) -> Any:
    """override_settings for THUMBKIT keys on top of the test settings' THUMBKIT."""
    from django.conf import settings

    return override_settings(THUMBKIT={**settings.THUMBKIT, **changes})


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of its own per test, so tests never see each other's Redis keys."""
    return f"thumbkit-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def redis_client(need_redis: None) -> Iterator[Any]:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def save_source() -> Iterator[Callable[..., str]]:
    """Save bytes (a JPEG by default) on the default storage; delete them afterwards."""
    names: list[str] = []

    def save(data: bytes | None = None, name: str = "photos/source.jpg") -> str:
        saved = default_storage.save(name, ContentFile(images.jpeg() if data is None else data))
        names.append(saved)
        return saved

    yield save
    for name in names:
        if default_storage.exists(name):
            default_storage.delete(name)

"""Shared fixtures: services (fail loudly in CI, skip elsewhere), stores, sources, storages."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage, storages
from django.test import override_settings
from PIL import ImageFile

from tests import images
from tests.s3 import Endpoint, Media, s3_storages
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


# --- storages: the local disk and a real S3 endpoint ------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[Endpoint]:
    """moto's S3 server on 127.0.0.1 behind the counting, fault-injecting proxy."""
    endpoint = Endpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture
def fs_media(settings: Any, tmp_path: Path) -> Media:
    """FileSystemStorage (the default storage) on a fresh MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path)
    return Media("fs", tmp_path)


@pytest.fixture(scope="session")
def s3_default(s3_endpoint: Endpoint) -> tuple[dict[str, Any], Storage]:
    """The STORAGES setting of the ``s3`` runs and its one S3Storage instance.

    One instance serves every test, as one serves every request of a process: building a
    new one per test would build a boto3 session and client per test (~0.1 s each, mostly
    botocore parsing its JSON models), for nothing these tests look at.
    """
    config = s3_storages(s3_endpoint, s3_endpoint.new_bucket())
    return config, storages.create_storage(config["default"])


@pytest.fixture
def s3_media(
    s3_endpoint: Endpoint, s3_default: tuple[dict[str, Any], Storage], settings: Any, tmp_path: Path
) -> Iterator[Media]:
    """S3Storage (the default storage) on a bucket emptied for the test; the proxy's counts
    start at 0."""
    config, storage = s3_default
    bucket = config["default"]["OPTIONS"]["bucket_name"]
    settings.MEDIA_ROOT = str(tmp_path)  # file fields with their own FileSystemStorage
    s3_endpoint.empty(bucket)
    with override_settings(STORAGES=config):
        storages._storages["default"] = storage  # what storages["default"] would build
        s3_endpoint.proxy.reset()
        yield Media("s3", tmp_path, s3_endpoint, bucket)


@pytest.fixture(params=["fs", "s3"])
def media_storage(request: pytest.FixtureRequest) -> Media:
    """The storage-facing tests run twice: on the local disk and on the S3 endpoint."""
    media: Media = request.getfixturevalue(f"{request.param}_media")
    return media


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many decodes the Pillow engine did: one entry per render call, its number of specs."""
    from thumbkit.core.engines.pillow import PillowEngine

    calls: list[int] = []
    real = PillowEngine.render

    def counted(self: PillowEngine, data: bytes, specs: Any, settings: Any) -> Any:
        calls.append(len(specs))
        return real(self, data, specs, settings)

    monkeypatch.setattr(PillowEngine, "render", counted)
    return calls


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The formats whose pixel data a test decoded (observes ImageFile.load): a test that
    must decode nothing asserts it stays empty."""
    loads: list[str] = []
    original = ImageFile.ImageFile.load

    def load(image: Any) -> Any:
        loads.append(str(image.format))
        return original(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return loads


@pytest.fixture(scope="session")
def batching_corpus(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """Real thumbnails of 1000 sources (``tests.batching_util``), made once per session for
    every list-page test module."""
    from django.db import transaction

    from tests import batching_util

    media = tmp_path_factory.mktemp("batching")
    with django_db_blocker.unblock(), transaction.atomic():
        made = batching_util.build_corpus(media)
        transaction.set_rollback(True)
    return made

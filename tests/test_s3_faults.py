"""S3 failing during generation: 500, 503, timeouts and refused connections, injected at
the proxy in front of moto.

Every case ends in ``StorageError`` after botocore's bounded retries, within a time budget
that follows from the client's configuration; no record is stored, no object is left in
the bucket (listed directly), no lock is held, and the same request succeeds once the
endpoint recovers. Faults are injected while reading the source (``read``: sources and
thumbnails on S3) and while uploading thumbnails (``write``: sources on the local disk).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings

from tests import images
from tests.conftest import thumbkit_settings
from tests.s3 import FILESYSTEM, STATICFILES, Endpoint, Media, client_config, s3_backend
from tests.testapp.models import Photo
from thumbkit.exceptions import SourceError, StorageError
from thumbkit.lookup.api import get_spec, resolve
from thumbkit.lookup.batch import VERSION_SPEC
from thumbkit.lookup.source import coerce
from thumbkit.models import GenerationLock, ThumbnailRecord

pytestmark = pytest.mark.django_db

# The client's side of the budget: each request may take CONNECT + READ seconds, and is
# tried ATTEMPTS times; botocore's "standard" mode waits at most 1 s before the 2nd try
# (after a throttling answer such as 503 SlowDown; 50 ms after other errors).
CONNECT, READ, ATTEMPTS = 0.5, 0.5, 2
ONE_CALL = ATTEMPTS * (CONNECT + READ) + 1.0
# A generation that fails makes one failing call (the download, or the uploads, which go
# at once), then one round of cleanup deletes (at once too), which may fail the same way.
BUDGET = 2 * ONE_CALL + 1.0  # plus a second for the rest of the work on a busy machine
HOLD = 2.0  # a "timeout" holds the request longer than READ
SPECS = ("small", "card", "50x50")
SIZES = [(100, 100), (320, 240), (50, 38)]


@pytest.fixture(params=["read", "write"])
def phase(
    request: pytest.FixtureRequest, s3_endpoint: Endpoint, settings: Any, tmp_path: Path
) -> Iterator[tuple[str, Media]]:
    """Thumbnails on S3 with a small timeout; sources on S3 (``read``) or on the local
    disk (``write``, so the faults hit the uploads)."""
    settings.MEDIA_ROOT = str(tmp_path)
    bucket = s3_endpoint.new_bucket()
    config = client_config(connect_timeout=CONNECT, read_timeout=READ, attempts=ATTEMPTS)
    s3 = s3_backend(s3_endpoint, bucket, client_config=config)
    default = s3 if request.param == "read" else FILESYSTEM
    with (
        override_settings(STORAGES={"default": default, "s3": s3, "staticfiles": STATICFILES}),
        thumbkit_settings(STORAGE="s3"),
    ):
        yield request.param, Media("s3", tmp_path, s3_endpoint, bucket)


def generate(photo: Photo) -> list[Any]:
    return resolve([(coerce(photo.image), get_spec(spec)) for spec in SPECS])


def assert_nothing_left(media: Media, *names: str) -> None:
    assert media.files() == sorted(names)  # listed at moto, past the proxy
    assert not ThumbnailRecord.objects.exclude(spec=VERSION_SPEC).exists()
    assert not GenerationLock.objects.exists()


def assert_recovers(media: Media, photo: Photo, *sources: str) -> None:
    made = generate(photo)
    assert [media.decoded(t.name)[0] for t in made] == SIZES
    assert media.files() == sorted([*sources, *(t.name for t in made)])
    assert ThumbnailRecord.objects.exclude(spec=VERSION_SPEC).count() == len(SPECS)


@pytest.mark.parametrize("mode", ["500", "503", "timeout", "refused"])
def test_a_fault_is_a_storage_error_that_leaves_nothing(
    phase: tuple[str, Media], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    where, media = phase
    assert media.endpoint is not None
    proxy = media.endpoint.proxy
    photo = Photo.objects.create(image=ContentFile(images.jpeg((400, 300)), name="a.jpg"))
    sources = [photo.image.name] if where == "read" else []
    proxy.reset()
    started = time.perf_counter()
    with proxy.failing(mode, hold=HOLD), pytest.raises(StorageError) as info:
        generate(photo)
    elapsed = time.perf_counter() - started

    assert not isinstance(info.value, SourceError)  # an outage, not a bad or missing file
    cause = info.value.__cause__  # the client's own error, kept for the logs
    assert type(cause).__module__.split(".")[0] in ("botocore", "boto3"), repr(cause)
    assert elapsed < BUDGET, elapsed
    # Retries are bounded: no request was tried more than ATTEMPTS times.
    tries = Counter((r.method, r.path) for r in proxy.requests())
    assert max(tries.values(), default=0) <= ATTEMPTS, tries
    if where == "write" and mode in ("500", "503"):
        assert sorted(tries[m, p] for m, p in tries if m == "PUT") == [ATTEMPTS] * len(SPECS)
    assert_nothing_left(media, *sources)
    assert_recovers(media, photo, *sources)


def test_one_failed_upload_removes_the_others(phase: tuple[str, Media]) -> None:
    where, media = phase
    assert media.endpoint is not None
    proxy = media.endpoint.proxy
    photo = Photo.objects.create(image=ContentFile(images.jpeg((400, 300)), name="a.jpg"))
    sources = [photo.image.name] if where == "read" else []
    proxy.reset()
    with proxy.failing("500", method="PUT", suffix=".webp"), pytest.raises(StorageError):
        generate(photo)  # "card" is a WebP: its upload fails, the two JPEGs' succeed
    stored = {r.path for r in proxy.requests("PUT") if not r.path.endswith(".webp")}
    assert len(stored) == 2
    assert stored <= {r.path for r in proxy.requests("DELETE")}  # and were removed again
    assert_nothing_left(media, *sources)
    assert_recovers(media, photo, *sources)


def test_a_transient_error_is_retried(phase: tuple[str, Media]) -> None:
    _where, media = phase
    assert media.endpoint is not None
    proxy = media.endpoint.proxy
    photo = Photo.objects.create(image=ContentFile(images.jpeg((400, 300)), name="a.jpg"))
    proxy.reset()
    with proxy.failing("503", times=1, method="PUT"):
        made = generate(photo)
    assert [media.decoded(t.name)[0] for t in made] == SIZES
    puts = [r.path for r in proxy.requests() if r.method == "PUT"]
    assert len(set(puts)) == len(SPECS)
    # The failed upload was tried again. (botocore may also retry a request whose pooled
    # keep-alive connection was closed under it; such a retry is not a fault of thumbkit's.)
    assert len(puts) >= len(SPECS) + 1
    assert ThumbnailRecord.objects.exclude(spec=VERSION_SPEC).count() == len(SPECS)

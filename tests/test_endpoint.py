"""The on-demand strategy and its endpoint (``include("thumbkit.urls")`` at ``/thumbs/``).

A missing thumbnail renders as a signed URL; the first request makes it and redirects to
the stored file; afterwards the page renders the direct URL. Tampered, unsigned and
oversized requests get a 4xx with a plain body, DEBUG or not; 20 concurrent first requests
over real HTTP generate once.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client, override_settings

from tests import images
from tests.conftest import thumbkit_settings
from tests.fields_util import decoded, media, records, thumb_files, url_path
from tests.s3 import Media
from tests.stores_util import SlowEngine, store_settings
from thumbkit.adapters import endpoint
from thumbkit.adapters.endpoint import OnDemandThumbnail, sign, signed_url
from thumbkit.exceptions import ConfigurationError
from thumbkit.lookup import api, refs
from thumbkit.signals import thumbnails_generated

__all__ = ["media"]  # a fixture

pytestmark = pytest.mark.django_db(transaction=True)

urlpatterns: list[Any] = []  # a URLconf without thumbkit's URLs, for one test


@pytest.fixture
def source(media: Media) -> str:
    return default_storage.save("photos/p.jpg", ContentFile(images.jpeg((400, 300))))


@pytest.fixture
def on_demand() -> Iterator[None]:
    with thumbkit_settings(STRATEGY="on_demand"):
        yield


@pytest.fixture
def generated() -> Iterator[list[int]]:
    made: list[int] = []
    lock = threading.Lock()

    def count(**kwargs: Any) -> None:
        with lock:
            made.append(len(kwargs["thumbnails"]))

    thumbnails_generated.connect(count, weak=False, dispatch_uid="test-endpoint")
    yield made
    thumbnails_generated.disconnect(dispatch_uid="test-endpoint")


def parts(url: str) -> tuple[str, str]:
    signature, payload = url.removeprefix("/thumbs/").split("/")
    return signature, payload


def payload_for(*fields: str) -> str:
    text = json.dumps([1, *fields], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_a_missing_thumbnail_renders_a_signed_url_that_makes_it(
    on_demand: None, source: str, media: Media, generated: list[int]
) -> None:
    thumb = api.get_thumbnail(source, "100x100 crop")
    assert isinstance(thumb, OnDemandThumbnail)
    assert thumb
    assert thumb.url.startswith("/thumbs/")
    assert (thumb.width, thumb.height) == (0, 0)
    assert thumb_files(media) == []
    assert records() == []

    response = Client().get(thumb.url)

    assert response.status_code == 302
    assert response["Cache-Control"] == f"public, max-age={endpoint.REDIRECT_MAX_AGE}"
    (record,) = records()
    assert response["Location"] == record.url == media.url(record.name)
    assert decoded(media, url_path(response["Location"])) == ((100, 100), "JPEG")
    assert generated == [1]
    # The page now renders the direct URL; the signed one still redirects, without work.
    direct = api.get_thumbnail(source, "100x100 crop")
    assert direct == record
    assert direct.url == record.url
    assert Client().get(thumb.url)["Location"] == record.url
    assert generated == [1]


def test_the_signed_url_is_stable_and_changes_with_the_source_version(
    on_demand: None, source: str
) -> None:
    first = api.get_thumbnail(source, "100x100").url
    assert api.get_thumbnail(source, "100x100").url == first
    assert api.get_thumbnail(source, "100x100", crop="center").url != first
    api.delete(source, delete_file=False)  # a new version of the same name
    assert api.get_thumbnail(source, "100x100").url != first


def test_a_spec_strategy_overrides_the_global_one(source: str, media: Media) -> None:
    lazy = api.get_thumbnail(source, "50x50")
    signed = api.get_thumbnail(source, "60x60", strategy="on_demand")
    assert lazy.width == 50
    assert lazy.url == media.url(lazy.name)
    assert signed.url.startswith("/thumbs/")
    assert len(thumb_files(media)) == 1


def test_a_named_spec_with_processors_goes_through_the_endpoint(
    on_demand: None, source: str, media: Media
) -> None:
    processed = {
        "size": "original",
        "processors": [{"PATH": "thumbkit.processors.ResizeToFill", "width": 64, "height": 48}],
    }
    with thumbkit_settings(STRATEGY="on_demand", SPECS={"processed": processed}):
        url = api.get_thumbnail(source, "processed").url
        response = Client().get(url)
    assert response.status_code == 302
    assert decoded(media, url_path(response["Location"])) == ((64, 48), "JPEG")


def flip(text: str, index: int) -> str:
    swapped = "A" if text[index] != "A" else "B"
    return text[:index] + swapped + text[index + 1 :]


@pytest.mark.parametrize("debug", [False, True])
def test_tampered_unsigned_and_oversized_requests_are_refused(
    on_demand: None, source: str, media: Media, debug: bool
) -> None:
    url = api.get_thumbnail(source, "100x100").url
    signature, payload = parts(url)
    client = Client()
    refused = {
        "payload tampered": (f"/thumbs/{signature}/{flip(payload, 10)}", 403),
        "signature tampered": (f"/thumbs/{flip(signature, 3)}/{payload}", 403),
        "signature short": (f"/thumbs/{signature[:-1]}/{payload}", 403),
        "unsigned": (f"/thumbs/{payload}", 403),
        "extra segment": (f"/thumbs/{signature}/{payload}/x", 403),
        "empty signature": (f"/thumbs/-/{payload}", 403),
        "oversized": (f"/thumbs/{signature}/{'A' * 5000}", 400),
        "wrong secret": (f"/thumbs/{sign(payload, 'not-the-key')}/{payload}", 403),
    }
    with override_settings(DEBUG=debug):
        for what, (path, status) in refused.items():
            response = client.get(path)
            assert response.status_code == status, what
            body = response.content.decode()
            assert "Traceback" not in body, what
            assert "thumbkit" not in body, what
            assert len(body) < 100, what
        assert client.post(url).status_code == 405
    assert thumb_files(media) == []
    assert records() == []


def test_signed_but_unusable_requests_get_a_plain_4xx(source: str, media: Media) -> None:
    ref_of = refs.ref_of
    client = Client()

    def signed(name: str, spec: str, alias: str = "default") -> str:
        ref = ref_of(api.get_spec(spec)) if spec != "bad" else '{"spec":"12xyz","options":{}}'
        assert ref is not None
        return signed_url(alias, name, "", ref)

    default_storage.save("photos/broken.jpg", ContentFile(b"not an image"))
    big = '{"spec":"5000x5000","options":{}}'
    cases = {
        "missing source": (signed("photos/gone.jpg", "100x100"), 404),
        "corrupt source": (signed("photos/broken.jpg", "100x100"), 404),
        "invalid spec": (signed(source, "bad"), 400),
        "over LIMITS": (signed_url("default", source, "", big), 400),
        "unknown storage": (signed(source, "100x100", alias="nope"), 400),
        "not a payload": ("/thumbs/" + sign("e30") + "/e30", 400),
        "not JSON": (f"/thumbs/{sign('bm9wZQ')}/bm9wZQ", 400),
        "old format": (
            f"/thumbs/{sign(payload_for('default'))}/{payload_for('default')}",
            400,
        ),
    }
    with override_settings(DEBUG=True):
        for what, (url, status) in cases.items():
            response = client.get(url)
            assert response.status_code == status, what
            assert "Traceback" not in response.content.decode(), what
            assert response["Cache-Control"] == "no-store", what
    assert thumb_files(media) == []
    assert records() == []


def test_secret_key_fallbacks_keep_old_urls_working(on_demand: None, source: str) -> None:
    url = api.get_thumbnail(source, "100x100").url
    rotated = {"SECRET_KEY": "a-new-key", "SECRET_KEY_FALLBACKS": [settings.SECRET_KEY]}
    with override_settings(**rotated):
        assert Client().get(url).status_code == 302
    with override_settings(SECRET_KEY="a-new-key"):
        assert Client().get(url).status_code == 403


def test_without_the_urls_on_demand_says_what_to_add(on_demand: None, source: str) -> None:
    with (
        override_settings(ROOT_URLCONF="tests.test_endpoint"),
        pytest.raises(ConfigurationError, match=r'include\("thumbkit.urls"\)'),
    ):
        api.get_thumbnail(source, "100x100")


# --- concurrency over real HTTP ------------------------------------------------------------


def fetch(base: str, path: str) -> tuple[int, str]:
    host = urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname or "", host.port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["cache-locmem", pytest.param("redis", marks=pytest.mark.redis)])
def test_twenty_concurrent_first_requests_generate_once(
    request: pytest.FixtureRequest,
    kind: str,
    live_server: Any,
    source: str,
    media: Media,
    generated: list[int],
    redis_prefix: str,
) -> None:
    if kind == "redis":
        request.getfixturevalue("need_redis")
    config = {
        **store_settings(kind, redis_prefix),
        "STRATEGY": "on_demand",
        "ENGINE": "tests.stores_util.SlowEngine",
    }
    SlowEngine.calls = 0
    with thumbkit_settings(**config):
        path = api.get_thumbnail(source, "100x100 crop").url
        barrier = threading.Barrier(20)
        results: list[tuple[int, str]] = []

        def run() -> None:
            barrier.wait()
            results.append(fetch(live_server.url, path))

        threads = [threading.Thread(target=run) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        record = api.get_thumbnail(source, "100x100 crop")
        assert (record.width, record.height) == (100, 100)  # from the store: made
    assert generated == [1]
    assert SlowEngine.calls == 1
    assert results == [(302, record.url)] * 20
    assert thumb_files(media) == [record.name]
    assert decoded(media, record.name) == ((100, 100), "JPEG")


def test_a_registered_generator_goes_through_the_endpoint(source: str, media: Media) -> None:
    from thumbkit import register

    make = {"source": source, "width": 90, "height": 30, "strategy": "on_demand"}
    url = register.make("thumbkit:thumbnail", **make).thumbnail().url
    response = Client().get(url)
    assert response.status_code == 302
    assert decoded(media, url_path(response["Location"])) == ((90, 30), "JPEG")
    assert register.make("thumbkit:thumbnail", **make).thumbnail().url == response["Location"]

"""Thumbnails on S3: django-storages' S3Storage on moto's server, counted at the proxy.

What a page costs (no request at all once the store knows a thumbnail), what generation
costs (one download of the source, concurrent uploads with the right headers), URLs
(signed ones fresh on every lookup, custom domains) and sources and thumbnails on
different storages. Faults are in ``test_s3_faults.py``; the storage-facing tests of the
other modules run on this endpoint too (their ``[s3]`` ids).
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from tests import images
from tests.api_support import Images
from tests.batching_util import tag_spec
from tests.conftest import thumbkit_settings
from tests.s3 import FILESYSTEM, STATICFILES, Endpoint, Media, name_in_url, s3_backend
from tests.testapp.models import Photo, Profile
from thumbkit import delete, get_thumbnail
from thumbkit.lookup.api import get_spec, resolve
from thumbkit.lookup.batch import VERSION_SPEC
from thumbkit.lookup.source import coerce
from thumbkit.models import ThumbnailRecord

pytestmark = pytest.mark.django_db

IMMUTABLE = "max-age=31536000, immutable"
REGENERATE = ("thumbkit_regenerate", "testapp.Profile", "photo", "--workers", "1")


def records() -> list[ThumbnailRecord]:
    return list(ThumbnailRecord.objects.exclude(spec=VERSION_SPEC).order_by("name"))


def head(media: Media, name: str) -> dict[str, Any]:
    """The object's headers, asked of moto directly (not counted at the proxy)."""
    assert media.endpoint is not None
    found: dict[str, Any] = media.endpoint.client.head_object(Bucket=media.bucket, Key=name)
    return found


# --- sources on one storage, thumbnails on another ------------------------------------


@pytest.fixture(params=["fs-to-s3", "s3-to-fs"])
def split(
    request: pytest.FixtureRequest, s3_endpoint: Endpoint, settings: Any, tmp_path: Path
) -> Iterator[tuple[Media, Media]]:
    """Sources on ``default``, thumbnails on ``thumbs`` (THUMBKIT["STORAGE"]): one of
    them FileSystemStorage on MEDIA_ROOT, the other S3Storage on a fresh bucket."""
    settings.MEDIA_ROOT = str(tmp_path)
    bucket = s3_endpoint.new_bucket()
    local, remote = Media("fs", tmp_path), Media("s3", tmp_path, s3_endpoint, bucket)
    s3 = s3_backend(s3_endpoint, bucket)
    if request.param == "fs-to-s3":
        config, pair = {"default": FILESYSTEM, "thumbs": s3}, (local, remote)
    else:
        config, pair = {"default": s3, "thumbs": FILESYSTEM}, (remote, local)
    storages_setting = override_settings(STORAGES={**config, "staticfiles": STATICFILES})
    with storages_setting, thumbkit_settings(STORAGE="thumbs"):
        yield pair


def test_sources_on_one_storage_thumbnails_on_another(split: tuple[Media, Media]) -> None:
    sources, thumbs = split
    photo = Photo.objects.create(image=ContentFile(images.jpeg((400, 300)), name="a.jpg"))
    small, card = get_thumbnail(photo.image, "small"), get_thumbnail(photo.image, "card")
    assert sources.files() == ["photos/a.jpg"]  # only the source: no thumbnail beside it
    assert thumbs.files() == sorted([small.name, card.name])
    assert thumbs.decoded(small.name) == ((100, 100), "JPEG")
    assert thumbs.decoded(card.name) == ((320, 240), "WEBP")
    assert small.storage is storages["thumbs"]
    assert [small.url, card.url] == [thumbs.url(small.name), thumbs.url(card.name)]
    assert [r.storage_alias for r in records()] == ["thumbs", "thumbs"]

    delete(photo.image, delete_file=False)
    assert thumbs.files() == []
    assert records() == []
    again = get_thumbnail(photo.image, "small")
    assert thumbs.files() == [again.name]
    delete(photo.image)
    assert (sources.files(), thumbs.files(), records()) == ([], [], [])


# --- what generation costs ------------------------------------------------------------


def test_one_download_of_the_source_and_concurrent_uploads(s3_media: Media) -> None:
    assert s3_media.endpoint is not None
    proxy = s3_media.endpoint.proxy
    photo = Photo.objects.create(image=ContentFile(images.jpeg((640, 480)), name="a.jpg"))
    specs = [get_spec(s) for s in ("small", "card", "50x50", "x80")]
    hold = 0.5
    proxy.reset()
    started = time.perf_counter()
    with proxy.failing("slow", method="PUT", hold=hold):  # every upload takes 0.5 s
        made = resolve([(coerce(photo.image), spec) for spec in specs])
    elapsed = time.perf_counter() - started
    source = f"/{s3_media.bucket}/photos/a.jpg"
    assert proxy.count("GET", source) == 1  # one download for the four sizes
    assert proxy.count("GET") == 1
    assert sorted(r.path for r in proxy.requests("PUT")) == sorted(
        f"/{s3_media.bucket}/{t.name}" for t in made
    )
    # The four uploads were in flight together: far less than four times one upload.
    assert proxy.max_in_flight == 4
    assert elapsed < 3 * hold, elapsed
    assert [s3_media.decoded(t.name)[0] for t in made] == [
        (100, 100),
        (320, 240),
        (50, 38),
        (107, 80),
    ]
    assert len(records()) == 4


def test_a_single_thumbnail_is_one_upload(s3_media: Media) -> None:
    assert s3_media.endpoint is not None
    proxy = s3_media.endpoint.proxy
    photo = Photo.objects.create(image=ContentFile(images.jpeg(), name="a.jpg"))
    proxy.reset()
    t = get_thumbnail(photo.image, "small")
    assert [(r.method, r.path) for r in proxy.requests() if r.method in ("GET", "PUT")] == [
        ("GET", f"/{s3_media.bucket}/photos/a.jpg"),
        ("PUT", f"/{s3_media.bucket}/{t.name}"),
    ]


@pytest.mark.parametrize(
    ("setting", "object_parameters", "expected"),
    [
        pytest.param({}, {}, IMMUTABLE, id="default"),
        pytest.param({"CACHE_CONTROL": None}, {}, None, id="disabled"),
        pytest.param({"CACHE_CONTROL": "public, max-age=600"}, {}, "public, max-age=600", id="set"),
        pytest.param({}, {"CacheControl": "no-cache"}, "no-cache", id="storage-wins"),
    ],
)
def test_uploads_carry_content_type_and_cache_control(
    s3_endpoint: Endpoint,
    settings: Any,
    tmp_path: Path,
    setting: dict[str, Any],
    object_parameters: dict[str, str],
    expected: str | None,
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    bucket = s3_endpoint.new_bucket()
    media = Media("s3", tmp_path, s3_endpoint, bucket)
    backend = s3_backend(s3_endpoint, bucket, object_parameters=object_parameters)
    with (
        override_settings(STORAGES={"default": backend, "staticfiles": STATICFILES}),
        thumbkit_settings(**setting),
    ):
        photo = Photo.objects.create(image=ContentFile(images.jpeg(), name="a.jpg"))
        small, card = get_thumbnail(photo.image, "small"), get_thumbnail(photo.image, "card")
        storage = storages["default"]
        for thumb, content_type in ((small, "image/jpeg"), (card, "image/webp")):
            headers = head(media, thumb.name)
            assert headers["ContentType"] == content_type
            assert headers.get("CacheControl") == expected
        # The application's own uploads, and the configured storage, are left as they were.
        assert head(media, photo.image.name).get("CacheControl") == object_parameters.get(
            "CacheControl"
        )
        assert type(storage).__name__ == "S3Storage"
        assert type(storage).__module__ == "storages.backends.s3"
        assert storage.get_object_parameters("x.jpg") == object_parameters  # type: ignore[attr-defined]


def test_what_deleting_and_regenerating_cost(s3_media: Media) -> None:
    assert s3_media.endpoint is not None
    proxy = s3_media.endpoint.proxy
    photo = Photo.objects.create(image=ContentFile(images.jpeg(), name="a.jpg"))
    made = [get_thumbnail(photo.image, "small").name, get_thumbnail(photo.image, "card").name]
    proxy.reset()
    delete(photo.image, delete_file=False)  # one DELETE per thumbnail, nothing else
    assert sorted((r.method, r.path) for r in proxy.requests()) == sorted(
        ("DELETE", f"/{s3_media.bucket}/{name}") for name in made
    )
    with thumbkit_settings(UPLOAD="off"):
        for i in range(3):
            Profile.objects.create(photo=ContentFile(images.jpeg(), name=f"p{i}.jpg"))
        proxy.reset()
        call_command(*REGENERATE, stdout=io.StringIO())
        # Per source: one ranged GET (no HEAD), and its two uploads at once.
        assert Counter(r.method for r in proxy.requests()) == {"GET": 3, "PUT": 6}
        proxy.reset()
        call_command(*REGENERATE, stdout=io.StringIO())
        assert proxy.count() == 0  # what exists is known from the store


# --- what a page costs ----------------------------------------------------------------

PAGE_ROWS = 100


@pytest.fixture
def s3_page(s3_media: Media) -> Iterator[list[Profile]]:
    """100 profiles whose sources and thumbnails are on S3, every thumbnail made."""
    with thumbkit_settings(UPLOAD="off"):
        data = images.jpeg((160, 120))
        assert s3_media.endpoint is not None
        for i in range(PAGE_ROWS):
            s3_media.write(f"profiles/p{i:03}.jpg", data)
        Profile.objects.bulk_create(
            Profile(name=f"p{i}", photo=f"profiles/p{i:03}.jpg") for i in range(PAGE_ROWS)
        )
        profiles = list(Profile.objects.all())
        small = Profile._meta.get_field("photo").declared_spec("small")  # type: ignore[attr-defined]
        resolve([(coerce(p.photo), spec) for p in profiles for spec in (small, tag_spec())])
        yield profiles


def page(client: Any) -> str:
    response = client.get(reverse("profiles", args=["profile"]), {"per_page": PAGE_ROWS})
    assert response.status_code == 200
    return str(response.content.decode())


def test_a_warm_page_makes_no_request_to_s3(
    s3_media: Media, s3_page: list[Profile], client: Any, django_assert_num_queries: Any
) -> None:
    assert s3_media.endpoint is not None
    proxy = s3_media.endpoint.proxy
    proxy.reset()
    # The paginator's count, the page's rows, and one read of the store for all of them.
    with django_assert_num_queries(3):
        html = page(client)
    assert proxy.count() == 0
    found = Images()
    found.feed(html)
    assert len(found.found) == 2 * PAGE_ROWS
    sizes = {}
    for img in found.found[:4]:  # the URLs name real objects of the sizes the tags say
        src = str(img["src"])
        assert src.startswith(f"{s3_media.endpoint.url}/{s3_media.bucket}/thumbs/")
        sizes[src] = s3_media.decoded(name_in_url(src))[0]
        assert sizes[src] == (int(str(img["width"])), int(str(img["height"])))
    assert len({str(img["src"]) for img in found.found}) == 2 * PAGE_ROWS

    # The endpoint being down changes nothing: the page never asks it.
    for mode in ("500", "refused"):
        with proxy.failing(mode):
            assert page(client) == html
    assert proxy.count() == 0


# --- URLs -----------------------------------------------------------------------------


def signed_storage(s3_endpoint: Endpoint, bucket: str, expire: int) -> dict[str, Any]:
    backend = s3_backend(
        s3_endpoint, bucket, querystring_auth=True, querystring_expire=expire, custom_domain=None
    )
    return {"default": backend, "staticfiles": STATICFILES}


def signed_at(url: str) -> tuple[datetime, int]:
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Signature"][0]
    when = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return when, int(query["X-Amz-Expires"][0])


def test_signed_urls_are_fresh_on_every_lookup_and_cost_no_request(
    s3_endpoint: Endpoint, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    bucket = s3_endpoint.new_bucket()
    with override_settings(STORAGES=signed_storage(s3_endpoint, bucket, expire=600)):
        made = get_thumbnail(
            Photo.objects.create(image=ContentFile(images.jpeg(), name="a.jpg")).image, "small"
        )
        pk = Photo.objects.get().pk
        s3_endpoint.proxy.reset()
        record = get_thumbnail(Photo.objects.get(pk=pk).image, "small")
        first = record.url
        when, expires = signed_at(first)
        assert expires == 600
        assert abs((datetime.now(UTC) - when).total_seconds()) < 5
        assert s3_endpoint.proxy.count() == 0  # signing is local
        time.sleep(1.1)  # X-Amz-Date has a resolution of one second
        second = get_thumbnail(Photo.objects.get(pk=pk).image, "small").url
        assert signed_at(second)[0] > when  # signed anew, not remembered
        # The record read a second ago signs again too: a memo never keeps an expiring URL.
        assert signed_at(record.url)[0] > when
        assert s3_endpoint.proxy.count() == 0
        assert urlsplit(first).path == urlsplit(second).path == f"/{bucket}/{made.name}"
        with urlopen(second) as response:  # the test endpoint
            assert response.headers["Content-Type"] == "image/jpeg"


def test_custom_domain_urls(s3_endpoint: Endpoint, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    bucket = s3_endpoint.new_bucket()
    backend = s3_backend(
        s3_endpoint, bucket, custom_domain="cdn.example.test", url_protocol="https:"
    )
    with override_settings(STORAGES={"default": backend, "staticfiles": STATICFILES}):
        photo = Photo.objects.create(image=ContentFile(images.jpeg(), name="a.jpg"))
        made = get_thumbnail(photo.image, "small")
        s3_endpoint.proxy.reset()
        fresh = get_thumbnail(Photo.objects.get(pk=photo.pk).image, "small")
        assert fresh.url == f"https://cdn.example.test/{made.name}"
        assert s3_endpoint.proxy.count() == 0

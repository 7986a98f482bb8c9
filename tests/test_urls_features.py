"""django-athumb's URL features: force SSL, the cache buster, a custom domain, thumbnail_url."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.template import Context, Template
from django.test import RequestFactory, override_settings
from PIL import Image

from tests import images
from tests.api_support import Images
from tests.conftest import thumbkit_settings
from tests.testapp.models import Photo, Profile
from thumbkit import delete, get_thumbnail
from thumbkit.adapters.checks import check_settings
from thumbkit.lookup.thumbnail import (
    Thumbnail,
    https,
    thumbnail_url,
    url_is_pure,
    with_buster,
    with_domain,
)

pytestmark = pytest.mark.django_db

MEDIA = "http://media.example.com/media/"


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.MEDIA_URL = MEDIA
    return tmp_path


@pytest.fixture
def photo(media: Path) -> Photo:
    return Photo.objects.create(image=ContentFile(images.jpeg((400, 300)), name="a.jpg"))


def render(source: str, request: Any = None, **context: Any) -> str:
    if request is not None:
        context["request"] = request
    return Template("{% load thumbkit %}" + source).render(Context(context))


def srcs(html: str) -> list[str]:
    parser = Images()
    parser.feed(html)
    return [str(img["src"]) for img in parser.found]


def size_at(media: Path, url: str, prefix: str = MEDIA) -> tuple[int, int]:
    """The real size of the file behind ``url`` (query string and host ignored)."""
    path = url.split("?")[0]
    path = re.sub(r"^https?://[^/]+/media/", "", path)
    with Image.open(io.BytesIO((media / path).read_bytes())) as img:
        return img.size


ALL_FORMS = (
    '{% thumbnail p.image "100x100" crop="center" FLAG -- alt="a" %}|'
    '{% thumbnail p.image "100x100" crop="center" FLAG as t %}<img src="{{ t.url }}">'
    "{% endthumbnail %}|"
    '{% thumbnail "100x50" p.image FLAG %}|'
    '{% thumbnail_url p.image "small" FLAG %}|'
    '{% thumbnail_url p.image "small" FLAG as url %}{{ url }}'
)


def forms(flag: str = "") -> str:
    return ALL_FORMS.replace("FLAG", flag)


def urls_of(html: str) -> list[str]:
    inline, block, imagekit, url, assigned = html.split("|")
    return [*srcs(inline), *srcs(block), *srcs(imagekit), url, assigned]


# --- force SSL --------------------------------------------------------------------------


def test_plain_urls_by_default(photo: Photo, media: Path) -> None:
    urls = urls_of(render(forms(), p=photo))
    assert all(url.startswith("http://media.example.com/media/thumbs/") for url in urls)
    assert size_at(media, urls[0]) == (100, 100)
    assert size_at(media, urls[2]) == (100, 50)


def test_force_ssl_per_call(photo: Photo) -> None:
    urls = urls_of(render(forms("force_ssl=True"), p=photo))
    assert len(urls) == 5
    assert all(url.startswith("https://media.example.com/media/thumbs/") for url in urls)
    # Only that call: the stored thumbnail and the next plain render keep http.
    assert get_thumbnail(photo.image, "small").url.startswith("http://")
    assert all(url.startswith("http://") for url in urls_of(render(forms(), p=photo)))


def test_force_ssl_per_call_on_generateimage(photo: Photo) -> None:
    html = render(
        '{% generateimage "thumbkit:thumbnail" source=p.image width=50 height=50 force_ssl=True %}',
        p=photo,
    )
    [url] = srcs(html)
    assert url.startswith("https://media.example.com/")


def test_force_ssl_setting(photo: Photo) -> None:
    with thumbkit_settings(FORCE_SSL=True):
        urls = urls_of(render(forms(), p=photo))
        assert get_thumbnail(photo.image, "small").url.startswith("https://")
        assert render('{{ p.image|thumbnail_url:"small" }}', p=photo).startswith("https://")
    assert all(url.startswith("https://media.example.com/media/thumbs/") for url in urls)


@pytest.mark.parametrize("secure", [True, False])
def test_secure_request_in_context(secure: bool, photo: Photo) -> None:
    request = RequestFactory().get("/", secure=secure)
    urls = urls_of(render(forms(), request=request, p=photo))
    scheme = "https://" if secure else "http://"
    assert all(url.startswith(scheme + "media.example.com/") for url in urls)


def test_relative_urls_stay_relative(photo: Photo, settings: Any) -> None:
    settings.MEDIA_URL = "/media/"
    request = RequestFactory().get("/", secure=True)
    urls = urls_of(render(forms("force_ssl=True"), request=request, p=photo))
    assert all(url.startswith("/media/thumbs/") for url in urls)


def test_https_helper() -> None:
    assert https("http://a.example/x.jpg") == "https://a.example/x.jpg"
    assert https("//a.example/x.jpg") == "https://a.example/x.jpg"
    assert https("https://a.example/x.jpg") == "https://a.example/x.jpg"
    assert https("/media/x.jpg") == "/media/x.jpg"


# --- cache buster -----------------------------------------------------------------------


def test_cache_buster_setting(photo: Photo, media: Path) -> None:
    with thumbkit_settings(CACHE_BUSTER="r42"):
        urls = urls_of(render(forms("force_ssl=True"), p=photo))
    assert all(url.endswith("?v=r42") for url in urls)
    assert all(url.count("v=") == 1 for url in urls)
    assert size_at(media, urls[0]) == (100, 100)


def test_automatic_cache_buster_changes_with_the_source(photo: Photo, media: Path) -> None:
    template = '{% thumbnail p.image "small" -- %}'
    with thumbkit_settings(CACHE_BUSTER="auto"):
        [first] = srcs(render(template, p=photo))
        assert srcs(render(template, p=Photo.objects.get(pk=photo.pk))) == [first]
        version = first.rsplit("?v=", 1)[1]
        assert version == get_thumbnail(photo.image, "small").key[:10]
        delete(photo.image, delete_file=False)  # the source changed in place
        fresh = Photo.objects.get(pk=photo.pk)
        [second] = srcs(render(template, p=fresh))
    assert second.rsplit("?v=", 1)[1] != version
    assert size_at(media, second) == (100, 100)


def test_automatic_cache_buster_on_a_resaved_field(media: Path) -> None:
    template = '{% thumbnail_url p.photo "small" %}'
    profile = Profile.objects.create(photo=ContentFile(images.jpeg((300, 200)), name="p.jpg"))
    with thumbkit_settings(CACHE_BUSTER=True):
        first = render(template, p=profile)
        profile.photo.save("p.jpg", ContentFile(images.jpeg((200, 300))))
        second = render(template, p=Profile.objects.get(pk=profile.pk))
    assert "?v=" in first
    assert "?v=" in second
    assert first.rsplit("?v=", 1)[1] != second.rsplit("?v=", 1)[1]


def test_buster_is_added_once_and_after_an_existing_query() -> None:
    assert with_buster("/m/x.jpg", "abc") == "/m/x.jpg?v=abc"
    assert with_buster("/m/x.jpg?v=old", "abc") == "/m/x.jpg?v=old"
    assert with_buster("/m/x.jpg?a=1&v=old", "abc") == "/m/x.jpg?a=1&v=old"
    signed = "https://b.s3.amazonaws.com/x.jpg?X-Amz-Signature=s&X-Amz-Expires=3600"
    assert with_buster(signed, "abc") == signed + "&v=abc"
    assert with_buster("/m/x.jpg", "a b&c") == "/m/x.jpg?v=a%20b%26c"


class QueryStorage(FileSystemStorage):
    """A storage whose URLs carry a query string already, as signed URLs do."""

    def url(self, name: str | None) -> str:
        return f"{super().url(name)}?X-Amz-Signature=abc&X-Amz-Expires=60"


def test_buster_on_urls_with_a_query_string(photo: Photo, media: Path, settings: Any) -> None:
    storages_setting = {
        **settings.STORAGES,
        "signed": {
            "BACKEND": f"{__name__}.QueryStorage",
            "OPTIONS": {"location": str(media), "base_url": MEDIA},
        },
    }
    with (
        override_settings(STORAGES=storages_setting),
        thumbkit_settings(STORAGE="signed", CACHE_BUSTER="r1", URL_DOMAIN="cdn.example.com"),
    ):
        assert not url_is_pure(storages["signed"])
        [url] = srcs(render('{% thumbnail p.image "small" -- %}', p=photo))
        [again] = srcs(render('{% thumbnail p.image "small" -- %}', p=photo))
    # Signed: the host is kept (a new one would break the signature); the buster follows &.
    assert url == again
    assert url.startswith("http://media.example.com/media/thumbs/")
    assert url.endswith("?X-Amz-Signature=abc&X-Amz-Expires=60&v=r1")
    assert size_at(media, url) == (100, 100)


# --- custom domain ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "prefix"),
    [
        ("cdn.example.com", "http://cdn.example.com/media/thumbs/"),
        ("https://cdn.example.com", "https://cdn.example.com/media/thumbs/"),
        ("//cdn.example.com/", "http://cdn.example.com/media/thumbs/"),
    ],
)
def test_custom_domain(domain: str, prefix: str, photo: Photo, media: Path) -> None:
    with thumbkit_settings(URL_DOMAIN=domain):
        urls = urls_of(render(forms(), p=photo))
        secure = urls_of(render(forms("force_ssl=True"), p=photo))
    assert all(url.startswith(prefix) for url in urls)
    assert all(url.startswith("https://cdn.example.com/media/thumbs/") for url in secure)
    assert size_at(media, urls[0]) == (100, 100)


def test_custom_domain_on_relative_media_url(photo: Photo, settings: Any) -> None:
    settings.MEDIA_URL = "/media/"
    with thumbkit_settings(URL_DOMAIN="cdn.example.com", CACHE_BUSTER="b", FORCE_SSL=True):
        [url] = srcs(render('{% thumbnail p.image "small" -- %}', p=photo))
    assert re.fullmatch(r"https://cdn\.example\.com/media/thumbs/.+\.jpg\?v=b", url)


def test_with_domain_helper() -> None:
    assert with_domain("/m/x.jpg", "", "cdn.x") == "https://cdn.x/m/x.jpg"
    assert with_domain("http://a/m/x.jpg?q=1", "", "cdn.x") == "http://cdn.x/m/x.jpg?q=1"
    assert with_domain("http://a/m/x.jpg", "https", "cdn.x") == "https://cdn.x/m/x.jpg"


@pytest.mark.parametrize("bad", ["https://cdn.example.com/path", "ftp://cdn.example.com", "/x"])
def test_bad_url_domain_is_a_check_error(bad: str) -> None:
    with thumbkit_settings(URL_DOMAIN=bad):
        errors = check_settings()
    assert [e.id for e in errors] == ["thumbkit.E009"]
    assert "URL_DOMAIN" in errors[0].msg


@pytest.mark.parametrize(
    ("key", "value"), [("FORCE_SSL", "yes"), ("CACHE_BUSTER", 3), ("URL_DOMAIN", 1)]
)
def test_url_settings_types_are_checked(key: str, value: Any) -> None:
    with thumbkit_settings(**{key: value}):
        assert [e.id for e in check_settings()] == ["thumbkit.E009"]


# --- S3 URLs (computed without any request) ---------------------------------------------


def s3_storages(settings: Any, **options: Any) -> dict[str, Any]:
    pytest.importorskip("storages.backends.s3")
    base = {
        "bucket_name": "thumbs",
        "access_key": "k",
        "secret_key": "s",
        "region_name": "us-east-1",
        "endpoint_url": "http://127.0.0.1:9",  # nothing listens: any request would fail
    }
    return {
        **settings.STORAGES,
        "s3": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {**base, **options}},
    }


def record(alias: str) -> Thumbnail:
    return Thumbnail(
        key="0123456789abcdef0123456789abcdef",
        name="thumbs/01/23/a-0123456789abcdef.jpg",
        width=100,
        height=100,
        format="JPEG",
        storage_alias=alias,
        source_key="s",
        spec="100x100",
        source_name="a.jpg",
    )


def test_s3_signed_urls(settings: Any) -> None:
    with (
        override_settings(STORAGES=s3_storages(settings)),
        thumbkit_settings(CACHE_BUSTER="auto", URL_DOMAIN="cdn.example.com"),
    ):
        assert not url_is_pure(storages["s3"])
        url = record("s3").url
    assert url.startswith("http://127.0.0.1:9/thumbs/thumbs/01/23/a-0123456789abcdef.jpg?")
    assert "Signature=" in url  # SigV2 or SigV4, whichever botocore picks
    assert url.endswith("&v=0123456789")


def test_s3_custom_domain(settings: Any) -> None:
    options = {"custom_domain": "img.example.com", "querystring_auth": True}
    with (
        override_settings(STORAGES=s3_storages(settings, **options)),
        thumbkit_settings(CACHE_BUSTER="r9"),
    ):
        assert url_is_pure(storages["s3"])
        url = record("s3").url
        html = Template("{% load thumbkit %}{{ t.url }}").render(Context({"t": record("s3")}))
        # Our URL_DOMAIN on top of django-storages' custom_domain: ours wins.
        with thumbkit_settings(URL_DOMAIN="https://cdn.example.com"):
            vanity = thumbnail_url("s3", "thumbs/x.jpg", "k" * 32)
    assert url == "https://img.example.com/thumbs/01/23/a-0123456789abcdef.jpg?v=r9"
    assert html == url
    assert vanity == "https://cdn.example.com/thumbs/x.jpg?v=r9"


def test_s3_unsigned_urls_are_pure(settings: Any) -> None:
    with override_settings(STORAGES=s3_storages(settings, querystring_auth=False)):
        assert url_is_pure(storages["s3"])
        assert record("s3").url == ("http://127.0.0.1:9/thumbs/thumbs/01/23/a-0123456789abcdef.jpg")


# --- thumbnail_url ----------------------------------------------------------------------


def test_thumbnail_url_filter_and_tag(media: Path) -> None:
    profile = Profile.objects.create(photo=ContentFile(images.jpeg((400, 300)), name="p.jpg"))
    html = render(
        '{{ p.photo|thumbnail_url:"small" }}|{% thumbnail_url p.photo "small" %}|'
        '{% thumbnail_url p.photo "small" as u %}{{ u }}|'
        '{{ p.photo|thumbnail_url:"card" }}|{{ p.photo|thumbnail_url:"60x60" }}|'
        '{% thumbnail_url p.photo "60x60" crop="center" %}',
        p=profile,
    )
    small, tag, assigned, card, fit, crop = html.split("|")
    assert small == tag == assigned == profile.photo.thumbnails.small.url
    assert card == profile.photo.thumbnails.card.url
    assert size_at(media, small) == (100, 100)
    assert size_at(media, card) == (320, 240)
    assert size_at(media, fit) == (60, 45)
    assert size_at(media, crop) == (60, 60)


def test_thumbnail_url_on_a_plain_field_and_missing_sources(
    photo: Photo, caplog: pytest.LogCaptureFixture
) -> None:
    assert render('{{ p.image|thumbnail_url:"small" }}', p=photo) == (
        get_thumbnail(photo.image, "small").url
    )
    gone = Photo.objects.create(image="photos/gone.jpg")
    html = render(
        '[{{ p.image|thumbnail_url:"small" }}][{% thumbnail_url p.image "small" %}]', p=gone
    )
    assert html == "[][]"
    # One warning: the second lookup answers from the remembered failure (logged at DEBUG).
    assert len([r for r in caplog.records if r.name == "thumbkit"]) == 1


def test_thumbnail_url_escapes_the_ampersand(photo: Photo) -> None:
    with thumbkit_settings(CACHE_BUSTER="a&b"):
        html = render('{% thumbnail_url p.image "small" %}', p=photo)
    assert html.endswith("?v=a%26b")

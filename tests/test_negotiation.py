"""format=auto: the on-demand endpoint negotiates AVIF / WebP / a universal format from
``Accept`` (``Vary: Accept``, one stored file per format); elsewhere AUTO is a format every
browser shows. SIZES_ALLOWED: the endpoint refuses other sizes before reading, locking or
writing anything. QUALITY per format."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from PIL import Image

from tests import images
from tests.conftest import thumbkit_settings
from tests.fields_util import decoded, records, thumb_files, url_path
from tests.s3 import Media
from thumbkit.adapters import checks
from thumbkit.adapters.endpoint import OnDemandThumbnail
from thumbkit.adapters.negotiate import choose, media_ranges
from thumbkit.core.spec import AUTO
from thumbkit.exceptions import InvalidSpec, SizeNotAllowed
from thumbkit.lookup import api
from thumbkit.lookup.stores import get_store
from thumbkit.signals import thumbnails_generated

pytestmark = pytest.mark.django_db(transaction=True)

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
OLD_SAFARI = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
AUTO_SPEC = "120x90 crop format=auto"


@pytest.fixture
def media(fs_media: Media) -> Media:
    return fs_media


@pytest.fixture
def source(media: Media) -> str:
    return default_storage.save("photos/p.jpg", ContentFile(images.jpeg((400, 300))))


@pytest.fixture
def generated() -> Iterator[list[int]]:
    made: list[int] = []
    lock = threading.Lock()

    def count(**kwargs: Any) -> None:
        with lock:
            made.append(len(kwargs["thumbnails"]))

    thumbnails_generated.connect(count, weak=False, dispatch_uid="test-negotiation")
    yield made
    thumbnails_generated.disconnect(dispatch_uid="test-negotiation")


def signed(source: str, spec: str = AUTO_SPEC) -> str:
    with thumbkit_settings(STRATEGY="on_demand"):
        thumb = api.get_thumbnail(source, spec)
    assert isinstance(thumb, OnDemandThumbnail)
    return thumb.url


def get(url: str, accept: str | None) -> Any:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Client().get(url, **headers)


# --- Accept parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (CHROME, "AVIF"),
        (FIREFOX, "AVIF"),
        ("image/webp,image/apng,image/*,*/*;q=0.8", "WEBP"),  # Chrome before AVIF
        (OLD_SAFARI, AUTO),  # wildcards never pick a modern format
        ("*/*", AUTO),
        ("image/*", AUTO),
        (None, AUTO),
        ("", AUTO),
        ("text/html,application/xhtml+xml", AUTO),  # nothing acceptable: still an image
        ("image/avif;q=0.5,image/webp;q=0.9", "WEBP"),  # the client's preference wins
        ("image/avif;q=0.4,image/jpeg", AUTO),
        ("image/avif;q=0,image/webp", "WEBP"),  # q=0: not acceptable
        ("image/avif;q=0, image/webp;q=0, */*;q=0.1", AUTO),
        ("IMAGE/AVIF ; Q=0.9 , image/webp;q=0.9", "AVIF"),  # a tie: thumbkit's order
        ("image/webp;q=oops,image/avif;q=2", AUTO),  # malformed q values are ignored
        ("image/avif;level=1;q=0.7,image/jpeg;q=0.6", "AVIF"),
    ],
)
def test_accept_headers_choose_a_format(accept: str | None, fmt: str) -> None:
    assert choose(accept) == fmt


def test_a_huge_accept_header_is_read_only_so_far() -> None:
    header = ",".join(["text/plain"] * 5000) + ",image/avif"
    assert len(media_ranges(header)) == 1  # one distinct range among the first 64
    assert choose(header) == AUTO


# --- the endpoint ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (CHROME, "AVIF"),
        ("image/webp,*/*", "WEBP"),
        ("image/avif;q=0.5,image/webp;q=0.8,*/*;q=0.1", "WEBP"),
        ("*/*", "JPEG"),
        (None, "JPEG"),
    ],
)
def test_the_endpoint_answers_accept_with_vary(
    source: str, media: Media, accept: str | None, fmt: str
) -> None:
    response = get(signed(source), accept)
    assert response.status_code == 302
    assert response["Vary"] == "Accept"
    assert decoded(media, url_path(response["Location"])) == ((120, 90), fmt)
    (record,) = records()
    assert record.format == fmt


def test_each_negotiated_format_is_its_own_stored_thumbnail(
    source: str, media: Media, generated: list[int]
) -> None:
    url = signed(source)
    locations = {accept: get(url, accept)["Location"] for accept in (CHROME, "image/webp", None)}
    assert generated == [1, 1, 1]
    names = [url_path(location) for location in locations.values()]
    assert len(set(names)) == 3
    assert [decoded(media, name)[1] for name in names] == ["AVIF", "WEBP", "JPEG"]
    assert sorted(r.format for r in records()) == ["AVIF", "JPEG", "WEBP"]
    assert len(thumb_files(media)) == 3
    # Asked again, each answer comes from the store: nothing is made twice.
    assert {a: get(url, a)["Location"] for a in locations} == locations
    assert generated == [1, 1, 1]


def test_a_page_keeps_rendering_the_signed_url_of_an_auto_spec(source: str, media: Media) -> None:
    url = signed(source)
    assert get(url, None).status_code == 302  # the universal file is stored now
    assert get(url, CHROME).status_code == 302
    # Rendering the stored file's URL would give every browser one format: never.
    assert signed(source) == url
    # Without negotiation the same spec is an ordinary thumbnail: the universal file.
    lazy = api.get_thumbnail(source, AUTO_SPEC)
    assert lazy.format == "JPEG"
    assert lazy.url == media.url(lazy.name)


def test_a_spec_with_a_format_does_not_vary(source: str, media: Media) -> None:
    response = get(signed(source, "120x90 crop format=webp"), CHROME)
    assert response.status_code == 302
    assert "Vary" not in response
    assert decoded(media, url_path(response["Location"])) == ((120, 90), "WEBP")


# --- AUTO without a request ----------------------------------------------------------------


def _rgba_png() -> bytes:
    image = Image.new("RGBA", (200, 100), (10, 200, 30, 128))
    return images.encode(image, "PNG")


@pytest.mark.parametrize("engine", ["pillow", "vips"])
@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("a.jpg", images.jpeg((200, 100)), "JPEG"),
        ("b.png", images.png((200, 100)), "PNG"),
        ("c.webp", images.encode(Image.new("RGB", (200, 100), "red"), "WEBP"), "JPEG"),
        ("d.webp", images.encode(Image.new("RGBA", (200, 100), (1, 2, 3, 4)), "WEBP"), "PNG"),
        ("e.avif", images.encode(Image.new("RGB", (200, 100), "red"), "AVIF"), "JPEG"),
        ("f.png", _rgba_png(), "PNG"),
    ],
)
def test_auto_outside_the_endpoint_is_a_format_every_browser_shows(
    media: Media, engine: str, name: str, data: bytes, fmt: str
) -> None:
    stored = default_storage.save(name, ContentFile(data))
    with thumbkit_settings(ENGINE=engine):
        thumb = api.get_thumbnail(stored, "50 format=auto")
    assert decoded(media, thumb.name) == ((50, 25), fmt)
    assert thumb.format == fmt
    assert thumb.name.endswith({"JPEG": ".jpg", "PNG": ".png"}[fmt])


def test_auto_without_a_source_format_guess_predicts_a_universal_name(source: str) -> None:
    with thumbkit_settings(STRATEGY="optimistic"):
        on_webp = api.get_thumbnail("photos/x.webp", "50 format=auto")
        on_png = api.get_thumbnail("photos/x.png", "50 format=auto")
    assert (on_webp.format, on_png.format) == ("JPEG", "PNG")
    assert on_webp.name.endswith(".jpg")


# --- SIZES_ALLOWED --------------------------------------------------------------------------


@pytest.fixture
def locks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the store was asked to lock (a spy: the real lock still runs)."""
    taken: list[str] = []
    store_class = type(get_store())
    real = store_class.lock

    def counted(self: Any, key: str, timeout: float) -> Any:
        taken.append(key)
        return real(self, key, timeout)

    monkeypatch.setattr(store_class, "lock", counted)
    return taken


def test_a_size_not_allowed_is_refused_before_anything_happens(
    source: str,
    media: Media,
    generated: list[int],
    locks: list[str],
    no_decoding: list[str],
) -> None:
    url = signed(source)  # signed before the allow-list existed
    with thumbkit_settings(SIZES_ALLOWED=[320, "640x480"]):
        response = get(url, CHROME)
    assert response.status_code == 400
    assert response.content == b"Size not allowed."
    assert response["Cache-Control"] == "no-store"
    assert (thumb_files(media), records(), generated, locks, no_decoding) == ([], [], [], [], [])


def test_allowed_sizes_are_served(source: str, media: Media, locks: list[str]) -> None:
    with thumbkit_settings(SIZES_ALLOWED=[120, "x50", "200x100"]):
        for spec, size in (("120x90 crop", (120, 90)), ("120", (120, 90)), ("x50", (67, 50))):
            response = get(signed(source, spec), None)
            assert response.status_code == 302, spec
            assert decoded(media, url_path(response["Location"])) == (size, "JPEG")
    assert len(locks) == 3


@pytest.mark.parametrize("spec", ["100x90", "121", "x51", "200x90", "200x101"])
def test_the_on_demand_strategy_refuses_to_sign_a_size_not_allowed(source: str, spec: str) -> None:
    allowed = thumbkit_settings(SIZES_ALLOWED=[120, "x50", "200x100"])
    with allowed, pytest.raises(SizeNotAllowed, match="SIZES_ALLOWED"):
        signed(source, spec)


def test_sizes_allowed_leave_lazy_lookups_alone(source: str, media: Media) -> None:
    with thumbkit_settings(SIZES_ALLOWED=[320]):
        assert api.get_thumbnail(source, "77x77 crop").width == 77


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([], "an empty list"),
        ([0], "0 is not a positive width"),
        (["320x"], "'320x' is not a width"),
        (["wide"], "'wide' is not a width"),
        ([True], "True is not a width"),
        ([3.5], "3.5 is not a width"),
        ("320", "has the wrong type"),
    ],
)
def test_sizes_allowed_is_validated(value: Any, problem: str) -> None:
    with thumbkit_settings(SIZES_ALLOWED=value):
        errors = checks.check_settings()
        with pytest.raises(SystemCheckError, match="SIZES_ALLOWED"):
            call_command("check")
    assert [e.id for e in errors] == ["thumbkit.E009"]
    assert problem in errors[0].msg


def test_an_invalid_allow_list_refuses_rather_than_allows(source: str) -> None:
    with thumbkit_settings(SIZES_ALLOWED=["wide"]), pytest.raises(InvalidSpec, match="wide"):
        signed(source, "120")


# --- QUALITY per format ---------------------------------------------------------------------


def _bytes(media: Media, source: str, spec: str, **settings: Any) -> bytes:
    with thumbkit_settings(**settings):
        return media.read(api.get_thumbnail(source, spec).name)


@pytest.mark.parametrize(("fmt", "measured"), [("webp", 90), ("avif", 75), ("jpeg", 85)])
def test_each_format_has_its_measured_default_quality(
    source: str, media: Media, fmt: str, measured: int
) -> None:
    default = _bytes(media, source, f"80 format={fmt}")
    assert default == _bytes(media, source, f"80 format={fmt} quality={measured}")
    assert default != _bytes(media, source, f"80 format={fmt} quality={measured - 20}")


def test_quality_as_an_int_is_every_formats_and_a_dict_sets_some(source: str, media: Media) -> None:
    webp_60 = _bytes(media, source, "81 format=webp quality=60")
    avif_60 = _bytes(media, source, "81 format=avif quality=60")
    avif_75 = _bytes(media, source, "81 format=avif quality=75")
    assert _bytes(media, source, "81 format=webp", QUALITY=60) == webp_60
    api.delete(source, delete_file=False)  # a new version: the same specs are made again
    assert _bytes(media, source, "81 format=avif", QUALITY=60) == avif_60
    api.delete(source, delete_file=False)
    per_format = {"webp": 60}
    assert _bytes(media, source, "81 format=webp", QUALITY=per_format) == webp_60
    assert _bytes(media, source, "81 format=avif", QUALITY=per_format) == avif_75


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"PNG": 80}, "has a key 'PNG'"),
        ({"WEBP": 0}, "['WEBP'] = 0 is not an int from 1 to 100"),
        ({"avif": "60"}, "['avif'] = '60' is not an int"),
        (101, "out of range"),
    ],
)
def test_quality_is_validated(value: Any, problem: str) -> None:
    with thumbkit_settings(QUALITY=value):
        errors = checks.check_settings()
    assert [e.id for e in errors] == ["thumbkit.E009"]
    assert problem in errors[0].msg

"""``{% picture %}``: formats x widths in one ``<picture>``, one store round trip."""

from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory
from PIL import Image

from tests import images
from tests.testapp.models import Photo
from thumbkit import get_thumbnail
from thumbkit.core.engines.pillow import PillowEngine
from thumbkit.exceptions import InvalidSpec, OutputTooLarge
from thumbkit.lookup.batch import FAILED_SPEC
from thumbkit.models import ThumbnailRecord

pytestmark = pytest.mark.django_db

CARD = (
    '{% picture p.image "card" formats="avif,webp,jpeg" widths="320,640,960" '
    'sizes="(max-width: 600px) 100vw, 320px" -- alt="A card" class="c" %}'
)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def render(source: str, **context: Any) -> str:
    return Template("{% load thumbkit %}" + source).render(Context(context))


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def photo_of(size: tuple[int, int]) -> Photo:
    return Photo.objects.create(image=ContentFile(images.jpeg(size), name="p.jpg"))


def real(media: Path, url: str | None) -> tuple[str, tuple[int, int]]:
    """(format, size) of the file behind a URL."""
    assert url is not None
    assert url.startswith("/media/")
    with Image.open(io.BytesIO((media / url.removeprefix("/media/")).read_bytes())) as img:
        return str(img.format), img.size


def entries(srcset: str | None) -> list[tuple[str, str]]:
    assert srcset is not None
    return [tuple(item.strip().split(" ")) for item in srcset.split(",")]  # type: ignore[misc]


def test_picture_renders_sources_and_a_fallback_img(media: Path) -> None:
    photo = photo_of((2000, 1500))
    html = render(CARD, p=photo)
    assert html.startswith("<picture><source ")
    assert html.endswith("></picture>")
    (pic, _), (s1, avif), (s2, webp), (img_tag, img) = tags(html)
    assert (pic, s1, s2, img_tag) == ("picture", "source", "source", "img")
    assert (avif["type"], webp["type"]) == ("image/avif", "image/webp")
    assert avif["sizes"] == webp["sizes"] == img["sizes"] == "(max-width: 600px) 100vw, 320px"
    for attrs, fmt in ((avif, "AVIF"), (webp, "WEBP"), (img, "JPEG")):
        found = entries(attrs["srcset"])
        assert [w for _, w in found] == ["320w", "640w", "960w"]
        # Each width keeps the card's 4:3 crop, in the source's real files.
        assert [real(media, url) for url, _ in found] == [
            (fmt, (320, 240)),
            (fmt, (640, 480)),
            (fmt, (960, 720)),
        ]
    assert (img["width"], img["height"], img["alt"], img["class"]) == ("320", "240", "A card", "c")
    assert img["src"] == entries(img["srcset"])[0][0]
    assert ThumbnailRecord.objects.count() == 9


def test_the_spec_keeps_its_options(media: Path) -> None:
    photo = photo_of((1200, 900))
    html = render('{% picture p.image "300x100" crop="top" widths="150,300" %}', p=photo)
    [(_, _), (_, img)] = tags(html)
    (small, _), (big, _) = entries(img["srcset"])
    assert small == get_thumbnail(photo.image, "150x50", crop="top").url
    assert big == get_thumbnail(photo.image, "300x100", crop="top").url
    assert img["src"] == big  # the spec's own width is the <img src>
    assert real(media, small) == ("JPEG", (150, 50))


def test_widths_beyond_the_source_are_clamped_and_deduplicated(media: Path) -> None:
    photo = photo_of((500, 375))
    html = render(
        '{% picture p.image "320x240" crop="center" formats="webp,jpeg" widths="320,640,960" %}',
        p=photo,
    )
    (_, _), (_, webp), (_, img) = tags(html)
    for attrs in (webp, img):
        found = entries(attrs["srcset"])
        # 640 and 960 cannot be filled without upscaling: both give the source's 500 px.
        assert [w for _, w in found] == ["320w", "500w"]
        assert [real(media, url)[1] for url, _ in found] == [(320, 240), (500, 375)]


def test_upscale_when_the_spec_says_so(media: Path) -> None:
    photo = photo_of((500, 375))
    html = render('{% picture p.image "320x240 crop upscale" widths="320,960" %}', p=photo)
    [(_, _), (_, img)] = tags(html)
    assert [real(media, url)[1] for url, _ in entries(img["srcset"])] == [(320, 240), (960, 720)]


def test_one_store_round_trip_and_one_decode(
    media: Path, monkeypatch: Any, django_assert_num_queries: Any
) -> None:
    photo = photo_of((2000, 1500))
    decodes: list[int] = []
    real_render = PillowEngine.render

    def counted(self: PillowEngine, data: bytes, specs: Any, settings: Any) -> Any:
        decodes.append(len(specs))
        return real_render(self, data, specs, settings)

    monkeypatch.setattr(PillowEngine, "render", counted)
    cold = render(CARD, p=photo)
    assert decodes == [9]  # all nine thumbnails from one read and decode of the source
    warm_photo = Photo.objects.get(pk=photo.pk)
    with django_assert_num_queries(1):  # one store read for all nine
        warm = render(CARD, p=warm_photo)
    assert warm == cold
    with django_assert_num_queries(0):  # the memo on the file answers the next render
        assert render(CARD, p=warm_photo) == cold
    assert decodes == [9]


def test_missing_source_renders_nothing(media: Path, caplog: pytest.LogCaptureFixture) -> None:
    gone = Photo.objects.create(image="photos/gone.jpg")
    assert render(CARD, p=gone) == ""
    assert render(CARD, p=None) == ""
    assert len([r for r in caplog.records if r.name == "thumbkit"]) == 2
    assert ThumbnailRecord.objects.exclude(spec=FAILED_SPEC).count() == 0


def test_secure_request_gives_https_everywhere(media: Path, settings: Any) -> None:
    settings.MEDIA_URL = "http://m.example.com/media/"
    photo = photo_of((1000, 750))
    request = RequestFactory().get("/", secure=True)
    html = render(CARD, p=photo, request=request)
    assert "http://" not in html
    assert html.count("https://m.example.com/media/") == 10  # 9 in srcsets, 1 src


def test_without_formats_and_widths(media: Path) -> None:
    photo = photo_of((1000, 750))
    html = render('{% picture p.image "small" -- alt="x" %}', p=photo)
    [(pic, _), (_, img)] = tags(html)
    assert pic == "picture"
    assert (img["width"], img["height"]) == ("100", "100")
    assert entries(img["srcset"]) == [(str(img["src"]), "100w")]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ('formats="gif2"', InvalidSpec),
        ('widths="a,b"', InvalidSpec),
        ('widths="0"', InvalidSpec),
        ('widths="9000"', OutputTooLarge),
        ('crop="sideways"', InvalidSpec),
    ],
)
def test_invalid_options_raise(options: str, error: type[Exception], media: Path) -> None:
    photo = photo_of((100, 100))
    with pytest.raises(error):
        render('{% picture p.image "card" ' + options + " %}", p=photo)


@pytest.mark.parametrize(
    "source",
    ["{% picture %}", '{% picture p.image "card" as x %}', "{% picture p.image %}"],
)
def test_syntax_errors(source: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        Template("{% load thumbkit %}" + source)


def img_of(html: str) -> dict[str, str | None]:
    (name, attrs) = tags(html)[-1]
    assert name == "img"
    return attrs


def test_the_img_is_lazy_and_async_with_its_size(media: Path) -> None:
    photo = photo_of((2000, 1500))
    img = img_of(render(CARD, p=photo))
    assert (img["width"], img["height"]) == ("320", "240")
    assert (img["loading"], img["decoding"]) == ("lazy", "async")
    assert "fetchpriority" not in img


def test_priority_makes_it_eager_and_high(media: Path) -> None:
    photo = photo_of((2000, 1500))
    html = render('{% picture p.image "320x240 crop" widths="320,640" priority=True %}', p=photo)
    img = img_of(html)
    assert (img["loading"], img["fetchpriority"], img["decoding"]) == ("eager", "high", "async")
    assert (img["width"], img["height"]) == ("320", "240")
    assert "lazy" not in html
    off = img_of(render('{% picture p.image "320x240 crop" priority="false" %}', p=photo))
    assert (off["loading"], off.get("fetchpriority")) == ("lazy", None)


def test_attributes_after_the_dashes_win(media: Path) -> None:
    photo = photo_of((800, 600))
    img = img_of(
        render('{% picture p.image "320x240" -- loading="eager" decoding="sync" %}', p=photo)
    )
    assert (img["loading"], img["decoding"]) == ("eager", "sync")


def test_widths_snap_to_sizes_allowed(media: Path, settings: Any) -> None:
    photo = photo_of((2000, 1500))
    settings.THUMBKIT = {**settings.THUMBKIT, "SIZES_ALLOWED": [320, 640, 960]}
    html = render('{% picture p.image "300x225 crop" widths="300,600,1000,1200" %}', p=photo)
    found = entries(img_of(html)["srcset"])
    assert [w for _, w in found] == ["320w", "640w", "960w"]
    assert [real(media, url) for url, _ in found] == [
        ("JPEG", (320, 240)),
        ("JPEG", (640, 480)),
        ("JPEG", (960, 720)),
    ]
    # Boxes snap only to the allowed ones of the spec's own aspect ratio.
    settings.THUMBKIT = {**settings.THUMBKIT, "SIZES_ALLOWED": ["320x240", "640x360", "800x600"]}
    html = render('{% picture p.image "400x300 crop" widths="300,600" %}', p=photo)
    assert [real(media, url)[1] for url, _ in entries(img_of(html)["srcset"])] == [
        (320, 240),
        (800, 600),
    ]


def test_on_demand_pictures_sign_only_allowed_sizes(media: Path, settings: Any) -> None:
    photo = photo_of((2000, 1500))
    settings.THUMBKIT = {**settings.THUMBKIT, "STRATEGY": "on_demand", "SIZES_ALLOWED": [320, 640]}
    html = render('{% picture p.image "300x225 crop" widths="300,500,900" %}', p=photo)
    found = entries(img_of(html)["srcset"])
    assert [w for _, w in found] == ["320w", "640w"]
    assert all(url.startswith("/thumbs/") for url, _ in found)
    assert ThumbnailRecord.objects.count() == 0

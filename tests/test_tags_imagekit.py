"""imagekit's template tags on thumbkit: ``{% generateimage %}``, ``{% thumbnail "WxH" src %}``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template import Context, Template, TemplateSyntaxError
from PIL import Image

from tests import images
from tests.api_support import Images, file_size, thumbkit_warnings
from tests.testapp.models import Photo
from thumbkit import ImageSpec, get_thumbnail, register
from thumbkit.exceptions import InvalidSpec
from thumbkit.lookup.batch import FAILED_SPEC
from thumbkit.lookup.registry import NotRegistered
from thumbkit.lookup.thumbnail import Placeholder, Thumbnail
from thumbkit.models import ThumbnailRecord
from thumbkit.processors import ResizeToFill

pytestmark = pytest.mark.django_db


class Spec100x50(ImageSpec):
    processors = [ResizeToFill(100, 50)]
    format = "JPEG"
    options = {"quality": 60}


class Sized(ImageSpec):
    """A generator taking keyword arguments from the tag."""

    def __init__(self, source: Any = None, width: int = 10, height: int = 10) -> None:
        super().__init__(source, processors=[ResizeToFill(int(width), int(height))])


@pytest.fixture(autouse=True)
def generators() -> Iterator[None]:
    register.generator("tests:thumb", Spec100x50)
    register.generator("tests:sized", Sized)
    yield
    register.unregister("tests:thumb")
    register.unregister("tests:sized")


@pytest.fixture
def photo(settings: Any, tmp_path: Path) -> Photo:
    settings.MEDIA_ROOT = str(tmp_path)
    return Photo.objects.create(image=ContentFile(images.jpeg((400, 300)), name="a.jpg"))


def render(source: str, **context: Any) -> str:
    return Template("{% load thumbkit %}" + source).render(Context(context))


def imgs(html: str) -> list[dict[str, str | None]]:
    parser = Images()
    parser.feed(html)
    return parser.found


# --- generateimage ----------------------------------------------------------------------


def test_generateimage_renders_an_img(photo: Photo) -> None:
    html = render('{% generateimage "tests:thumb" source=p.image %}', p=photo)
    [img] = imgs(html)
    assert (img["width"], img["height"]) == ("100", "50")
    assert file_size(img["src"]) == (100, 50)
    assert img["src"] == Spec100x50(source=photo.image).thumbnail().url
    assert str(img["src"]).endswith(".jpg")


def test_generateimage_with_html_attributes(photo: Photo) -> None:
    html = render(
        '{% generateimage "tests:thumb" source=p.image -- alt="A picture of Me" id="mypicture" %}',
        p=photo,
    )
    [img] = imgs(html)
    assert img["alt"] == "A picture of Me"
    assert img["id"] == "mypicture"
    assert (img["width"], img["height"]) == ("100", "50")


def test_generateimage_assigns_without_a_block(photo: Photo) -> None:
    html = render(
        '{% generateimage "tests:thumb" source=p.image as th %}'
        '<a href="{{ th.url }}">{{ th.width }} x {{ th.height }}</a>',
        p=photo,
    )
    thumb = Spec100x50(source=photo.image).thumbnail()
    assert html == f'<a href="{thumb.url}">100 x 50</a>'


def test_generateimage_passes_keyword_arguments_to_the_generator(photo: Photo) -> None:
    html = render(
        '{% generateimage gen source=p.image width=w height=30 -- alt="x" %}',
        p=photo,
        gen="tests:sized",
        w=60,
    )
    [img] = imgs(html)
    assert (img["width"], img["height"]) == ("60", "30")
    assert file_size(img["src"]) == (60, 30)


def test_generateimage_unknown_id_raises(photo: Photo) -> None:
    with pytest.raises(NotRegistered, match="tests:nope"):
        render('{% generateimage "tests:nope" source=p.image %}', p=photo)


@pytest.mark.parametrize("assign", [False, True])
def test_generateimage_missing_source_renders_nothing_and_logs_once(
    assign: bool, photo: Photo, caplog: pytest.LogCaptureFixture
) -> None:
    gone = Photo.objects.create(image="photos/gone.jpg")
    tail = " as th %}[{{ th }}]" if assign else " %}"
    html = render('{% generateimage "tests:thumb" source=p.image' + tail, p=gone)
    assert html == ("[None]" if assign else "")
    [warning] = thumbkit_warnings(caplog)
    assert "gone.jpg" in warning.getMessage()
    assert ThumbnailRecord.objects.exclude(spec=FAILED_SPEC).count() == 0


def test_generateimage_corrupt_source_renders_nothing(
    photo: Photo, caplog: pytest.LogCaptureFixture
) -> None:
    bad = Photo.objects.create(image=ContentFile(b"not an image", name="bad.jpg"))
    assert render('{% generateimage "tests:thumb" source=p.image %}', p=bad) == ""
    assert len(thumbkit_warnings(caplog)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "{% generateimage %}",
        '{% generateimage "a:b" "c:d" source=x %}',
        '{% generateimage "a:b" source=x -- alt="y" as th %}',
        '{% generateimage "a:b" source=x -- "alt" %}',
    ],
)
def test_generateimage_syntax_errors(source: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        Template("{% load thumbkit %}" + source)


# --- imagekit's thumbnail order ---------------------------------------------------------


def test_imagekit_thumbnail_crops_to_exact_size(photo: Photo) -> None:
    html = render('{% thumbnail "100x50" p.image %}', p=photo)
    [img] = imgs(html)
    assert (img["width"], img["height"]) == ("100", "50")
    assert file_size(img["src"]) == (100, 50)


def test_imagekit_thumbnail_one_side_fits(photo: Photo) -> None:
    [img] = imgs(render('{% thumbnail "200x" p.image %}', p=photo))
    assert file_size(img["src"]) == (200, 150)
    [img] = imgs(render("{% thumbnail 'x60' p.image %}", p=photo))
    assert file_size(img["src"]) == (80, 60)


def test_imagekit_thumbnail_with_attributes_and_options(photo: Photo) -> None:
    html = render(
        '{% thumbnail "100x50" p.image anchor="tl" -- alt="A picture of Me" id="mypicture" %}'
        '{% thumbnail "100x50" p.image crop=0 %}',
        p=photo,
    )
    anchored, fitted = imgs(html)
    assert (anchored["alt"], anchored["id"]) == ("A picture of Me", "mypicture")
    assert file_size(anchored["src"]) == (100, 50)
    assert file_size(fitted["src"]) == (67, 50)  # crop=0: fit inside, imagekit's ResizeToFit
    assert anchored["src"] != fitted["src"]


def test_imagekit_thumbnail_assignment(photo: Photo) -> None:
    html = render(
        '{% thumbnail "100x50" p.image as th %}{{ th.width }}x{{ th.height }} {{ th.url }}',
        p=photo,
    )
    size, url = html.split(" ")
    assert size == "100x50"
    assert file_size(url) == (100, 50)


def test_imagekit_thumbnail_with_a_generator_id(photo: Photo) -> None:
    [img] = imgs(render('{% thumbnail "tests:sized" "40x20" p.image %}', p=photo))
    assert file_size(img["src"]) == (40, 20)


def test_imagekit_order_with_variables_is_detected_at_render(photo: Photo) -> None:
    html = render("{% thumbnail dims p.image -- alt='v' %}", p=photo, dims="100x50")
    [img] = imgs(html)
    assert file_size(img["src"]) == (100, 50)
    # The same pair in sorl order is sorl's "fit inside 100x50".
    [img] = imgs(render("{% thumbnail p.image dims %}", p=photo, dims="100x50"))
    assert file_size(img["src"]) == (67, 50)


def test_imagekit_and_sorl_forms_in_one_template(photo: Photo) -> None:
    html = render(
        '{% thumbnail "100x50" p.image as ik %}'
        '{% thumbnail p.image "300x300" crop="center" as t %}'
        '<img src="{{ t.url }}">{% empty %}none{% endthumbnail %}'
        '<img src="{{ ik.url }}">'
        '{% thumbnail p.image "small" -- alt="Photo" %}',
        p=photo,
    )
    block, assigned, inline = imgs(html)
    assert file_size(block["src"]) == (300, 300)
    assert file_size(assigned["src"]) == (100, 50)
    assert file_size(inline["src"]) == (100, 100)


def test_imagekit_thumbnail_missing_source(photo: Photo, caplog: pytest.LogCaptureFixture) -> None:
    assert render('{% thumbnail "100x50" None %}') == ""
    assert render('{% thumbnail "100x50" None as th %}{{ th }}') == "None"
    assert len(thumbkit_warnings(caplog)) == 2


def test_imagekit_thumbnail_bad_anchor_raises(photo: Photo) -> None:
    with pytest.raises(InvalidSpec):
        render('{% thumbnail "100x50" p.image anchor="middle" %}', p=photo)


@pytest.mark.parametrize(
    "source",
    [
        '{% thumbnail "100x50" %}',
        '{% thumbnail "100x50" a b c %}',
        '{% thumbnail "100x50" p.image -- alt="x" as th %}',
    ],
)
def test_imagekit_thumbnail_syntax_errors(source: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        Template("{% load thumbkit %}" + source)


# --- imagekit's anchor and crop in the sorl form ----------------------------------------


@pytest.mark.parametrize(
    ("options", "crop"),
    [
        ('anchor="tl"', "0% 0%"),
        ('anchor="c"', "center"),
        ('anchor="b"', "50% 100%"),
        ('anchor="br"', "100% 100%"),
        ("anchor=point", "25% 75%"),
        ("crop=True", "center"),
        ("crop=1", "center"),
    ],
)
def test_sorl_inline_form_takes_imagekit_anchor_and_crop(
    options: str, crop: str, photo: Photo
) -> None:
    html = render(
        '{% thumbnail p.image "100x100" ' + options + " -- %}", p=photo, point=(0.25, 0.75)
    )
    [img] = imgs(html)
    assert img["src"] == get_thumbnail(photo.image, "100x100", crop=crop).url
    assert file_size(img["src"]) == (100, 100)


def test_sorl_form_crop_off_ignores_the_anchor(photo: Photo) -> None:
    [img] = imgs(render('{% thumbnail p.image "100x100" crop=0 anchor="tl" -- %}', p=photo))
    assert file_size(img["src"]) == (100, 75)
    assert img["src"] == get_thumbnail(photo.image, "100x100").url


def test_anchor_pixels_differ(settings: Any, tmp_path: Path) -> None:
    """A left half black, right half white source: anchor "l" keeps black, "r" white."""
    settings.MEDIA_ROOT = str(tmp_path)
    img = Image.new("RGB", (400, 100), "white")
    img.paste((0, 0, 0), (0, 0, 200, 100))
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    p = Photo.objects.create(image=ContentFile(buffer.getvalue(), name="halves.png"))
    left, right = imgs(
        render(
            '{% thumbnail p.image "50x50" anchor="l" -- %}'
            '{% thumbnail "50x50" p.image anchor="r" %}',
            p=p,
        )
    )
    for url, value in ((left["src"], 0), (right["src"], 255)):
        assert url is not None
        with default_storage.open(url.removeprefix("/media/")) as fh, Image.open(fh) as out:
            assert out.convert("L").getpixel((25, 25)) == value


# --- falsy results ----------------------------------------------------------------------


class NoneYet:
    """A strategy that never generates: deferred-style placeholders."""

    url = "/static/wait.svg"

    def on_missing(self, source: Any, items: Any) -> dict[str, Placeholder]:
        return {key: Placeholder(self.url, key=key) for _, key in items}


@pytest.fixture
def placeholder_strategy() -> Iterator[None]:
    from thumbkit.lookup import strategies

    strategies.STRATEGIES["tests_none_yet"] = NoneYet  # type: ignore[assignment]
    from tests.conftest import thumbkit_settings

    with thumbkit_settings(STRATEGY="tests_none_yet"):
        yield
    del strategies.STRATEGIES["tests_none_yet"]


def test_falsy_placeholders(photo: Photo, placeholder_strategy: None) -> None:
    html = render(
        '{% thumbnail p.image "300x300" as t %}yes{% empty %}empty{% endthumbnail %}|'
        '{% thumbnail p.image "301x301" -- alt="x" %}|'
        '{% thumbnail "100x50" p.image %}|'
        '{% generateimage "tests:thumb" source=p.image as th %}'
        "{% if th %}yes{% else %}no{% endif %}",
        p=photo,
    )
    block, inline, imagekit, assigned = html.split("|")
    assert block == "empty"
    assert imgs(inline) == [{"src": "/static/wait.svg", "alt": "x"}]  # no width/height
    assert imgs(imagekit) == [{"src": "/static/wait.svg"}]
    assert assigned == "no"
    assert ThumbnailRecord.objects.count() == 0


def test_thumbnail_type_is_a_real_thumbnail(photo: Photo) -> None:
    context = Context({"p": photo})
    Template('{% load thumbkit %}{% thumbnail "100x50" p.image as th %}').render(context)
    assert isinstance(context["th"], Thumbnail)

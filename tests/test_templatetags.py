"""``{% load thumbkit %}``: the thumbnail tag in block and inline forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.template import Context, Template, TemplateSyntaxError

from tests import images
from tests.api_support import Images, file_size, thumbkit_warnings
from tests.conftest import thumbkit_settings
from tests.testapp.models import Photo
from thumbkit import get_thumbnail
from thumbkit.exceptions import ConfigurationError, InvalidSpec, OutputTooLarge
from thumbkit.lookup.batch import FAILED_SPEC
from thumbkit.models import ThumbnailRecord

pytestmark = pytest.mark.django_db

BLOCK = (
    '{% load thumbkit %}{% thumbnail p.image "300x300" crop="center" as t %}'
    '<img src="{{ t.url }}" width="{{ t.width }}" height="{{ t.height }}">'
    "{% empty %}<p>no image</p>{% endthumbnail %}"
)
INLINE = (
    '{% load thumbkit %}{% thumbnail p.image "small" -- alt="A photo" class="avatar" data-x="y" %}'
)


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def photo(media: Path) -> Photo:
    return Photo.objects.create(image=ContentFile(images.jpeg((400, 300)), name="a.jpg"))


def imgs(html: str) -> list[dict[str, str | None]]:
    parser = Images()
    parser.feed(html)
    return parser.found


def render(source: str, **context: Any) -> str:
    return Template(source).render(Context(context))


# --- block form -------------------------------------------------------------------------


def test_block_form(photo: Photo) -> None:
    html = render(BLOCK + "[{{ t }}]", p=photo)
    [img] = imgs(html)
    assert (img["width"], img["height"]) == ("300", "300")
    assert file_size(img["src"]) == (300, 300)
    assert img["src"] == get_thumbnail(photo.image, "300x300", crop="center").url
    assert "no image" not in html
    assert html.endswith("[]")  # the variable does not leak past the tag


def test_block_form_without_empty_branch(photo: Photo) -> None:
    html = render(
        '{% load thumbkit %}{% thumbnail p.image "200" as t %}{{ t }}{% endthumbnail %}', p=photo
    )
    t = get_thumbnail(photo.image, "200")
    assert html == t.url
    assert (t.width, t.height) == (200, 150)


def test_spec_and_options_as_variables(photo: Photo) -> None:
    source = (
        "{% load thumbkit %}{% thumbnail p.image spec crop=where format=fmt as t %}"
        '<img src="{{ t.url }}" width="{{ t.width }}" height="{{ t.height }}">{% endthumbnail %}'
        "{% thumbnail p.image named -- alt=label %}"
    )
    html = render(source, p=photo, spec="120x40", where="top", fmt="png", named="card", label="x")
    block, inline = imgs(html)
    assert (block["width"], block["height"]) == ("120", "40")
    assert file_size(block["src"]) == (120, 40)
    assert block["src"] == get_thumbnail(photo.image, "120x40", crop="top", format="png").url
    assert str(block["src"]).endswith(".png")
    assert (inline["width"], inline["height"]) == ("320", "240")
    assert file_size(inline["src"]) == (320, 240)
    assert inline["src"] == get_thumbnail(photo.image, "card").url


# --- inline form ------------------------------------------------------------------------


def test_inline_form_renders_a_whole_img(photo: Photo) -> None:
    html = render(INLINE, p=photo)
    [img] = imgs(html)
    assert img == {
        "src": get_thumbnail(photo.image, "small").url,
        "width": "100",
        "height": "100",
        "alt": "A photo",
        "class": "avatar",
        "data-x": "y",
    }
    assert file_size(img["src"]) == (100, 100)


def test_inline_attributes_are_escaped(photo: Photo) -> None:
    nasty = '"><script>alert(1)</script>&'
    html = render(
        '{% load thumbkit %}{% thumbnail p.image "50x50" -- alt=text title="a&b" %}',
        p=photo,
        text=nasty,
    )
    assert "<script>" not in html
    assert "&quot;&gt;&lt;script&gt;" in html
    [img] = imgs(html)
    assert img["alt"] == nasty  # escaped in the HTML, intact once parsed
    assert img["title"] == "a&b"


def test_inline_attributes_can_override_size_but_not_src(photo: Photo) -> None:
    html = render(
        '{% load thumbkit %}{% thumbnail p.image "small" -- width="50" src="/x.png" hidden=no %}',
        p=photo,
        no=None,
    )
    [img] = imgs(html)
    assert img["width"] == "50"
    assert img["src"] == get_thumbnail(photo.image, "small").url
    assert "hidden" not in img


# --- sources that degrade ---------------------------------------------------------------


@pytest.mark.parametrize("form", ["block", "inline"])
def test_missing_source_renders_empty_and_logs_once(
    form: str, media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = Photo.objects.create(image="photos/gone.jpg")
    html = render(BLOCK if form == "block" else INLINE, p=gone)
    assert html == ("<p>no image</p>" if form == "block" else "")
    [warning] = thumbkit_warnings(caplog)
    assert "photos/gone.jpg" in warning.getMessage()
    assert ThumbnailRecord.objects.exclude(spec=FAILED_SPEC).count() == 0


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: Photo.objects.create(), id="empty-field"),
        pytest.param(lambda: None, id="none"),
        pytest.param(
            lambda: Photo.objects.create(image=ContentFile(b"not an image", name="t.jpg")),
            id="not-an-image",
        ),
        pytest.param(
            lambda: Photo.objects.create(image=ContentFile(images.jpeg()[:300], name="t.jpg")),
            id="truncated",
        ),
    ],
)
def test_unusable_sources_render_empty(
    source: Any, media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    html = render(BLOCK, p=source())
    assert html == "<p>no image</p>"
    assert len(thumbkit_warnings(caplog)) == 1
    assert ThumbnailRecord.objects.exclude(spec=FAILED_SPEC).count() == 0


# --- errors that must raise -------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        '{% load thumbkit %}{% thumbnail p.image "300y300" as t %}x{% empty %}y{% endthumbnail %}',
        '{% load thumbkit %}{% thumbnail p.image "300x300" crop="middle-ish" -- alt="x" %}',
        "{% load thumbkit %}{% thumbnail p.image spec as t %}x{% empty %}y{% endthumbnail %}",
        '{% load thumbkit %}{% thumbnail p.image "nosuchname" %}',
    ],
)
def test_invalid_spec_raises_at_render(source: str, photo: Photo) -> None:
    template = Template(source)  # the spec may be a variable: only rendering can tell
    with pytest.raises(InvalidSpec):
        template.render(Context({"p": photo, "spec": "big"}))


def test_invalid_spec_raises_even_for_a_missing_source(media: Path) -> None:
    with pytest.raises(InvalidSpec):
        render('{% load thumbkit %}{% thumbnail None "wide" -- %}')


def test_output_above_limits_raises(photo: Photo) -> None:
    with pytest.raises(OutputTooLarge):
        render('{% load thumbkit %}{% thumbnail p.image "5000x5000" -- %}', p=photo)


def test_missing_storage_alias_raises(photo: Photo, caplog: pytest.LogCaptureFixture) -> None:
    with thumbkit_settings(STORAGE="nowhere"), pytest.raises(ImproperlyConfigured):
        render(BLOCK, p=photo)
    assert thumbkit_warnings(caplog) == []


@pytest.mark.parametrize(
    "changes",
    [{"STORE": "no.such.Store"}, {"STRATEGY": "sometimes"}, {"ENGINE": "no.such.Engine"}],
)
def test_configuration_errors_raise(changes: dict[str, str], photo: Photo) -> None:
    with thumbkit_settings(**changes), pytest.raises(ConfigurationError):
        render(BLOCK, p=photo)


@pytest.mark.parametrize(
    "source",
    [
        "{% thumbnail %}",
        "{% thumbnail p.image %}",
        '{% thumbnail p.image "small" crop %}',
        '{% thumbnail p.image "small" -- "alt" %}',
        '{% thumbnail p.image "small" 1x=2 as t %}{% endthumbnail %}',
        '{% thumbnail p.image "small" as t %}no end',
    ],
)
def test_syntax_errors(source: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        Template("{% load thumbkit %}" + source)

"""thumbkit.fields.ImageField: declared thumbnails, the ``thumbnails`` mapping, checks.

Thumbnails are made for real (files decoded from the storage); nothing is mocked.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.db import models
from django.template import engines
from django.test.utils import isolate_apps

from tests.conftest import thumbkit_settings
from tests.fields_util import decoded, media, records, thumb_files, upload, url_path
from tests.s3 import Media
from tests.testapp.models import Profile, StyledPhoto
from thumbkit import get_thumbnail
from thumbkit.core.spec import parse
from thumbkit.exceptions import InvalidSpec, SourceError, SourceMissing
from thumbkit.fields import ImageField, parse_declared
from thumbkit.signals import thumbnails_generated

__all__ = ["media"]  # a fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[Callable[[], Any]], Any]:
    """Run a save and then its on-commit work, as a real commit would."""

    def run(action: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


@pytest.fixture
def profile(media: Media, committed: Any) -> Profile:
    made: Profile = committed(lambda: Profile.objects.create(name="a", photo=upload("me.jpg")))
    return made


@pytest.fixture
def generated() -> Iterator[list[int]]:
    """How many thumbnails each generation pass made (one entry per pass)."""
    passes: list[int] = []

    def count(sender: Any, thumbnails: list[Any], **kwargs: Any) -> None:
        passes.append(len(thumbnails))

    thumbnails_generated.connect(count, dispatch_uid="test-fields-count")
    yield passes
    thumbnails_generated.disconnect(dispatch_uid="test-fields-count")


def render(text: str, **context: Any) -> str:
    return str(engines["django"].from_string(text).render(context))


# --- the mapping -----------------------------------------------------------------------


def test_attribute_and_item_access_give_the_same_thumbnail(profile: Profile) -> None:
    thumbs = profile.photo.thumbnails
    assert thumbs.small == thumbs["small"]
    assert thumbs.card == thumbs["card"]
    assert thumbs.small.size == (100, 100)
    assert thumbs.card.size == (320, 240)
    assert thumbs.small.url != thumbs.card.url


def test_mapping_protocol_follows_declaration_order(profile: Profile) -> None:
    thumbs = profile.photo.thumbnails
    assert list(thumbs.keys()) == ["small", "card"]
    assert list(thumbs) == ["small", "card"]
    assert len(thumbs) == 2
    assert "small" in thumbs
    assert "card" in thumbs
    assert "large" not in thumbs
    assert [(name, t.size) for name, t in thumbs.items()] == [
        ("small", (100, 100)),
        ("card", (320, 240)),
    ]
    assert [t.size for t in thumbs.values()] == [(100, 100), (320, 240)]
    assert thumbs.all() == [thumbs.small, thumbs.card]
    assert thumbs.get("large") is None


def test_unknown_name_says_what_is_declared(profile: Profile) -> None:
    expected = "testapp.Profile.photo declares no thumbnail 'large'; declared: small, card."
    with pytest.raises(AttributeError) as attr:
        _ = profile.photo.thumbnails.large
    assert str(attr.value) == expected
    with pytest.raises(KeyError) as item:
        _ = profile.photo.thumbnails["large"]
    assert item.value.args == (expected,)
    with pytest.raises(AttributeError):
        _ = profile.photo.thumbnails._private


def test_thumbnails_describe_the_files_on_the_storage(profile: Profile, media: Media) -> None:
    small, card = profile.photo.thumbnails.all()
    assert decoded(media, url_path(small.url)) == ((100, 100), "JPEG")
    assert decoded(media, url_path(card.url)) == ((320, 240), "WEBP")
    assert (small.width, small.height, small.format) == (100, 100, "JPEG")
    assert (card.width, card.height, card.format) == (320, 240, "WEBP")
    assert thumb_files(media) == sorted([small.name, card.name])
    assert records() == sorted([small, card], key=lambda r: r.name)


def test_all_makes_the_missing_thumbnails_in_one_pass(
    media: Media, committed: Any, generated: list[int]
) -> None:
    with thumbkit_settings(UPLOAD="off"):
        profile = committed(lambda: Profile.objects.create(photo=upload()))
        assert generated == []
        thumbs = profile.photo.thumbnails.all()
    # One generation for both: the source was read and decoded once.
    assert generated == [2]
    assert [t.size for t in thumbs] == [(100, 100), (320, 240)]
    assert len(thumb_files(media)) == 2


def test_an_instance_asks_the_store_once_for_every_declared_thumbnail(
    profile: Profile, django_assert_num_queries: Any
) -> None:
    fresh = Profile.objects.get(pk=profile.pk)
    with django_assert_num_queries(1):
        urls = [fresh.photo.thumbnails.small.url, fresh.photo.thumbnails.card.url]
        urls += [t.url for t in fresh.photo.thumbnails.all()]
    assert urls[:2] == urls[2:]


# --- declaration styles ----------------------------------------------------------------


def test_every_declaration_style_makes_its_thumbnail(media: Media, committed: Any) -> None:
    photo = committed(lambda: StyledPhoto.objects.create(image=upload("s.jpg", (400, 300))))
    thumbs = dict(photo.image.thumbnails.items())
    assert list(thumbs) == ["thumb", "card", "wide", "square"]
    assert decoded(media, thumbs["thumb"].name) == ((80, 60), "JPEG")  # geometry string
    assert decoded(media, thumbs["card"].name) == ((320, 240), "WEBP")  # named spec
    assert decoded(media, thumbs["wide"].name) == ((200, 150), "PNG")  # dict of options
    assert decoded(media, thumbs["square"].name) == ((50, 50), "JPEG")
    assert thumbs["square"].spec == "50x50 crop=50%,50% quality=70"
    assert len(thumb_files(media)) == 4


def test_a_declared_named_spec_is_the_same_file_as_the_spec_written_inline(
    media: Media, committed: Any
) -> None:
    photo = committed(lambda: StyledPhoto.objects.create(image=upload()))
    inline = get_thumbnail(photo.image, "320x240 crop=center format=webp quality=80")
    assert inline == photo.image.thumbnails.card
    assert len(thumb_files(media)) == 4


def test_declared_dicts_take_a_size_pair_like_django_athumb() -> None:
    assert parse_declared({"size": (50, 50), "crop": True}) == parse("50x50 crop")
    assert parse_declared({"size": (120, None)}) == parse("120")
    assert parse_declared({"size": [None, 90], "format": "png"}) == parse("x90 format=png")
    assert parse_declared("card") == parse("320x240 crop=center format=webp quality=80")


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ({"crop": "center"}, "needs a 'size'"),
        ({"size": (1, 2, 3)}, "needs a 'size'"),
        ({"size": "100x100", "shine": 1}, "unknown option 'shine'"),
        ("100y100", "is not a geometry or a spec name"),
        (["100x100"], "is a string or a dict"),
    ],
)
def test_invalid_declarations_raise(declared: Any, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=problem):
        parse_declared(declared)


def test_declared_specs_follow_changed_settings(profile: Profile) -> None:
    assert profile.photo.thumbnails.card.size == (320, 240)
    with thumbkit_settings(SPECS={"card": {"size": "64x48", "crop": "center"}}):
        fresh = Profile.objects.get(pk=profile.pk)
        assert fresh.photo.thumbnails.card.size == (64, 48)
    fresh = Profile.objects.get(pk=profile.pk)
    assert fresh.photo.thumbnails.card.size == (320, 240)


# --- templates and empty fields --------------------------------------------------------


def test_templates_reach_declared_thumbnails(profile: Profile) -> None:
    html = render(
        "{{ p.photo.thumbnails.small.url }}|"
        "{% for name, t in p.photo.thumbnails.items %}{{ name }}={{ t.width }}x{{ t.height }};"
        "{% endfor %}|{{ p.photo.thumbnails.card }}",
        p=profile,
    )
    small, card = profile.photo.thumbnails.all()
    assert html == f"{small.url}|small=100x100;card=320x240;|{card.url}"


def test_an_empty_field_raises_source_missing_in_python(media: Media) -> None:
    profile = Profile.objects.create(name="no photo")
    with pytest.raises(SourceMissing, match="The file field is empty"):
        _ = profile.photo.thumbnails.small
    with pytest.raises(SourceMissing):
        profile.photo.thumbnails.all()
    assert "small" in profile.photo.thumbnails  # still declared


def test_an_empty_field_renders_empty_in_templates(
    media: Media, django_assert_num_queries: Any
) -> None:
    profile = Profile.objects.create(name="no photo")
    text = (
        "[{{ p.photo.thumbnails.small.url }}]"
        "{% if p.photo.thumbnails.card %}yes{% else %}no{% endif %}"
    )
    with django_assert_num_queries(0):
        assert render(text, p=profile) == "[]no"
    assert SourceError.silent_variable_failure is True
    assert thumb_files(media) == []


def test_an_invalid_spec_is_not_silenced_in_templates() -> None:
    assert not getattr(InvalidSpec, "silent_variable_failure", False)


# --- migrations ------------------------------------------------------------------------


def test_the_field_deconstructs_as_djangos_image_field() -> None:
    field = Profile._meta.get_field("photo")
    name, path, args, kwargs = field.deconstruct()
    assert (name, path, args) == ("photo", "django.db.models.ImageField", [])
    assert kwargs == {"upload_to": "profiles", "blank": True}


def test_declared_thumbnails_make_no_migration() -> None:
    out = io.StringIO()
    # --check exits non-zero when the models and the migrations differ.
    call_command("makemigrations", "testapp", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()


# --- system checks ---------------------------------------------------------------------


def field_errors(model: type[models.Model], name: str) -> list[checks.CheckMessage]:
    field = model._meta.get_field(name)
    assert isinstance(field, ImageField)
    return [e for e in field.check() if str(e.id).startswith("thumbkit.")]


@isolate_apps("tests.testapp")
def test_e010_reports_each_invalid_declared_thumbnail() -> None:
    class Bad(models.Model):  # noqa: DJ008
        photo = ImageField(
            thumbnails={
                "ok": "100x100",
                "broken": "100y100",
                "items": "50x50",
                "nosize": {"crop": "center"},
                "huge": "9000x10",
            }
        )

        class Meta:
            app_label = "testapp"

    errors = field_errors(Bad, "photo")
    assert [e.id for e in errors] == ["thumbkit.E010"] * 4
    assert [e.obj for e in errors] == [Bad._meta.get_field("photo")] * 4
    text = [e.msg for e in errors]
    assert text[0].startswith("Thumbnail 'broken': Invalid spec '100y100'")
    assert text[1] == (
        "Thumbnail 'items': the name hides the method photo.thumbnails.items(); "
        "choose another name."
    )
    assert text[2].startswith("Thumbnail 'nosize': A declared thumbnail needs a 'size'")
    assert "LIMITS['MAX_OUTPUT_SIDE']" in text[3]


@isolate_apps("tests.testapp")
def test_e011_manifest_field_must_be_a_json_field() -> None:
    class Text(models.Model):  # noqa: DJ008
        photo = ImageField(thumbnails={"s": "10x10"}, manifest_field="thumbs")
        thumbs = models.TextField()

        class Meta:
            app_label = "testapp"

    class Missing(models.Model):  # noqa: DJ008
        photo = ImageField(thumbnails={"s": "10x10"}, manifest_field="nowhere")

        class Meta:
            app_label = "testapp"

    class Good(models.Model):  # noqa: DJ008
        photo = ImageField(thumbnails={"s": "10x10"}, manifest_field="thumbs")
        thumbs = models.JSONField(default=dict, blank=True, editable=False)

        class Meta:
            app_label = "testapp"

    for model, name in ((Text, "thumbs"), (Missing, "nowhere")):
        errors = field_errors(model, "photo")
        assert [e.id for e in errors] == ["thumbkit.E011"]
        assert errors[0].msg == (
            f"manifest_field={name!r} must name a JSONField of testapp.{model.__name__}."
        )
        assert errors[0].hint == (
            f"Add {name} = models.JSONField(default=dict, blank=True, editable=False)."
        )
    assert field_errors(Good, "photo") == []


def test_the_test_models_pass_their_checks() -> None:
    for model in (Profile, StyledPhoto):
        assert field_errors(model, "photo" if model is Profile else "image") == []

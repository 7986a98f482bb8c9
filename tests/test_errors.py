"""Common mistakes get a message that names the fix (docs/troubleshooting.md).

Each test makes the mistake for real (a project without the app, a typo in a key, a spec
name, a declared name, a crop) and asserts the message text, and that nothing was written.
"""

from __future__ import annotations

import ast
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.template import engines
from django.test import override_settings

from tests import images
from tests.conftest import thumbkit_settings
from tests.fields_util import upload
from tests.s3 import Media
from tests.testapp.models import Profile
from thumbkit import get_thumbnail
from thumbkit.adapters import checks
from thumbkit.exceptions import ConfigurationError, InvalidSpec, did_you_mean
from thumbkit.fields import ImageField

pytestmark = pytest.mark.django_db

SRC = Path(__file__).resolve().parent.parent / "src" / "thumbkit"


def render(text: str, **context: Any) -> str:
    return str(engines["django"].from_string(text).render(context))


@pytest.fixture
def without_the_app() -> Iterator[None]:
    """INSTALLED_APPS as a project that forgot "thumbkit" (its models module stays imported)."""
    apps = [a for a in settings.INSTALLED_APPS if a != "thumbkit"]
    with override_settings(INSTALLED_APPS=apps):
        yield


# --- "thumbkit" missing from INSTALLED_APPS --------------------------------------------


def test_a_thumbkit_field_without_the_app_fails_the_check(without_the_app: None) -> None:
    field = Profile._meta.get_field("photo")
    assert isinstance(field, ImageField)
    errors = [e for e in field.check() if e.id == "thumbkit.E016"]
    assert [e.msg for e in errors] == [
        "testapp.Profile.photo is a thumbkit field, but 'thumbkit' is not in INSTALLED_APPS."
    ]
    assert errors[0].hint == (
        'Add "thumbkit" to INSTALLED_APPS and run `python manage.py migrate thumbkit`.'
    )
    assert checks.check_settings() == []  # the settings checks stand aside; E016 says it all


def test_the_field_check_passes_with_the_app() -> None:
    field = Profile._meta.get_field("photo")
    assert [e for e in field.check() if e.id == "thumbkit.E016"] == []


def test_saving_without_the_app_raises_before_any_row_or_file(
    fs_media: Media, without_the_app: None
) -> None:
    # Django's save runs in a transaction; the test's own savepoint takes the error.
    with pytest.raises(ConfigurationError) as raised, transaction.atomic():
        Profile.objects.create(name="a", photo=upload("me.jpg"))
    assert "'thumbkit' is not in INSTALLED_APPS" in str(raised.value)
    assert 'Add "thumbkit" to INSTALLED_APPS' in str(raised.value)
    assert Profile.objects.count() == 0
    assert fs_media.files() == []


def test_get_thumbnail_without_the_app_raises_before_writing(
    fs_media: Media, save_source: Any, without_the_app: None
) -> None:
    name = save_source(images.jpeg((400, 300)))
    with pytest.raises(ConfigurationError, match="'thumbkit' is not in INSTALLED_APPS"):
        get_thumbnail(name, "100x100")
    assert fs_media.files() == [name]  # the source only: no thumbnail file


# --- did you mean ------------------------------------------------------------------------


def test_did_you_mean_names_the_close_choices() -> None:
    assert did_you_mean("smal", ["small", "card"]) == " Did you mean 'small'?"
    assert did_you_mean("Card", ["small", "card"]) == " Did you mean 'card'?"
    assert did_you_mean("zzz", ["small", "card"]) == ""
    assert did_you_mean(None, ["small"]) == ""


def test_an_unknown_thumbkit_key_suggests_the_known_one() -> None:
    with override_settings(THUMBKIT={**settings.THUMBKIT, "STROE": "db"}):
        errors = checks.check_settings()
    assert [(e.id, e.msg) for e in errors] == [
        (
            "thumbkit.E001",
            "THUMBKIT has an unknown key 'STROE'; it would silently do nothing. "
            "Did you mean 'STORE'?",
        )
    ]


def test_an_unknown_limits_key_suggests_the_known_one() -> None:
    with thumbkit_settings(LIMITS={"MAX_SOURCE_PIXEL": 10}):
        errors = checks.check_settings()
    assert [e.msg for e in errors] == [
        "THUMBKIT['LIMITS'] has an unknown key 'MAX_SOURCE_PIXEL'; it would silently do "
        "nothing. Did you mean 'MAX_SOURCE_PIXELS'?"
    ]


def test_an_unknown_spec_name_suggests_the_named_spec(save_source: Any) -> None:
    name = save_source()
    with pytest.raises(InvalidSpec) as raised:
        get_thumbnail(name, "smal")
    message = str(raised.value)
    assert message.startswith("Invalid spec 'smal': 'smal' is not a geometry or a spec name;")
    assert message.endswith(" Did you mean 'small'?")


def test_an_unknown_spec_name_in_the_tag_raises_with_the_suggestion(fs_media: Media) -> None:
    profile = Profile.objects.create(name="a", photo=upload("me.jpg"))
    tag = '{% thumbnail p.photo "crad" as t %}{{ t.url }}{% endthumbnail %}'
    with pytest.raises(InvalidSpec, match=r"Did you mean 'card'\?$"):
        render("{% load thumbkit %}" + tag, p=profile)


def test_an_unknown_option_and_flag_suggest_the_known_ones() -> None:
    with pytest.raises(InvalidSpec) as option:
        get_thumbnail("photos/x.jpg", "100x100", qualty=80)
    assert "unknown option 'qualty'. Did you mean 'quality'? Options: crop, focal, upscale," in str(
        option.value
    )
    with pytest.raises(InvalidSpec) as flag:
        get_thumbnail("photos/x.jpg", "100x100 upscal")
    assert "unknown flag 'upscal'. Did you mean 'upscale'? Flags: crop, upscale," in str(flag.value)


def test_a_bad_crop_lists_the_keywords() -> None:
    with pytest.raises(InvalidSpec) as raised:
        get_thumbnail("photos/x.jpg", "100x100", crop="centre")
    message = str(raised.value)
    assert "option crop='centre': 'centre' is not a crop offset. Did you mean 'center'?" in message
    assert (
        'crop takes "center", "top", "bottom", "left", "right", "smart", a pair such as '
        '"left top", or offsets "N%" or "Npx"' in message
    )


# --- a declared thumbnail's name, misspelt -----------------------------------------------


def test_a_misspelt_declared_name_suggests_the_declared_one(fs_media: Media) -> None:
    profile = Profile.objects.create(name="a", photo=upload("me.jpg"))
    expected = (
        "testapp.Profile.photo declares no thumbnail 'smal'; declared: small, card. "
        "Did you mean 'small'?"
    )
    with pytest.raises(AttributeError) as attr:
        _ = profile.photo.thumbnails.smal
    assert str(attr.value) == expected
    with pytest.raises(KeyError) as item:
        _ = profile.photo.thumbnails["smal"]
    assert item.value.args == (expected,)


def test_a_misspelt_declared_name_raises_in_a_debug_template(fs_media: Media) -> None:
    profile = Profile.objects.create(name="a", photo=upload("me.jpg"))
    with override_settings(DEBUG=True), pytest.raises(InvalidSpec) as raised:
        render("{{ p.photo.thumbnails.smal.url }}", p=profile)
    assert str(raised.value).endswith("declared: small, card. Did you mean 'small'?")
    assert render("{{ p.photo.thumbnails.small.url }}", p=profile).startswith("/media/thumbs/")


def test_a_misspelt_declared_name_logs_once_without_debug(
    fs_media: Media, caplog: pytest.LogCaptureFixture
) -> None:
    first = Profile.objects.create(name="a", photo=upload("a.jpg"))
    second = Profile.objects.create(name="b", photo=upload("b.jpg"))
    with caplog.at_level(logging.WARNING, logger="thumbkit"):
        page = render(
            "{% for p in ps %}[{{ p.photo.thumbnails.crad.url }}]{% endfor %}", ps=[first, second]
        )
        render("[{{ p.photo.thumbnails.crad.url }}]", p=first)
    assert page == "[][]"
    logged = [r.getMessage() for r in caplog.records if r.name == "thumbkit"]
    assert logged == [
        "testapp.Profile.photo declares no thumbnail 'crad'; declared: small, card. "
        "Did you mean 'card'? Templates render it as empty."
    ]


# --- one log prefix ----------------------------------------------------------------------


def test_log_messages_carry_no_prefix_of_their_own() -> None:
    # The logger's name is the prefix ("thumbkit"); a message that starts with it again
    # prints "thumbkit: thumbkit: ..." under a "%(name)s: %(message)s" formatter.
    prefixed = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in {"debug", "info", "warning", "error", "exception", "log"}:
                continue
            texts = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if texts and isinstance(texts[0], str) and texts[0].lower().startswith("thumbkit"):
                prefixed.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert prefixed == []


def test_a_degraded_render_logs_one_prefix(fs_media: Media) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger = logging.getLogger("thumbkit")
    logger.addHandler(handler)
    try:
        out = render(
            '{% load thumbkit %}{% thumbnail "photos/missing.jpg" "small" as t %}x'
            "{% empty %}empty{% endthumbnail %}"
        )
    finally:
        logger.removeHandler(handler)
    assert out == "empty"
    lines = stream.getvalue().splitlines()
    assert lines
    assert lines[0].startswith("thumbkit: No thumbnail of 'photos/missing.jpg'")
    assert all("thumbkit: thumbkit" not in line for line in lines)


# --- an optional extra a setting needs ---------------------------------------------------


@pytest.mark.parametrize(
    ("module", "step", "cls"),
    [
        ("mozjpeg_lossless_optimization", "thumbkit.optimize.MozJpeg", "MozJpeg"),
        ("oxipng", "thumbkit.optimize.OxiPng", "OxiPng"),
    ],
)
def test_an_optimize_post_processor_without_its_package_fails_the_check(
    monkeypatch: pytest.MonkeyPatch, module: str, step: str, cls: str
) -> None:
    # The fault: the package is not installed (None in sys.modules is how Python says so).
    monkeypatch.setitem(sys.modules, module, None)
    specs = {"card": {"size": "320x240", "post_processors": [step]}}
    with thumbkit_settings(SPECS=specs):
        errors = checks.check_settings()
    assert [(e.id, e.msg, e.hint) for e in errors] == [
        (
            "thumbkit.E005",
            f"THUMBKIT['SPECS']['card'] uses {cls}, which needs the {module!r} package.",
            "pip install 'django-thumbkit[optimize]'",
        )
    ]


def test_an_optimize_post_processor_with_its_package_passes_the_check() -> None:
    specs = {"card": {"size": "320x240", "post_processors": ["thumbkit.optimize.MozJpeg"]}}
    with thumbkit_settings(SPECS=specs):
        assert checks.check_settings() == []


def test_a_declared_thumbnail_with_a_missing_optimizer_fails_the_field_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import models
    from django.test.utils import isolate_apps

    monkeypatch.setitem(sys.modules, "oxipng", None)
    with isolate_apps("tests.testapp"):

        class Logo(models.Model):
            image = ImageField(
                thumbnails={
                    "icon": {"size": "32x32", "post_processors": ["thumbkit.optimize.OxiPng"]}
                }
            )

            class Meta:
                app_label = "testapp"

            def __str__(self) -> str:
                return str(self.pk)

        errors = Logo._meta.get_field("image").check()
    assert [(e.id, e.msg) for e in errors] == [
        ("thumbkit.E005", "Thumbnail 'icon' uses OxiPng, which needs the 'oxipng' package.")
    ]

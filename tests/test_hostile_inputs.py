"""Hostile names, specs and settings get thumbkit's typed errors, never Python's or Django's.

Specs: long digit strings, Unicode digits and kilobytes of text are ``InvalidSpec`` naming the
grammar, before any source is read. Source names: path traversal, a NUL byte and overlong
names are ``SourceMissing`` (templates degrade, the endpoint answers 404), with the
``SuspiciousOperation`` kept visible as a warning. Settings: a misspelt ``STORE_OPTIONS`` key
or an unknown database alias is a system check error and a ``ConfigurationError``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template import Context, Template
from django.test import Client

from tests import images
from tests.conftest import thumbkit_settings
from tests.fields_util import records
from tests.s3 import Media
from tests.testapp.models import Photo
from thumbkit import get_thumbnail
from thumbkit.adapters import checks
from thumbkit.adapters.endpoint import signed_url
from thumbkit.core.spec import GRAMMAR, MAX_DIGITS, parse
from thumbkit.exceptions import ConfigurationError, InvalidSpec, SourceMissing
from thumbkit.lookup import refs
from thumbkit.lookup.api import get_spec
from thumbkit.lookup.source import MAX_NAME_LENGTH, Source, coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.stores.db import DatabaseStore
from thumbkit.models import GenerationLock

pytestmark = pytest.mark.django_db

BLOCK = (
    '{% load thumbkit %}{% thumbnail src "100x100" as t %}{{ t.url }}'
    "{% empty %}EMPTY{% endthumbnail %}"
)
HUGE = "5" + "0" * 4999  # past Python's 4300-digit int() limit


@pytest.fixture
def media(media_storage: Media) -> Media:
    return media_storage


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of every source read (``Source.read``)."""
    seen: list[str] = []
    real = Source.read

    def counted(self: Source) -> bytes:
        seen.append(self.name)
        return real(self)

    monkeypatch.setattr(Source, "read", counted)
    return seen


def invalid_message(spec: str, **options: Any) -> str:
    with pytest.raises(InvalidSpec) as info:
        parse(spec, **options)
    message = str(info.value)
    assert GRAMMAR in message
    assert len(message) < 1000  # a hostile spec is quoted by its start only
    return message


# --- specs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        ("1234567x1", {}),  # one digit more than MAX_DIGITS
        ("1x" + "9" * 900, {}),
        ("100x100 crop=" + "9" * 900 + "px,0px", {}),
        ("100x100", {"crop": f"{HUGE}px 0px"}),
        ("100x100", {"crop": f"0% {HUGE}%"}),
        ("100x100 quality=" + "9" * 900, {}),
        ("100x100", {"quality": HUGE}),
    ],
)
def test_long_digit_strings_are_invalid_specs(spec: str, options: dict[str, Any]) -> None:
    assert f"numbers have at most {MAX_DIGITS} digits" in invalid_message(spec, **options)


@pytest.mark.parametrize(
    "spec", ["1" * 4301, "1" * 4301 + "x100", "x" + HUGE, f"100x100 crop={HUGE}px,0px"]
)
def test_digit_strings_past_pythons_limit_are_invalid_specs(spec: str) -> None:
    # Before: int() raised "ValueError: Exceeds the limit (4300 digits) for integer string
    # conversion" (a ValueError, but not an InvalidSpec), or parsed and failed later.
    assert "longer than 1000 characters" in invalid_message(spec)


def test_six_digits_still_parse() -> None:
    assert parse("999999x1").width == 999_999
    assert parse("10x10", crop="999999px 0px").crop == "999999px,0px"


def test_a_long_crop_offset_is_refused_before_the_source_is_read(
    media: Media, reads: list[str]
) -> None:
    name = default_storage.save("photos/p.jpg", ContentFile(images.jpeg((200, 100))))
    # Before: parsed, the source read, then int() raised ValueError in the geometry.
    with pytest.raises(InvalidSpec, match="crop"):
        get_thumbnail(name, "100x100", crop=f"{HUGE}px 0px")
    with pytest.raises(InvalidSpec, match="crop"):
        get_thumbnail(name, f"100x100 crop={HUGE}px,0px")
    assert reads == []
    assert records() == []


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        ("\uff11\uff10\uff10x\uff11\uff10\uff10", {}),  # full-width digits: int() would accept them
        ("100x\u0661\u0660\u0660", {}),  # Arabic-Indic digits
        ("100", {"quality": "\uff18\uff15"}),
        ("100 quality=\uff18\uff15", {}),
        ("100x100", {"crop": "\uff11\uff10px 0px"}),
        ("100x100", {"format": "g\u0131f"}),  # dotless i: "g\u0131f".upper() == "GIF"
        ("100x100", {"upscale": "\uff54\uff52\uff55\uff45"}),
    ],
)
def test_unicode_digits_and_letters_are_refused(spec: str, options: dict[str, Any]) -> None:
    invalid_message(spec, **options)


@pytest.mark.parametrize(
    "spec",
    [
        "0x0",
        "0x100",
        "-100x50",
        "x",
        "abcxdef",
        "1e9x1",
        "100x100x100",
        "100.5x100",
        "100x100\x00",
        "100x" + "9" * 10_000,
        "1" * 10_000,
        "100x100 " + "crop " * 2_000,
        "100x100 quality=0",
        "100x100 quality=101",
        "100x100 quality=85abc",
        "100x100 quality=-5",
        "100x100 format=../../x",
        "100x100 format=bmp",
        "100x100 crop=999999",
    ],
)
def test_reliability_g2_g3_specs_are_invalid(spec: str) -> None:
    invalid_message(spec)


@pytest.mark.parametrize(
    "options",
    [{"quality": 0}, {"quality": 101}, {"quality": True}, {"quality": 85.5}, {"quality": "85abc"}],
)
def test_quality_options_are_validated(options: dict[str, Any]) -> None:
    invalid_message("100x100", **options)


def test_surrounding_whitespace_is_the_same_spec() -> None:
    # " 100x100" is accepted, deterministically: one canonical text, one key, one file.
    assert parse(" 100x100") == parse("100x100\n") == parse("100x100")
    assert parse(" 100x100").canonical == "100x100"


def test_a_10_kb_spec_is_refused_with_a_short_message() -> None:
    message = invalid_message("100x100 " + "a" * 10_000)
    assert "characters" in message
    assert "a" * 100 not in message


# --- source names ------------------------------------------------------------------------

TRAVERSAL = ["../../etc/passwd.jpg", "a/../../b.jpg", "/abs/p.jpg"]


@pytest.mark.parametrize("name", TRAVERSAL)
def test_path_traversal_is_a_missing_source_and_a_logged_warning(
    name: str, fs_media: Media, caplog: pytest.LogCaptureFixture
) -> None:
    warnings = caplog.at_level(logging.WARNING, logger="thumbkit")
    with warnings, pytest.raises(SourceMissing, match="not a valid file name") as info:
        get_thumbnail(name, "100x100")
    # The security signal stays visible: the cause, and a warning on the thumbkit logger.
    assert type(info.value.__cause__).__name__ == "SuspiciousFileOperation"
    assert any("Refused the source name" in r.getMessage() for r in caplog.records)
    photo = Photo(image=name)
    assert Template(BLOCK).render(Context({"src": photo.image})) == "EMPTY"
    assert Template(BLOCK).render(Context({"src": name})) == "EMPTY"
    assert records() == []
    assert GenerationLock.objects.count() == 0


@pytest.mark.parametrize("name", TRAVERSAL)
def test_path_traversal_degrades_on_every_storage(name: str, media: Media) -> None:
    # S3 refuses some of these names itself, and finds nothing under others.
    with pytest.raises(SourceMissing):
        get_thumbnail(name, "100x100")
    assert Template(BLOCK).render(Context({"src": name})) == "EMPTY"


BAD_NAMES = {
    "nul": "photos/a\x00b.jpg",
    "overlong": "photos/" + "a" * MAX_NAME_LENGTH + ".jpg",
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_nul_and_overlong_names_are_refused_in_coerce(
    case: str, media: Media, reads: list[str]
) -> None:
    name = BAD_NAMES[case]
    with pytest.raises(SourceMissing, match="name"):
        coerce(name)
    with pytest.raises(SourceMissing):
        coerce(Photo(image=name).image)
    with pytest.raises(SourceMissing):
        coerce(ContentFile(b"x", name=name))
    with pytest.raises(SourceMissing):
        get_thumbnail(name, "100x100")
    assert Template(BLOCK).render(Context({"src": name})) == "EMPTY"
    assert Template(BLOCK).render(Context({"src": Photo(image=name).image})) == "EMPTY"
    assert reads == []  # refused before any I/O
    assert records() == []


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_a_source_built_without_coerce_is_checked_when_read(case: str, fs_media: Media) -> None:
    # Before: the NUL reached os.open ("embedded null byte"), a StorageError that pages raise.
    with pytest.raises(SourceMissing, match="name"):
        Source(BAD_NAMES[case], default_storage, "default").read()


def test_a_name_of_the_maximum_length_is_kept() -> None:
    name = "a" * MAX_NAME_LENGTH
    assert coerce(name).name == name


@pytest.mark.django_db(transaction=True)
def test_the_endpoint_answers_404_for_hostile_names(fs_media: Media) -> None:
    ref = refs.ref_of(get_spec("100x100"))
    assert ref is not None
    client = Client()
    for name in [*TRAVERSAL, *BAD_NAMES.values()]:
        response = client.get(signed_url("default", name, "", ref))
        assert response.status_code == 404, name
        assert response.content == b"No such source image."
    assert records() == []


def test_on_demand_pages_degrade_for_hostile_names(fs_media: Media) -> None:
    with thumbkit_settings(STRATEGY="on_demand"):
        for name in BAD_NAMES.values():
            assert Template(BLOCK).render(Context({"src": name})) == "EMPTY"


# --- store settings ----------------------------------------------------------------------


def check_ids(**changes: Any) -> list[str]:
    with thumbkit_settings(**changes):
        return [str(e.id) for e in checks.check_settings()]


def check_messages(**changes: Any) -> list[str]:
    with thumbkit_settings(**changes):
        return [str(e.msg) for e in checks.check_settings()]


class OpenStore(DatabaseStore):
    """A store that takes anything: its options are its own business."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options


@pytest.mark.parametrize(
    ("store", "options"),
    [
        ("redis", {"urll": "redis://127.0.0.1:6379/0"}),
        ("redis", {"socket_timout": 1}),  # goes on to redis-py: it must be one of its names
        ("cache", {"cach": "default"}),
        ("db", {"usin": "default"}),
        ("db", {1: "default"}),
    ],
)
def test_a_misspelt_store_option_is_a_check_error_and_a_configuration_error(
    store: str, options: dict[Any, Any]
) -> None:
    assert check_ids(STORE=store, STORE_OPTIONS=options) == ["thumbkit.E014"]
    bad = next(iter(options))
    assert repr(bad) in check_messages(STORE=store, STORE_OPTIONS=options)[0]
    configured = thumbkit_settings(STORE=store, STORE_OPTIONS=options)
    with configured, pytest.raises(ConfigurationError, match=re.escape(repr(bad))):
        get_store()


@pytest.mark.parametrize(
    ("store", "options"),
    [
        ("redis", {"url": "redis://127.0.0.1:6379/0", "prefix": "t:", "connect_timeout": 1}),
        ("redis", {"socket_connect_timeout": 1, "db": 2, "password": None, "max_connections": 4}),
        ("redis", {"url": "rediss://127.0.0.1:6379/0", "ssl_cert_reqs": "none"}),
        ("cache", {"cache": "default", "prefix": "p", "timeout": 60}),
        ("db", {"using": "default"}),
        ("tests.test_hostile_inputs.OpenStore", {"anything": 1, "at_all": 2}),
    ],
)
def test_valid_store_options_pass(store: str, options: dict[str, Any]) -> None:
    assert check_ids(STORE=store, STORE_OPTIONS=options) == []
    with thumbkit_settings(STORE=store, STORE_OPTIONS=options):
        assert get_store() is not None


def test_a_misspelt_redis_option_no_longer_fails_at_the_first_lookup(need_redis: None) -> None:
    # Before: get_store() worked and the first lookup raised TypeError from redis-py.
    configured = thumbkit_settings(STORE="redis", STORE_OPTIONS={"socket_timout": 1})
    with configured, pytest.raises(ConfigurationError, match="socket_timout"):
        get_store().get_many(["k"])


def test_an_unknown_database_alias_is_a_check_error_and_a_configuration_error() -> None:
    assert check_ids(STORE="db", STORE_OPTIONS={"using": "nope"}) == ["thumbkit.E015"]
    assert check_ids(STORE="db", STORE_OPTIONS={"using": "pg"}) == []
    configured = thumbkit_settings(STORE="db", STORE_OPTIONS={"using": "nope"})
    with configured, pytest.raises(ConfigurationError, match="'nope'"):
        get_store()

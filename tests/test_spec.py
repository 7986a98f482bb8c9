"""Specs: sorl's geometry grammar, options, named specs, one canonical form, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import thumbkit_settings
from thumbkit.core.spec import GRAMMAR, Spec, parse
from thumbkit.exceptions import InvalidSpec
from thumbkit.lookup.keys import thumbnail_key
from thumbkit.lookup.source import coerce


@pytest.mark.parametrize(
    ("text", "width", "height"),
    [("300x200", 300, 200), ("300", 300, None), ("x200", None, 200), ("  1x1 ", 1, 1)],
)
def test_geometry_grammar(text: str, width: int | None, height: int | None) -> None:
    spec = parse(text)
    assert (spec.width, spec.height) == (width, height)
    assert spec.geometry == text.strip()
    # sorl's defaults: fit inside, no upscale, no padding.
    assert (spec.crop, spec.upscale, spec.padding) == (None, False, False)


@pytest.mark.parametrize(
    ("crop", "stored"),
    [
        ("center", "50%,50%"),
        ("top", "50%,0%"),
        ("bottom", "50%,100%"),
        ("left", "0%,50%"),
        ("right", "100%,50%"),
        ("50% 50%", "50%,50%"),
        ("10px 20px", "10px,20px"),
        ("left top", "0%,0%"),
        ("right bottom", "100%,100%"),
        ("30%", "30%,30%"),
        ("SMART", "smart"),
        ("smart", "smart"),
        ("noop", None),
        (True, "50%,50%"),
        (False, None),
        (None, None),
    ],
)
def test_crop_values(crop: Any, stored: str | None) -> None:
    assert parse("100x100", crop=crop).crop == stored


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("100x100 crop", "50%,50%"),
        ("100x100 crop=top", "50%,0%"),
        ("100x100 crop=10px,20px", "10px,20px"),
        ("100x100 crop=50%,50%", "50%,50%"),
        ("100x100 crop=smart", "smart"),
        ("100x100 crop=noop", None),
    ],
)
def test_crop_in_strings(text: str, stored: str | None) -> None:
    assert parse(text).crop == stored


def test_crop_offsets() -> None:
    assert parse("10x10", crop="10px 20%").crop_offsets() == ("10px", "20%")
    assert parse("10x10", crop="smart").crop_offsets() is None
    assert parse("10x10").crop_offsets() is None


def test_flags_in_strings() -> None:
    assert parse("100x100 upscale").upscale is True
    assert parse("100x100 upscale=false").upscale is False
    assert parse("100x100 progressive").progressive is True
    assert parse("100x100 progressive=no").progressive is False
    assert parse("100x100 padding").padding is True
    both = parse("100x100 crop upscale")
    assert (both.crop, both.upscale) == ("50%,50%", True)


def test_quality() -> None:
    assert parse("10", quality=1).quality == 1
    assert parse("10", quality="100").quality == 100  # template arguments arrive as text
    assert parse("10 quality=42").quality == 42
    assert parse("10").quality is None  # the QUALITY setting applies at encode time


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("JPEG", "JPEG"),
        ("jpg", "JPEG"),
        ("JPG", "JPEG"),
        ("jpeg", "JPEG"),
        ("png", "PNG"),
        ("webp", "WEBP"),
        ("AVIF", "AVIF"),
        ("gif", "GIF"),
        (None, None),
    ],
)
def test_formats(value: str | None, stored: str | None) -> None:
    assert parse("10x10", format=value).format == stored


def test_padding_colors_and_colorspace() -> None:
    spec = parse(
        "100x100", padding=True, padding_color="#ABC", background="000000", colorspace="gray"
    )
    assert (spec.padding, spec.padding_color, spec.background, spec.colorspace) == (
        True,
        "#aabbcc",
        "#000000",
        "GRAY",
    )
    assert parse("100x100 padding padding_color=#102030").padding_color == "#102030"
    assert parse("10", colorspace="RGB").colorspace == "RGB"


def test_padding_color_without_padding_is_not_part_of_the_spec() -> None:
    # Without padding the colour is never used, so it must not make a second spec (and file).
    assert parse("100x100", padding_color="#000") == parse("100x100")
    # ...but a named spec's colour still counts once padding is switched on on top of it.
    with thumbkit_settings(SPECS={"framed": {"size": "10x10", "padding_color": "#000"}}):
        assert parse("framed", padding=True).padding_color == "#000000"


def test_named_specs_dict_and_string() -> None:
    specs = {
        "small": {"size": "100x100", "crop": "center"},
        "strip": "300x50 crop=top format=jpg",
    }
    with thumbkit_settings(SPECS=specs):
        small = parse("small")
        strip = parse("strip")
        tuned = parse("small", quality=50)
    assert (small.width, small.height, small.crop) == (100, 100, "50%,50%")
    assert (strip.width, strip.height, strip.crop, strip.format) == (300, 50, "50%,0%", "JPEG")
    assert (tuned.crop, tuned.quality) == ("50%,50%", 50)


def test_named_specs_follow_settings_changes() -> None:
    with thumbkit_settings(SPECS={"x": "10x10"}):
        assert parse("x").width == 10
    with thumbkit_settings(SPECS={"x": "20x20"}):
        assert parse("x").width == 20
    with pytest.raises(InvalidSpec):
        parse("x")  # gone with the override


def test_canonical_form_is_pinned() -> None:
    # Part of the key scheme: changing this text changes every thumbnail's key and name.
    assert parse("300x200").canonical == "300x200"
    assert parse("x200").canonical == "x200"
    assert parse("300", crop="center", quality=85).canonical == "300 crop=50%,50% quality=85"
    full = parse(
        "64x48 upscale progressive=false padding padding_color=#000 background=#fff",
        format="jpg",
        colorspace="gray",
        crop="10px 20px",
    )
    assert full.canonical == (
        "64x48 background=#ffffff colorspace=gray crop=10px,20px format=jpeg padding=true "
        "padding_color=#000000 progressive=false upscale=true"
    )
    assert str(full) == full.canonical


EQUIVALENT = [
    ("100x100 crop=center", "100x100 crop=50%,50%"),
    ("100x100 crop", "100x100 crop=center"),
    ("100x100 crop=left", "100x100 crop=0%,50%"),
    ("100x100 quality=80 crop=top upscale", "100x100 upscale crop=top quality=80"),
    ("100x100 format=jpg", "100x100 format=JPEG"),
    ("100x100 crop=noop", "100x100"),
    ("100x100 padding padding_color=#FFF", "100x100 padding"),
    ("card", "320x240 crop=center format=webp quality=80"),
    ("card", "320x240 quality=80 format=WEBP crop=50%,50%"),
]


@pytest.mark.parametrize(("first", "second"), EQUIVALENT)
def test_equal_specs_share_canonical_and_key(first: str, second: str) -> None:
    a, b = parse(first), parse(second)
    source = coerce("photos/cat.jpg")
    assert a == b
    assert a.canonical == b.canonical
    assert thumbnail_key(source, a) == thumbnail_key(source, b)


def test_keyword_options_equal_string_options() -> None:
    inline = parse("320x240 crop=center format=webp quality=80")
    keywords = parse("320x240", crop="50% 50%", format="WEBP", quality=80)
    assert keywords == inline
    assert parse("card") == keywords


def test_different_specs_have_different_keys() -> None:
    source = coerce("photos/cat.jpg")
    texts = [
        "100x100",
        "100x100 crop",
        "100x100 crop=top",
        "100x100 upscale",
        "100",
        "x100",
        "100x100 quality=80",
        "100x100 format=png",
        "100x100 padding",
        "100x100 padding padding_color=#000",
        "100x100 background=#000",
    ]
    keys = {thumbnail_key(source, parse(t)) for t in texts}
    assert len(keys) == len(texts)


@pytest.mark.parametrize(
    "text",
    [
        "100x100",
        "x7 crop=smart",
        "5 upscale quality=3",
        "card",
        "9x9 padding padding_color=#123456",
        "1x2 crop=10px,20px format=avif progressive=false background=#abcdef colorspace=gray",
    ],
)
def test_canonical_round_trip(text: str) -> None:
    spec = parse(text)
    assert parse(spec.canonical) == spec


def test_parse_accepts_a_spec() -> None:
    spec = parse("100x100")
    assert parse(spec) is spec
    assert parse(spec, crop="top") == parse("100x100 crop=top")


def test_specs_are_frozen_values() -> None:
    spec = parse("100x100 crop")
    with pytest.raises(AttributeError):
        spec.width = 5  # type: ignore[misc]
    assert hash(spec) == hash(parse("100x100 crop=center"))
    assert isinstance(spec, Spec)


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("abc", {}),
        ("0x10", {}),
        ("10x0", {}),
        ("10x", {}),
        ("x", {}),
        ("", {}),
        ("   ", {}),
        ("10x10x10", {}),
        ("-5x10", {}),
        ("100X100", {}),
        ("100x100 crop=diagonal", {}),
        ("100x100 crop=10px", {"crop": "1 2 3"}),
        ("100x100 crop=10em,5px", {}),
        ("100x100 sharpen", {}),
        ("100x100 sharpen=2", {}),
        ("100x100", {"quality": 0}),
        ("100x100", {"quality": 101}),
        ("100x100", {"quality": "high"}),
        ("100x100", {"format": "tiff"}),
        ("100x100", {"upscale": "maybe"}),
        ("100x100", {"padding_color": "red"}),
        ("100x100", {"background": "#12"}),
        ("100x100", {"colorspace": "CMYK"}),
        ("100x100", {"unknown": 1}),
        ("100x100", {"size": "10x10"}),
    ],
)
def test_invalid_specs_raise_naming_the_grammar(text: str, options: dict[str, Any]) -> None:
    with pytest.raises(InvalidSpec) as info:
        parse(text, **options)
    assert GRAMMAR in str(info.value)
    assert isinstance(info.value, ValueError)  # callers may catch it as a ValueError


@pytest.mark.parametrize("value", [None, 123, b"100x100", ["100x100"]])
def test_non_strings_are_invalid(value: Any) -> None:
    with pytest.raises(InvalidSpec, match="expected"):
        parse(value)


@pytest.mark.parametrize(
    "specs",
    [
        {"loop": "other", "other": "10x10"},  # a name pointing at a name
        {"loop": {"crop": "center"}},  # no size
        {"loop": {"size": "10x10", "crop": "diagonal"}},
        {"loop": 42},
    ],
)
def test_broken_named_specs(specs: dict[str, Any]) -> None:
    with thumbkit_settings(SPECS=specs), pytest.raises(InvalidSpec, match="loop"):
        parse("loop")

"""Property tests (hypothesis) for the spec parser, keys and geometry.

Runs are bounded and deterministic: ``derandomize=True`` draws the same examples on every
run (CI and locally), no example database is kept, and every test stops at ``EXAMPLES``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from django.core.files.storage import default_storage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.test_geometry_sorl import sorl_size as sorl_made
from thumbkit.conf import get_settings
from thumbkit.core import limits
from thumbkit.core.geometry import box_size, plan
from thumbkit.core.spec import MAX_DIGITS, Spec, parse
from thumbkit.exceptions import InvalidSpec, OutputTooLarge
from thumbkit.lookup.keys import key_for, thumbnail_key
from thumbkit.lookup.source import Source

EXAMPLES = 200
# No deadline and no "too slow" health check: CI machines are shared, and a slow example is
# not a failure. The examples are the same on every run (derandomize), nothing is stored.
FIXED: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
bounded = settings(max_examples=EXAMPLES, **FIXED)

X_WORDS = ["left", "center", "right"]
Y_WORDS = ["top", "center", "bottom"]
FORMATS = ["jpeg", "JPEG", "jpg", "JPG", "png", "webp", "avif", "gif", "Gif"]


# --- strategies ---------------------------------------------------------------------------


def sides(high: int = 10**MAX_DIGITS - 1) -> st.SearchStrategy[int]:
    return st.integers(min_value=1, max_value=high)


@st.composite
def geometries(draw: st.DrawFn, high: int = 10**MAX_DIGITS - 1) -> str:
    kind = draw(st.sampled_from(["wxh", "w", "xh"]))
    width, height = draw(sides(high)), draw(sides(high))
    return {"wxh": f"{width}x{height}", "w": str(width), "xh": f"x{height}"}[kind]


def offsets() -> st.SearchStrategy[str]:
    percent = st.integers(0, 100).map(lambda n: f"{n}%")
    pixels = st.integers(0, 10**MAX_DIGITS - 1).map(lambda n: f"{n}px")
    return percent | pixels


def crops() -> st.SearchStrategy[str]:
    """Crop values as a spec string writes them (commas for the space)."""
    pair = st.tuples(offsets() | st.sampled_from(X_WORDS), offsets() | st.sampled_from(Y_WORDS))
    return st.one_of(
        st.sampled_from(["center", "top", "bottom", "left", "right", "smart", "noop", "SMART"]),
        offsets(),
        pair.map(lambda p: f"{p[0]},{p[1]}"),
    )


def colors() -> st.SearchStrategy[str]:
    digits = st.sampled_from("0123456789abcdefABCDEF")
    three = st.text(digits, min_size=3, max_size=3)
    six = st.text(digits, min_size=6, max_size=6)
    return st.tuples(st.sampled_from(["#", ""]), three | six).map("".join)


def booleans() -> st.SearchStrategy[str]:
    return st.sampled_from(["true", "false", "1", "0", "yes", "no", "on", "off", "True"])


OPTIONS: dict[str, st.SearchStrategy[str]] = {
    "crop": crops(),
    "upscale": booleans(),
    "quality": st.integers(1, 100).map(str),
    "format": st.sampled_from(FORMATS),
    "progressive": booleans(),
    "padding": booleans(),
    "padding_color": colors(),
    "background": colors(),
    "colorspace": st.sampled_from(["rgb", "RGB", "gray", "GRAY"]),
    "storage": st.sampled_from(["default", "thumbs", "s3"]),
}
FLAG_TOKENS = ["crop", "upscale", "progressive", "padding"]


@st.composite
def option_tokens(draw: st.DrawFn) -> list[str]:
    keys = draw(st.lists(st.sampled_from(sorted(OPTIONS)), unique=True, max_size=len(OPTIONS)))
    tokens = [f"{key}={draw(OPTIONS[key])}" for key in keys]
    flags = [f for f in FLAG_TOKENS if f not in keys]
    tokens += draw(st.lists(st.sampled_from(flags), unique=True)) if flags else []
    return tokens


@st.composite
def spec_texts(draw: st.DrawFn, high: int = 10**MAX_DIGITS - 1) -> tuple[str, str]:
    """The same valid spec written twice, with its options in two orders."""
    geometry = draw(geometries(high))
    tokens = draw(option_tokens())
    shuffled = draw(st.permutations(tokens))
    return " ".join([geometry, *tokens]), " ".join([geometry, *shuffled])


def effective(spec: Spec) -> tuple[Any, ...]:
    """What a spec makes: the fields that change the pixels, the format or the storage."""
    color = spec.padding_color if spec.padding else None
    return (
        spec.width,
        spec.height,
        spec.crop,
        spec.upscale,
        spec.quality,
        spec.format,
        spec.progressive,
        spec.padding,
        color,
        spec.background,
        spec.colorspace,
        spec.storage,
    )


# --- the parser ---------------------------------------------------------------------------


@bounded
@given(spec_texts())
def test_valid_specs_round_trip_through_the_canonical_text(texts: tuple[str, str]) -> None:
    text, shuffled = texts
    spec = parse(text)
    assert parse(spec.canonical) == spec
    assert parse(spec.canonical).canonical == spec.canonical
    assert effective(parse(spec.canonical)) == effective(spec)
    assert parse(shuffled) == spec
    assert parse(f"  {text}\t") == spec


@bounded
@given(spec_texts())
def test_keyword_options_equal_the_same_options_in_the_text(texts: tuple[str, str]) -> None:
    text, _ = texts
    geometry, *tokens = text.split()
    options: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        options[key] = value.replace(",", " ") if sep else True
    if options.get("crop") is True:
        options["crop"] = "center"
    assert parse(geometry, **options) == parse(text)


GRAMMAR_ALPHABET = "0123456789x =,%#.-+_pxcroupsaleqitygfmnbdh\t\n\x00\uff11\u0663\u00e9"
GRAMMAR_WORDS = [
    *OPTIONS,
    *FLAG_TOKENS,
    "original",
    "small",
    "x",
    "=",
    "px",
    "%",
    "9" * 7,
    "\uff11\uff10\uff10",  # full-width 100
]


@bounded
@given(
    st.one_of(
        st.text(max_size=60),
        st.text(GRAMMAR_ALPHABET, max_size=40),
        st.lists(st.sampled_from(GRAMMAR_WORDS) | st.text(GRAMMAR_ALPHABET, max_size=6)).map(
            "".join
        ),
    )
)
def test_any_text_parses_or_raises_invalid_spec(text: str) -> None:
    try:
        spec = parse(text)
    except InvalidSpec as exc:
        message = str(exc)
    else:
        assert parse(spec.canonical) == spec  # whatever parses is a spec like any other
        return
    assert "expected a named spec" in message  # the message names the grammar
    assert len(message) < 1000


@bounded
@given(geometries(), st.text(min_size=1, max_size=8), st.integers(0, 20))
def test_mutated_specs_parse_or_raise_invalid_spec(geometry: str, junk: str, at: int) -> None:
    text = f"{geometry} crop=10px,20% quality=80"
    at = min(at, len(text))
    with contextlib.suppress(InvalidSpec):  # any other exception fails the test
        parse(text[:at] + junk + text[at:])


UNICODE_DIGITS = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())


@bounded
@given(st.lists(st.integers(0, 9), min_size=1, max_size=4), UNICODE_DIGITS, st.booleans())
def test_unicode_digits_are_never_numbers(digits: list[int], digit: str, height: bool) -> None:
    number = "".join(map(str, digits)) + digit
    for text in (number, f"x{number}", f"{number}x10" if height else f"10x{number}"):
        with pytest.raises(InvalidSpec):
            parse(text)
    with pytest.raises(InvalidSpec):
        parse("10x10", quality=number)
    with pytest.raises(InvalidSpec):
        parse("10x10", crop=f"{number}px 0%")


@bounded
@given(st.integers(MAX_DIGITS + 1, 5000), st.sampled_from(["{}", "x{}", "{}x1", "1 crop={}px"]))
def test_long_numbers_are_invalid_specs(length: int, form: str) -> None:
    with pytest.raises(InvalidSpec):
        parse(form.format("1" * length))


# --- keys ---------------------------------------------------------------------------------

NAMES = st.text(max_size=40).filter(bool)


@settings(max_examples=EXAMPLES // 2, **FIXED)
@given(spec_texts(), NAMES, st.text(max_size=5))
def test_option_order_does_not_change_the_key(
    texts: tuple[str, str], name: str, version: str
) -> None:
    text, shuffled = texts
    source = Source(name, default_storage, "default", version)
    key = thumbnail_key(source, parse(text))
    assert key == thumbnail_key(source, parse(shuffled))
    assert len(key) <= 64  # the store's key columns are 64 characters
    assert re.fullmatch(r"[0-9a-f]{32}", key)


@settings(max_examples=EXAMPLES // 2, **FIXED)
@given(spec_texts(), spec_texts(), NAMES)
def test_keys_differ_exactly_when_the_effective_options_differ(
    one: tuple[str, str], two: tuple[str, str], name: str
) -> None:
    first, second = parse(one[0]), parse(two[0])
    source = Source(name, default_storage, "default")
    same_key = thumbnail_key(source, first) == thumbnail_key(source, second)
    assert same_key == (effective(first) == effective(second))


@settings(max_examples=EXAMPLES // 2, **FIXED)
@given(spec_texts(), NAMES, NAMES)
def test_different_sources_get_different_keys(texts: tuple[str, str], a: str, b: str) -> None:
    spec = parse(texts[0])
    same = key_for(f"default:{a}", spec) == key_for(f"default:{b}", spec)
    assert same == (a == b)


KEY_SCRIPT = """
import json, sys
from thumbkit.lookup.keys import key_for
from thumbkit.core.spec import parse
cases = json.load(sys.stdin)
print(json.dumps([key_for(identity, parse(text)) for identity, text in cases]))
"""


def test_keys_are_the_same_in_another_process() -> None:
    # Another process with another hash seed: nothing in a key may depend on either.
    collected: list[tuple[str, str]] = []

    @settings(max_examples=50, **FIXED)
    @given(spec_texts(), NAMES)
    def collect(texts: tuple[str, str], name: str) -> None:
        collected.append((f"default:{name}", texts[0]))

    collect()
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    script = "import django; django.setup()\n" + KEY_SCRIPT
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(collected),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    theirs = json.loads(done.stdout)
    assert theirs == [key_for(identity, parse(text)) for identity, text in collected]
    assert len(set(theirs)) == len({(i, parse(t).canonical) for i, t in collected})


# --- geometry -----------------------------------------------------------------------------

GEOMETRY_CROPS = st.one_of(
    st.none(),
    st.sampled_from(["center", "top", "bottom", "left", "right", "smart", "left top"]),
    st.tuples(offsets(), offsets()).map(" ".join),
)


@st.composite
def cases(draw: st.DrawFn, side: int, box: int) -> tuple[tuple[int, int], Spec]:
    source = (draw(st.integers(1, side)), draw(st.integers(1, side)))
    options: dict[str, Any] = {"upscale": draw(st.booleans()), "padding": draw(st.booleans())}
    crop = draw(GEOMETRY_CROPS)
    if crop is not None:
        options["crop"] = crop
    return source, parse(draw(geometries(box)), **options)


@bounded
@given(cases(side=20_000, box=5000))
def test_outputs_are_within_the_box_and_at_least_one_pixel(
    case: tuple[tuple[int, int], Spec],
) -> None:
    source, spec = case
    made = plan(spec, source)
    box = box_size(spec, source)
    width, height = made.output
    assert 1 <= width <= box[0]
    assert 1 <= height <= box[1]
    if not spec.upscale:
        assert made.scaled[0] <= source[0]
        assert made.scaled[1] <= source[1]
    if made.crop is not None:
        left, top, right, bottom = made.crop
        assert 0 <= left < right <= made.scaled[0]
        assert 0 <= top < bottom <= made.scaled[1]
        assert (right - left, bottom - top) == made.cropped


@bounded
@given(cases(side=50_000, box=8000))
def test_outputs_are_within_limits_unless_the_spec_asks_for_more(
    case: tuple[tuple[int, int], Spec],
) -> None:
    source, spec = case
    caps = get_settings().limits
    side, pixels = caps.max_output_side, caps.max_output_pixels
    assert side is not None
    assert pixels is not None
    try:
        limits.check_request(spec, caps)
        made = limits.planned(spec, source, caps)
    except OutputTooLarge:
        # Only the spec itself may be refused: a side or a WxH box over the caps, or upscale
        # (a source's shape alone is clamped, never an error).
        given = [v for v in (spec.width, spec.height) if v is not None]
        too_big = any(v > side for v in given) or (len(given) == 2 and given[0] * given[1] > pixels)
        assert too_big or spec.upscale
        return
    width, height = made.output
    assert 1 <= width <= side
    assert 1 <= height <= side
    assert width * height <= pixels
    box = box_size(spec, source)
    assert width <= box[0]
    assert height <= box[1]


def sorl_size(
    size: tuple[int, int], geometry: str, crop: str | None, upscale: bool, padding: bool
) -> tuple[int, int]:
    """What sorl-thumbnail 13.4's Pillow engine makes, from a real, tiny image of ``size``
    (sorl reads its ratio from the image)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buffer, "PNG")
    return sorl_made(buffer.getvalue(), geometry, crop, upscale, padding)


@settings(max_examples=150, **FIXED)
@given(
    st.tuples(st.integers(1, 240), st.integers(1, 240)),
    geometries(high=300),
    GEOMETRY_CROPS,
    st.booleans(),
    st.booleans(),
)
def test_sizes_equal_sorl_on_sampled_cases(
    source: tuple[int, int], geometry: str, crop: str | None, upscale: bool, padding: bool
) -> None:
    options: dict[str, Any] = {"upscale": upscale, "padding": padding}
    if crop is not None:
        options["crop"] = crop
    spec = parse(geometry, **options)
    assert plan(spec, source).output == sorl_size(source, geometry, crop, upscale, padding)

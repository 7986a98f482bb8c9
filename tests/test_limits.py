"""LIMITS: refused before decoding, from header facts and planned sizes; bad bytes mapped.

Pillow's process-wide ``Image.MAX_IMAGE_PIXELS`` must stay untouched by all of it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests import images
from tests.conftest import thumbkit_settings
from thumbkit import get_thumbnail
from thumbkit.conf import get_settings
from thumbkit.core.engines import Rendered
from thumbkit.core.engines.pillow import PillowEngine
from thumbkit.core.spec import parse
from thumbkit.exceptions import OutputTooLarge, SourceError, SourceTooLarge, SourceUnreadable

PILLOW_DEFAULT = Image.MAX_IMAGE_PIXELS


@pytest.fixture(autouse=True)
def _pillow_global_untouched() -> Iterator[None]:
    before = Image.MAX_IMAGE_PIXELS
    yield
    assert Image.MAX_IMAGE_PIXELS == before == PILLOW_DEFAULT


def render(data: bytes, *specs: str, **limits: Any) -> list[Rendered]:
    with thumbkit_settings(LIMITS=limits):
        settings = get_settings()
    return PillowEngine().render(data, [parse(s) for s in specs], settings)


# --- source pixels -----------------------------------------------------------------------------


def test_header_claiming_ten_gigapixels_is_refused_quickly(no_decoding: list[str]) -> None:
    started = time.perf_counter()
    with pytest.raises(SourceTooLarge, match="MAX_SOURCE_PIXELS"):
        render(images.png_header_only(100_000, 100_000), "100x100")
    assert time.perf_counter() - started < 1.0
    assert no_decoding == []


def test_source_pixels_are_thumbkits_limit_not_pillows(no_decoding: list[str]) -> None:
    # 110 MP is above Pillow's own warning threshold (89 MP) and above our default (100 MP):
    # thumbkit refuses it with its own error, and no Pillow warning escapes (warnings are errors).
    data = images.png_header_only(11_000, 10_000)
    with pytest.raises(SourceTooLarge, match="MAX_SOURCE_PIXELS"):
        render(data, "100x100")
    assert no_decoding == []
    # Raised to 200 MP the header passes; the file (no real pixel data) then fails to decode,
    # as unreadable, not as a decompression bomb.
    with pytest.raises(SourceUnreadable):
        render(data, "100x100", MAX_SOURCE_PIXELS=200_000_000)


def test_small_cap_refuses_small_sources(no_decoding: list[str]) -> None:
    with pytest.raises(SourceTooLarge, match=r"400x300 = 120000 pixels"):
        render(images.png((400, 300)), "10x10", MAX_SOURCE_PIXELS=100_000)
    assert no_decoding == []


def test_jpeg_pixels_count_after_draft() -> None:
    data = images.jpeg((1600, 1200))  # 1.92 MP
    # A 100 px thumbnail decodes at 1/8: 200x150 = 30000 pixels, under the cap.
    out = render(data, "100x100", MAX_SOURCE_PIXELS=100_000)
    assert (out[0].width, out[0].height) == (100, 75)
    # An 800 px one needs 1/2: 800x600 = 480000 pixels, over it.
    with pytest.raises(SourceTooLarge, match="800x600"):
        render(data, "800x800", MAX_SOURCE_PIXELS=100_000)
    # PNG has no draft: the full 1.92 MP counts.
    with pytest.raises(SourceTooLarge, match="1600x1200"):
        render(images.png((1600, 1200)), "100x100", MAX_SOURCE_PIXELS=100_000)


def test_a_200_megapixel_jpeg_is_fine_for_a_small_thumbnail() -> None:
    # 20000x10000 is twice Pillow's decompression-bomb error threshold, but for a 100 px
    # thumbnail it decodes at 1/8 (2500x1250 = 3 MP), well under the default 100 MP.
    data = images.encode(Image.new("L", (20_000, 10_000), 90), "JPEG", quality=30)
    out = render(data, "100x100")
    assert (out[0].width, out[0].height) == (100, 50)
    with Image.open(io.BytesIO(out[0].data)) as image:
        assert abs(image.getpixel((50, 25)) - 90) <= 3  # type: ignore[operator]
    # The same source at full scale would be 200 MP: refused.
    with pytest.raises(SourceTooLarge, match="20000x10000"):
        render(data, "19000", MAX_OUTPUT_SIDE=None, MAX_OUTPUT_PIXELS=None)


def test_none_disables_the_pixel_cap() -> None:
    out = render(images.png((400, 300)), "10x10", MAX_SOURCE_PIXELS=None)
    assert out[0].width == 10


# --- frames and bytes --------------------------------------------------------------------------


def animated_gif(frames: int) -> bytes:
    shots = [Image.new("RGB", (20, 20), (i * 40 % 256, 0, 0)) for i in range(frames)]
    buffer = io.BytesIO()
    shots[0].save(buffer, "GIF", save_all=True, append_images=shots[1:], duration=50)
    return buffer.getvalue()


def test_frame_cap(no_decoding: list[str]) -> None:
    data = animated_gif(5)
    with pytest.raises(SourceTooLarge, match=r"5 frames.*MAX_FRAMES"):
        render(data, "10x10", MAX_FRAMES=4)
    assert no_decoding == []
    assert render(data, "10x10", MAX_FRAMES=5)[0].width == 10


def test_byte_cap(no_decoding: list[str]) -> None:
    data = images.jpeg((400, 300))
    with pytest.raises(SourceTooLarge, match="MAX_SOURCE_BYTES"):
        render(data, "10x10", MAX_SOURCE_BYTES=len(data) - 1)
    assert no_decoding == []
    assert render(data, "10x10", MAX_SOURCE_BYTES=len(data))[0].width == 10


# --- output ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_output_request_over_the_side_cap_reads_nothing(
    django_assert_num_queries: Any, no_decoding: list[str]
) -> None:
    # The source does not exist: reading it would raise SourceMissing, asking the store
    # would cost a query. Neither happens: the spec alone is refused.
    with django_assert_num_queries(0), pytest.raises(OutputTooLarge, match="MAX_OUTPUT_SIDE"):
        get_thumbnail("photos/does-not-exist.jpg", "5000x100")
    with django_assert_num_queries(0), pytest.raises(OutputTooLarge):
        get_thumbnail("photos/does-not-exist.jpg", "x4097")
    assert no_decoding == []


@pytest.mark.django_db
def test_output_side_cap_follows_settings(django_assert_num_queries: Any) -> None:
    with (
        thumbkit_settings(LIMITS={"MAX_OUTPUT_SIDE": 200}),
        django_assert_num_queries(0),
        pytest.raises(OutputTooLarge, match="200"),
    ):
        get_thumbnail("photos/does-not-exist.jpg", "201x10")


def test_an_output_pixel_cap_broken_by_the_box_is_refused_before_decoding(
    no_decoding: list[str],
) -> None:
    # A header-only PNG cannot be decoded: OutputTooLarge (not SourceUnreadable) proves the
    # planned output size was checked first: 3000x300 is over the cap, and so is the box.
    with pytest.raises(OutputTooLarge, match="MAX_OUTPUT_PIXELS"):
        render(images.png_header_only(100, 10), "3000x3000 upscale", MAX_OUTPUT_PIXELS=500_000)
    assert no_decoding == []


def test_output_pixel_cap(no_decoding: list[str]) -> None:
    with pytest.raises(OutputTooLarge, match="MAX_OUTPUT_PIXELS"):
        render(images.png((400, 300)), "200x200", MAX_OUTPUT_PIXELS=200 * 150 - 1)
    assert no_decoding == []
    assert render(images.png((400, 300)), "200x200", MAX_OUTPUT_PIXELS=200 * 150)[0].width == 200


def test_output_errors_are_invalid_specs() -> None:
    # A request above the limits is a programming error, like any other invalid spec.
    with pytest.raises(ValueError):
        render(images.png((40, 30)), "x5000 upscale")


# --- unreadable sources ------------------------------------------------------------------------


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def noisy_png() -> bytes:
    return images.encode(Image.effect_noise((300, 200), 60).convert("RGB"), "PNG")


def tiff() -> bytes:
    return images.encode(images.make_image((40, 30)), "TIFF")


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("zero bytes", b""),
        ("text", b"hello, I am not an image at all"),
        ("html", b"<!doctype html><html><body>404</body></html>"),
        ("random", bytes(range(256)) * 8),
        ("truncated jpeg", half(images.jpeg((400, 300)))),
        ("jpeg header only", images.jpeg((400, 300))[:200]),
        ("truncated png", half(images.png((400, 300)))),
        ("truncated noisy png", half(noisy_png())),
        ("png signature only", b"\x89PNG\r\n\x1a\n"),
        ("gif header only", b"GIF89a\x10\x00\x10\x00"),
    ],
)
def test_bad_bytes_are_unreadable(label: str, data: bytes) -> None:
    with pytest.raises(SourceUnreadable):
        render(data, "10x10")


def test_disallowed_format_is_unreadable(no_decoding: list[str]) -> None:
    data = tiff()
    assert render(data, "10x10")[0].width == 10  # TIFF is allowed by default
    no_decoding.clear()
    with pytest.raises(SourceUnreadable, match="allowed format"):
        render(data, "10x10", FORMATS=("JPEG", "PNG"))
    assert no_decoding == []


def test_formats_are_case_insensitive_and_exclusive() -> None:
    with pytest.raises(SourceUnreadable):
        render(images.png((40, 30)), "10x10", FORMATS=("jpeg",))
    assert render(images.jpeg((40, 30)), "10x10", FORMATS=("jpeg",))[0].width == 10


def test_unknown_format_names_in_the_allow_list_are_ignored() -> None:
    assert render(images.png((40, 30)), "10x10", FORMATS=("NOPE", "PNG"))[0].width == 10


def test_source_errors_share_one_base() -> None:
    for error in (SourceTooLarge, SourceUnreadable):
        assert issubclass(error, SourceError)


def test_pillow_global_is_pristine() -> None:
    # Also asserted after every test here by the autouse fixture.
    assert Image.MAX_IMAGE_PIXELS == PILLOW_DEFAULT == 89_478_485

"""thumbkit against easy-thumbnails' own processors, as docs/migrating/easy-thumbnails.md says.

Each case runs one source through easy-thumbnails' processor chain (``process_image``, with
its default ``THUMBNAIL_PROCESSORS``) and through thumbkit's Pillow engine with the options
the guide's table gives, and compares what comes out: the size (also against
``geometry.plan``), the pixels a crop keeps, and the JPEG quantisation tables a quality
gives. The few places where the two differ, and the guide says so, are pinned below.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from easy_thumbnails.engine import process_image, save_pil_image
from PIL import Image, ImageChops, ImageStat

from tests import images
from thumbkit.conf import get_settings
from thumbkit.core.engines import engine_class
from thumbkit.core.geometry import plan
from thumbkit.core.spec import Spec, parse

# easy-thumbnails' crop value -> thumbkit's, as the guide's table has it.
CROPS: dict[Any, str | None] = {
    None: None,
    True: "center",
    "0,0": "left top",
    "-0,-0": "right bottom",
    ",0": "top",
    "0,": "left",
    ",-0": "bottom",
    "-0,": "right",
    "smart": "smart",
}
SOURCES = [(400, 300), (300, 400), (500, 500), (320, 213), (333, 777), (640, 360)]
BOXES = [(100, 100), (300, 200), (200, 300), (64, 48), (99, 101), (600, 600)]
ONE_SIDE = [(150, 0), (0, 150), (100, 0), (0, 100), (333, 0), (0, 64)]
SMALL = [(160, 120), (120, 160), (90, 90)]  # smaller than some boxes: upscale matters
BIG_BOXES = [(200, 200), (400, 100), (300, 0), (0, 300)]


def geometry(size: tuple[int, int]) -> str:
    width, height = size
    if width and height:
        return f"{width}x{height}"
    return f"{width}" if width else f"x{height}"


def easy(image: Image.Image, size: tuple[int, int], crop: Any, upscale: bool) -> Image.Image:
    options: dict[str, Any] = {"size": size, "upscale": upscale}
    if crop is not None:
        options["crop"] = crop
    made: Image.Image = process_image(image, options)
    return made


def spec(size: tuple[int, int], crop: Any, upscale: bool, **more: Any) -> Spec:
    options: dict[str, Any] = {"upscale": upscale, **more}
    if CROPS[crop] is not None:
        options["crop"] = CROPS[crop]
    return parse(geometry(size), **options)


def thumbkit(data: bytes, specs: list[Spec]) -> list[Image.Image]:
    rendered = engine_class("pillow")().render(data, specs, get_settings())
    return [Image.open(io.BytesIO(out.data)) for out in rendered]


def compare(source: tuple[int, int], cases: list[tuple[tuple[int, int], Any, bool]]) -> list[Any]:
    data = images.png(source)
    specs = [spec(size, crop, up) for size, crop, up in cases]
    ours = thumbkit(data, specs)
    mismatches = []
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        for case, s, out in zip(cases, specs, ours, strict=True):
            theirs = easy(image, *case).size
            planned = plan(s, source).output
            if not theirs == out.size == planned:
                mismatches.append((case, {"easy": theirs, "thumbkit": out.size, "plan": planned}))
    return mismatches


def wanted(source: tuple[int, int], size: tuple[int, int], crop: Any, up: bool) -> bool:
    # upscale changes nothing for a box inside the source; smart crop of a box larger than
    # the source is one of the pinned differences below
    inside = source[0] >= size[0] and source[1] >= size[1]
    if crop == "smart":
        return inside and not up
    return not up or not inside


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_sizes_equal_easy_thumbnails(source: tuple[int, int]) -> None:
    cases = [
        (size, crop, up)
        for size, crop, up in itertools.product(BOXES, CROPS, (False, True))
        if wanted(source, size, crop, up)
    ]
    assert len(cases) >= 40
    assert compare(source, cases) == []


def test_one_side_sizes_are_within_a_pixel_of_easy_thumbnails() -> None:
    # A width or a height alone: thumbkit rounds as sorl-thumbnail does (the free side
    # first, then the given side follows the ratio), so the given side can come out 1 px
    # short of easy-thumbnails', which keeps it exact ("150" of 400x300: 149x112, not 150x112).
    same = differ = 0
    for source in SOURCES:
        data = images.png(source)
        specs = [spec(size, None, False) for size in ONE_SIDE]
        with Image.open(io.BytesIO(data)) as image:
            for size, s, out in zip(ONE_SIDE, specs, thumbkit(data, specs), strict=True):
                theirs = easy(image, size, None, False).size
                assert out.size == plan(s, source).output
                given = 0 if size[0] else 1
                assert out.size[1 - given] == theirs[1 - given], (source, size)
                assert theirs[given] - out.size[given] in (0, 1), (source, size)
                same += out.size == theirs
                differ += out.size != theirs
    assert same > 0
    assert differ > 0


@pytest.mark.parametrize("source", SMALL, ids=lambda s: f"{s[0]}x{s[1]}")
def test_small_sources_with_and_without_upscale_equal_easy_thumbnails(
    source: tuple[int, int],
) -> None:
    crops = [c for c in CROPS if c != "smart"]
    cases = list(itertools.product(BIG_BOXES, crops, (False, True)))
    assert compare(source, cases) == []
    # Not a vacuous grid: upscale changes the size, and crops give exact boxes.
    sizes = {spec(box, crop, up) for box, crop, up in cases}
    assert len({plan(s, source).output for s in sizes}) >= 5


def quadrants(size: tuple[int, int] = (400, 300)) -> bytes:
    """Four flat colours, so a crop's anchor shows in its pixels."""
    width, height = size
    image = Image.new("RGB", size, (230, 30, 30))
    image.paste((30, 200, 30), (width // 2, 0, width, height // 2))
    image.paste((30, 30, 220), (0, height // 2, width // 2, height))
    image.paste((240, 220, 20), (width // 2, height // 2, width, height))
    return images.encode(image, "PNG")


@pytest.mark.parametrize("crop", [c for c in CROPS if c not in (None, "smart")])
def test_a_crop_keeps_the_pixels_easy_thumbnails_keeps(crop: Any) -> None:
    data = quadrants()
    cases = [((100, 100), crop, False), ((150, 40), crop, False), ((40, 150), crop, False)]
    ours = thumbkit(data, [spec(*case) for case in cases])
    with Image.open(io.BytesIO(data)) as image:
        for case, out in zip(cases, ours, strict=True):
            theirs = easy(image.convert("RGB"), *case)
            assert theirs.size == out.size
            diff = ImageStat.Stat(ImageChops.difference(theirs, out.convert("RGB"))).mean
            assert max(diff) < 6, (case, diff)  # the same region; resampling differs slightly


def test_quality_gives_the_same_jpeg_tables() -> None:
    data = images.jpeg((800, 600))
    for quality in (40, 60, 85, 95):
        (ours,) = thumbkit(data, [parse("200x150", quality=quality, format="jpeg")])
        with Image.open(io.BytesIO(data)) as image:
            made = easy(image, (200, 150), None, False)
            saved = save_pil_image(made, filename="t.jpg", quality=quality)
        theirs = Image.open(saved)
        assert (theirs.format, ours.format) == ("JPEG", "JPEG")
        assert theirs.quantization == ours.quantization, quality  # type: ignore[attr-defined]


# --- where the two differ, as the guide says -------------------------------------------


def test_a_free_side_rounds_as_sorl_thumbnail_does() -> None:
    # "50" of a 301x7 strip: easy-thumbnails keeps the width (50x1), thumbkit follows
    # sorl-thumbnail (the height rounds to 1 first, then the width follows the ratio: 43x1).
    data = images.png((301, 7))
    (ours,) = thumbkit(data, [spec((50, 0), None, False)])
    with Image.open(io.BytesIO(data)) as image:
        assert easy(image, (50, 0), None, False).size == (50, 1)
    assert ours.size == (43, 1)


def test_smart_crop_of_a_smaller_source() -> None:
    # easy-thumbnails keeps a source smaller than the box whole; thumbkit's smart crop
    # still cuts it to the box's shape.
    data = images.png((160, 120))
    (ours,) = thumbkit(data, [spec((200, 200), "smart", False)])
    with Image.open(io.BytesIO(data)) as image:
        assert easy(image, (200, 200), "smart", False).size == (160, 120)
    assert ours.size == (120, 120)


def test_a_sliver_that_easy_thumbnails_cannot_resize() -> None:
    # A side that would round to 0 px: easy-thumbnails' resize raises, thumbkit keeps 1 px.
    data = images.png((1, 54))
    (ours,) = thumbkit(data, [spec((80, 20), None, False)])
    with Image.open(io.BytesIO(data)) as image, pytest.raises(ValueError):
        easy(image, (80, 20), None, False)
    assert ours.size == (1, 20)

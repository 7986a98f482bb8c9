"""thumbkit.processors, checked on pixels; pilkit's processors run unchanged through a spec."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pilkit.processors as pk
import pytest
from PIL import Image, ImageDraw, ImageOps

from tests import images
from tests.conftest import thumbkit_settings
from thumbkit import get_thumbnail
from thumbkit import processors as tp
from thumbkit.core import pipeline
from thumbkit.lookup.thumbnail import Thumbnail
from thumbkit.processors import Anchor, Side, Transpose

Color = tuple[int, ...]
RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def close(actual: Any, expected: Color, tolerance: int = 12) -> bool:
    values = actual if isinstance(actual, tuple) else (actual,)
    return len(values) >= len(expected) and all(
        abs(a - e) <= tolerance for a, e in zip(values, expected, strict=False)
    )


def rgb(image: Image.Image, xy: tuple[int, int]) -> Color:
    return tuple(image.convert("RGBA").getpixel(xy))[:3]  # type: ignore[arg-type]


def quadrants(size: tuple[int, int] = (200, 100)) -> Image.Image:
    """Red, green / blue, yellow."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for (x, y), fill in zip(
        [(0, 0), (1, 0), (0, 1), (1, 1)], [RED, GREEN, BLUE, YELLOW], strict=True
    ):
        box = (x * width // 2, y * height // 2, (x + 1) * width // 2 - 1, (y + 1) * height // 2 - 1)
        draw.rectangle(box, fill=fill)
    return image


def stripes(size: tuple[int, int] = (300, 100)) -> Image.Image:
    """Three vertical bands, red | green | blue: which one survives shows the anchor."""
    image = Image.new("RGB", size)
    third = size[0] // 3
    for i, fill in enumerate([RED, GREEN, BLUE]):
        image.paste(fill, (i * third, 0, (i + 1) * third, size[1]))
    return image


def busy_right(size: tuple[int, int] = (300, 100)) -> Image.Image:
    """Flat white with a black/white checkerboard on the right third."""
    image = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(image)
    for x in range(size[0] * 2 // 3, size[0], 4):
        for y in range(0, size[1], 4):
            if (x // 4 + y // 4) % 2:
                draw.rectangle((x, y, x + 3, y + 3), fill=BLACK)
    return image


def black_share(image: Image.Image) -> float:
    grey = image.convert("L")
    return sum(grey.histogram()[:128]) / (grey.width * grey.height)


def corners(image: Image.Image, inset: int = 3) -> list[Color]:
    w, h = image.size
    points = [(inset, inset), (w - 1 - inset, inset), (inset, h - 1 - inset)]
    return [rgb(image, p) for p in [*points, (w - 1 - inset, h - 1 - inset)]]


def all_close(actual: list[Color], expected: list[Color], tolerance: int = 12) -> bool:
    return all(close(a, e, tolerance) for a, e in zip(actual, expected, strict=True))


# --- resizing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "kept"),
    [(None, GREEN), ("c", GREEN), (Anchor.LEFT, RED), ("r", BLUE), ((0.0, 0.5), RED)],
)
def test_resize_to_fill_keeps_the_anchor(anchor: Any, kept: Color) -> None:
    out = tp.ResizeToFill(50, 50, anchor=anchor).process(stripes())
    assert out.size == (50, 50)
    assert all_close(corners(out), [kept] * 4)


def test_resize_to_fill_scales_then_crops() -> None:
    out = tp.ResizeToFill(50, 30).process(quadrants())  # covers at 60x30, crops 5 px a side
    assert out.size == (50, 30)
    assert all_close(corners(out, 2), [RED, GREEN, BLUE, YELLOW], 30)
    small = tp.ResizeToFill(100, 100, upscale=False).process(quadrants((40, 20)))
    assert small.size == (40, 20)  # not enlarged, and nothing to crop
    assert all_close(corners(small, 1), [RED, GREEN, BLUE, YELLOW])


def test_resize_to_fit() -> None:
    out = tp.ResizeToFit(50, 50).process(quadrants())
    assert out.size == (50, 25)
    assert all_close(corners(out, 2), [RED, GREEN, BLUE, YELLOW], 30)
    assert tp.ResizeToFit(width=100).process(quadrants()).size == (100, 50)
    assert tp.ResizeToFit(height=20).process(quadrants()).size == (40, 20)
    assert tp.ResizeToFit(500, 500, upscale=False).process(quadrants()).size == (200, 100)
    assert tp.ResizeToFit(400, 400).process(quadrants()).size == (400, 200)
    with pytest.raises(ValueError, match="width, a height"):
        tp.ResizeToFit()


def test_resize_to_fit_with_a_mat() -> None:
    out = tp.ResizeToFit(50, 50, mat_color=(0, 0, 0)).process(quadrants())
    assert out.size == (50, 50)
    # The 50x25 picture sits in the middle (rows 12-36) of a black mat.
    assert rgb(out, (25, 3)) == BLACK
    assert rgb(out, (25, 46)) == BLACK
    assert close(rgb(out, (5, 15)), RED, 30)
    assert close(rgb(out, (45, 33)), YELLOW, 30)
    bottom = tp.ResizeToFit(50, 50, mat_color="#00f", anchor=Anchor.BOTTOM).process(quadrants())
    assert rgb(bottom, (25, 10)) == BLUE
    assert close(rgb(bottom, (5, 28)), RED, 30)


def test_resize_to_cover() -> None:
    out = tp.ResizeToCover(50, 50).process(quadrants())
    assert out.size == (100, 50)
    assert all_close(corners(out, 2), [RED, GREEN, BLUE, YELLOW], 30)
    assert tp.ResizeToCover(500, 500, upscale=False).process(quadrants()).size == (200, 100)


def test_resize() -> None:
    out = tp.Resize(40, 60).process(quadrants())
    assert out.size == (40, 60)  # stretched: aspect ratio not kept
    assert all_close(corners(out, 2), [RED, GREEN, BLUE, YELLOW], 30)
    small = quadrants((20, 20))
    assert tp.Resize(40, 30, upscale=False).process(small).size == (20, 20)
    assert tp.Resize(10, 10, upscale=False).process(small).size == (10, 10)
    palette = quadrants().convert("P")
    assert tp.Resize(20, 10).process(palette).mode == "RGB"  # resampled in colour, not indices


def test_thumbnail_crops_fits_or_finds_the_busy_part() -> None:
    assert tp.Thumbnail(60, 40).process(quadrants()).size == (60, 40)
    assert tp.Thumbnail(width=50).process(quadrants()).size == (50, 25)
    assert tp.Thumbnail(50, 50, crop=False).process(quadrants()).size == (50, 25)
    left = tp.Thumbnail(50, 50, anchor=Anchor.LEFT).process(stripes())
    assert all_close(corners(left), [RED] * 4)
    auto = tp.Thumbnail(50, 50).process(busy_right())  # both sides: smart crop ("auto")
    assert auto.size == (50, 50)
    assert 0.3 < black_share(auto) < 0.7
    assert black_share(tp.Thumbnail(50, 50, anchor="auto").process(busy_right())) > 0.3
    centre = tp.Thumbnail(50, 50, crop=True).process(busy_right())  # pilkit: crop=True alone
    assert black_share(centre) < 0.05
    assert tp.Thumbnail(500, 500).process(quadrants()).size == (200, 100)  # upscale off
    with pytest.raises(ValueError, match="anchor"):
        tp.Thumbnail(50, 50, anchor="c", crop=False)
    with pytest.raises(ValueError, match="width and a height"):
        tp.Thumbnail(width=50, crop=True)


def test_smart_resize_keeps_the_busy_part() -> None:
    out = tp.SmartResize(100, 100).process(busy_right())
    assert out.size == (100, 100)
    assert 0.3 < black_share(out) < 0.7
    # A centre crop of the same picture would be flat white.
    assert black_share(tp.ResizeToFill(100, 100).process(busy_right())) < 0.05


# --- cropping and canvas ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "kept"), [(None, GREEN), ("l", RED), ("tr", BLUE), ((0.5, 1.0), GREEN)]
)
def test_crop_by_anchor(anchor: Any, kept: Color) -> None:
    out = tp.Crop(80, 60, anchor=anchor).process(stripes())
    assert out.size == (80, 60)
    assert out.mode == "RGB"
    assert all_close(corners(out, 0), [kept] * 4, 0)


def test_crop_by_offset_and_never_enlarging() -> None:
    out = tp.Crop(100, 100, x=-200, y=0).process(stripes())  # pilkit's x: where the source lands
    assert all_close(corners(out, 0), [BLUE] * 4, 0)
    assert tp.Crop(1000, 50).process(stripes()).size == (300, 50)
    assert tp.Crop(height=40).process(stripes()).size == (300, 40)
    with pytest.raises(ValueError, match="not both"):
        tp.Crop(10, 10, anchor="c", x=1)


def test_smart_crop() -> None:
    out = tp.SmartCrop(100, 100).process(busy_right())
    assert out.size == (100, 100)
    assert 0.3 < black_share(out) < 0.7
    assert tp.SmartCrop(500, 50).process(busy_right()).size == (300, 50)


def test_resize_canvas() -> None:
    red = Image.new("RGB", (100, 100), RED)
    out = tp.ResizeCanvas(300, 200, color=BLUE).process(red)
    assert out.size == (300, 200)
    assert [rgb(out, p) for p in [(150, 100), (100, 50), (199, 149)]] == [RED] * 3
    assert [rgb(out, p) for p in [(10, 10), (99, 100), (200, 100), (150, 49)]] == [BLUE] * 4
    placed = tp.ResizeCanvas(150, 150, color="#00f", x=10, y=20).process(red)
    assert [rgb(placed, p) for p in [(10, 20), (109, 119)]] == [RED, RED]
    assert [rgb(placed, p) for p in [(9, 20), (110, 119), (10, 19)]] == [BLUE] * 3
    clear = tp.ResizeCanvas(120, 100).process(red)
    assert clear.mode == "RGBA"
    assert clear.getpixel((5, 50))[3] == 0  # type: ignore[index]
    assert clear.getpixel((60, 50)) == (*RED, 255)
    with pytest.raises(ValueError, match="not both"):
        tp.ResizeCanvas(10, 10, anchor="c", y=2)


def test_add_border() -> None:
    red = Image.new("RGB", (20, 20), RED)
    out = tp.AddBorder(5, color=BLUE).process(red)
    assert out.size == (30, 30)
    assert [rgb(out, p) for p in [(2, 2), (27, 15), (15, 4)]] == [BLUE] * 3
    assert [rgb(out, p) for p in [(5, 5), (15, 15), (24, 24)]] == [RED] * 3
    sides = tp.AddBorder((1, 2, 3, 4), color="blue").process(red)  # top, right, bottom, left
    assert sides.size == (26, 24)
    assert [rgb(sides, p) for p in [(3, 5), (10, 0), (24, 5), (10, 21)]] == [BLUE] * 4
    assert [rgb(sides, p) for p in [(4, 1), (23, 20)]] == [RED, RED]


def framed(border: Color = WHITE) -> Image.Image:
    image = Image.new("RGB", (100, 80), border)
    ImageDraw.Draw(image).rectangle((20, 10, 59, 49), fill=RED)
    return image


def test_trim_border_color() -> None:
    out = tp.TrimBorderColor().process(framed())
    assert out.size == (40, 40)
    assert all_close(corners(out, 0), [RED] * 4, 0)
    # Near-white counts as border within the tolerance, not without it.
    assert tp.TrimBorderColor(color=WHITE).process(framed((250, 250, 250))).size == (40, 40)
    assert tp.TrimBorderColor(color=WHITE, tolerance=0).process(framed((250, 250, 250))).size == (
        100,
        80,
    )
    left = tp.TrimBorderColor(sides=(Side.LEFT,)).process(framed())
    assert left.size == (80, 80)
    assert rgb(left, (0, 20)) == RED
    assert rgb(left, (79, 20)) == WHITE
    plain = Image.new("RGB", (30, 30), WHITE)
    assert tp.TrimBorderColor().process(plain).size == (30, 30)  # all border: left alone
    with pytest.raises(ValueError, match="tolerance"):
        tp.TrimBorderColor(tolerance=2)
    with pytest.raises(ValueError, match="sides"):
        tp.TrimBorderColor(sides=("x",))


# --- colour and filters -------------------------------------------------------------------


def test_adjust() -> None:
    base = Image.new("RGB", (20, 20), (200, 100, 50))
    grey = rgb(tp.Adjust(color=0).process(base), (10, 10))
    assert grey[0] == grey[1] == grey[2]
    assert close(grey, (124, 124, 124), 1)  # the luma of (200, 100, 50)
    assert rgb(tp.Adjust(brightness=0.5).process(base), (10, 10)) == (100, 50, 25)
    assert rgb(tp.Adjust(brightness=0).process(base), (10, 10)) == BLACK
    flat = tp.Adjust(contrast=0).process(quadrants())
    assert len(flat.getcolors() or []) == 1  # no contrast left: one grey everywhere
    translucent = Image.new("RGBA", (20, 20), (200, 100, 50, 128))
    out = tp.Adjust(brightness=0.5, color=0.5).process(translucent)
    assert out.mode == "RGBA"
    assert out.getpixel((10, 10))[3] == 128  # type: ignore[index]


def test_adjust_sharpness() -> None:
    blurry = tp.GaussianBlur(2).process(stripes((60, 20)))
    sharper = tp.Adjust(sharpness=3).process(blurry)
    edge = (20, 10)  # the red/green border
    assert rgb(sharper, edge) != rgb(blurry, edge)
    assert rgb(sharper, (5, 10)) == rgb(blurry, (5, 10))


@pytest.mark.parametrize(
    ("methods", "size", "top_left"),
    [
        ((Transpose.ROTATE_90,), (100, 200), GREEN),  # counter-clockwise, as in Pillow
        ((Transpose.ROTATE_270,), (100, 200), BLUE),
        ((Transpose.ROTATE_180,), (200, 100), YELLOW),
        ((Transpose.FLIP_HORIZONTAL,), (200, 100), GREEN),
        ((Transpose.FLIP_VERTICAL,), (200, 100), BLUE),
        (("flip_vertical", "flip_horizontal"), (200, 100), YELLOW),
    ],
)
def test_transpose(methods: tuple[Any, ...], size: tuple[int, int], top_left: Color) -> None:
    processor = Transpose(*methods)
    out = processor.process(quadrants())
    assert out.size == size
    assert rgb(out, (2, 2)) == top_left
    assert processor.output_size((200, 100)) == size


def test_transpose_auto_follows_exif_and_names_are_canonical() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left: rotate clockwise to view
    data = images.encode(quadrants().transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif)
    with Image.open(io.BytesIO(data)) as stored:
        out = Transpose(Transpose.AUTO).process(stored)
    assert out.size == (200, 100)
    assert [rgb(out, p) for p in [(2, 2), (197, 97)]] == [RED, YELLOW]
    assert Transpose().methods == ("auto",)
    text = pipeline.step_text(Transpose(Transpose.ROTATE_90))
    assert text == pipeline.step_text(Transpose(methods=["rotate_90"]))
    assert text == pipeline.step_text(Transpose(Image.Transpose.ROTATE_90))
    with pytest.raises(ValueError, match="transpose"):
        Transpose("spin")


def test_make_opaque() -> None:
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 10, 20))
    out = tp.MakeOpaque().process(image)
    assert out.mode == "RGB"
    assert [rgb(out, (5, 5)), rgb(out, (15, 5))] == [RED, WHITE]
    assert rgb(tp.MakeOpaque(background_color=BLUE).process(image), (15, 5)) == BLUE


def test_convert() -> None:
    out = tp.Convert("L").process(quadrants())
    assert out.mode == "L"
    assert out.getpixel((5, 5)) == 76  # ITU-R 601 luma of pure red
    few = tp.Convert("P", palette=Image.Palette.ADAPTIVE, colors=4).process(images.make_image())
    assert few.mode == "P"
    assert len(few.getcolors() or []) <= 4


def test_gaussian_blur() -> None:
    image = Image.new("L", (40, 20), 0)
    image.paste(255, (20, 0, 40, 20))
    out = tp.GaussianBlur(3).process(image)
    assert 40 < out.getpixel((19, 10)) < 215  # type: ignore[operator]
    assert out.getpixel((2, 10)) == 0
    assert out.getpixel((37, 10)) == 255


def test_color_overlay() -> None:
    out = tp.ColorOverlay(BLUE, overlay_opacity=0.5).process(Image.new("RGB", (10, 10), RED))
    assert close(rgb(out, (5, 5)), (128, 0, 128), 1)
    assert rgb(tp.ColorOverlay("blue", 1).process(quadrants()), (5, 5)) == BLUE
    translucent = Image.new("RGBA", (10, 10), (*RED, 100))
    kept = tp.ColorOverlay(BLUE, 0.25).process(translucent)
    assert close(kept.getpixel((5, 5)), (191, 0, 64, 100), 1)


def watermark(fill: Color = BLUE) -> Image.Image:
    mark = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    mark.paste((*fill, 255), (0, 0, 10, 10))
    return mark


def test_image_overlay_positions_and_opacity(tmp_path: Path) -> None:
    red = Image.new("RGB", (100, 100), RED)
    corner = tp.ImageOverlay(watermark(), anchor=Anchor.BOTTOM_RIGHT).process(red)
    assert corner.mode == "RGB"
    assert [rgb(corner, p) for p in [(90, 90), (99, 99)]] == [BLUE, BLUE]
    assert [rgb(corner, p) for p in [(89, 95), (5, 5)]] == [RED, RED]
    placed = tp.ImageOverlay(watermark(), x=5, y=20).process(red)
    assert [rgb(placed, p) for p in [(5, 20), (14, 29), (4, 20), (15, 29)]] == [
        BLUE,
        BLUE,
        RED,
        RED,
    ]
    half = tp.ImageOverlay(watermark(), opacity=0.5).process(red)
    assert close(rgb(half, (5, 5)), (127, 0, 128), 1)
    translucent = Image.new("RGBA", (100, 100), (*RED, 90))
    assert tp.ImageOverlay(watermark()).process(translucent).getpixel((50, 50)) == (*RED, 90)


def test_image_overlay_sources_and_canonical_text(tmp_path: Path) -> None:
    path = tmp_path / "mark.png"
    watermark().save(path)
    ways = [watermark(), str(path), path, path.read_bytes(), io.BytesIO(path.read_bytes())]
    texts = {pipeline.step_text(tp.ImageOverlay(way, anchor="br")) for way in ways}
    assert len(texts) == 1  # the overlay's pixels make the text, not how it was given
    assert pipeline.step_text(tp.ImageOverlay(watermark(GREEN), anchor="br")) not in texts
    red = Image.new("RGB", (20, 20), RED)
    assert rgb(tp.ImageOverlay(str(path)).process(red), (5, 5)) == BLUE
    with pytest.raises(ValueError, match="overlay image"):
        tp.ImageOverlay(str(tmp_path / "missing.png"))


def test_processor_pipeline() -> None:
    chain = tp.ProcessorPipeline([tp.ResizeToFill(50, 50, anchor="l"), tp.Adjust(color=0)])
    out = chain.process(stripes())
    assert out.size == (50, 50)
    grey = rgb(out, (25, 25))
    assert grey[0] == grey[1] == grey[2]
    assert close(grey, (76, 76, 76), 3)  # the red band, desaturated
    assert chain.output_size((300, 100)) == (50, 50)


# --- size hints ---------------------------------------------------------------------------


def test_size_hints() -> None:
    assert tp.ResizeToFill(100, 50).target_size((4000, 3000)) == (100, 75)
    assert tp.ResizeToFill(100, 50).output_size((4000, 3000)) == (100, 50)
    assert tp.ResizeToFit(300, 300).target_size((4000, 3000)) == (300, 225)
    assert tp.ResizeToFit(300, 300, mat_color="black").output_size((4000, 3000)) == (300, 300)
    assert tp.Thumbnail(width=400).target_size((4000, 3000)) == (400, 300)
    assert tp.Resize(50, 50, upscale=False).target_size((40, 40)) is None
    assert tp.Crop(50, 50).target_size((400, 400)) is None  # crops do not resample
    assert tp.Crop(50, 50).output_size((400, 30)) == (50, 30)
    assert tp.AddBorder(2).output_size((10, 10)) == (14, 14)
    assert tp.TrimBorderColor().output_size((10, 10)) is None  # depends on the pixels
    steps = [tp.ResizeToFit(100, 100), tp.AddBorder(5)]
    assert pipeline.output_size(steps, (400, 200)) == (110, 60)
    assert pipeline.output_size([*steps, tp.TrimBorderColor()], (400, 200)) is None


def test_target_size_is_a_safe_jpeg_draft_request() -> None:
    """Drafting a JPEG to a resizer's target size, then running it, gives the same size."""
    data = images.jpeg((1600, 1200))
    for processor in [tp.ResizeToFill(100, 50), tp.ResizeToFit(150, 150), tp.SmartResize(64, 64)]:
        with Image.open(io.BytesIO(data)) as full:
            expected = processor.process(full).size
        with Image.open(io.BytesIO(data)) as drafted:
            target = processor.target_size(drafted.size)
            assert target is not None
            drafted.draft("RGB", target)
            assert drafted.size[0] >= target[0]
            assert drafted.size[1] >= target[1]
            assert drafted.size[0] <= 800  # it did decode at a reduced scale
            assert processor.process(drafted).size == expected


# --- through a spec: pilkit's processors unchanged, custom objects --------------------------


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def opened(t: Thumbnail) -> Image.Image:
    with t.storage.open(t.name, "rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


PILKIT_CASES: list[Callable[[], Any]] = [
    lambda: pk.ResizeToFill(50, 30),
    lambda: pk.ResizeToFit(60, 60, mat_color=(0, 0, 0)),
    lambda: pk.Adjust(contrast=1.4, color=0.3),
    lambda: pk.Transpose(pk.Transpose.ROTATE_90),
    lambda: pk.SmartResize(40, 40),
    lambda: pk.TrimBorderColor(),
    lambda: pk.GaussianBlur(2),
    lambda: pk.ColorOverlay((0, 0, 255), 0.3),
]


@pytest.mark.django_db
@pytest.mark.parametrize("make", PILKIT_CASES)
def test_pilkit_processors_run_unchanged(media: Path, save_source: Any, make: Any) -> None:
    picture = images.make_image((160, 120))
    name = save_source(images.encode(picture, "PNG"), "photos/p.png")
    t = get_thumbnail(name, "1000x1000", processors=[make()], format="png")
    direct = make().process(picture.copy())
    out = opened(t)
    assert out.size == direct.size == (t.width, t.height)
    assert out.convert("RGBA").tobytes() == direct.convert("RGBA").tobytes()


@pytest.mark.django_db
def test_pilkit_processors_in_a_named_spec(media: Path, save_source: Any) -> None:
    picture = quadrants((160, 120))
    name = save_source(images.encode(picture, "PNG"), "photos/p.png")
    specs = {
        "pk": {
            "size": "1000x1000",
            "format": "png",
            "processors": [
                {"PATH": "pilkit.processors.ResizeToFill", "width": 50, "height": 30},
                "pilkit.processors.Transpose",  # AUTO: nothing to do on an upright source
            ],
        }
    }
    with thumbkit_settings(SPECS=specs):
        t = get_thumbnail(name, "pk")
    direct = pk.ResizeToFill(50, 30).process(picture)
    assert opened(t).convert("RGBA").tobytes() == direct.convert("RGBA").tobytes()
    assert all_close(corners(opened(t), 2), [RED, GREEN, BLUE, YELLOW], 30)


class Invert:
    """A processor of one's own: anything with process(image)."""

    def process(self, image: Image.Image) -> Image.Image:
        return ImageOps.invert(image.convert("RGB"))


@pytest.mark.django_db
def test_a_custom_processor_object(media: Path, save_source: Any) -> None:
    name = save_source(images.encode(quadrants(), "PNG"), "photos/q.png")
    t = get_thumbnail(name, "100x100", processors=[Invert()], format="png")
    assert (t.width, t.height) == (100, 50)
    expected = [(0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 255)]
    assert all_close(corners(opened(t), 3), expected, 30)


@pytest.mark.django_db
def test_thumbkit_processors_run_after_the_geometry(media: Path, save_source: Any) -> None:
    name = save_source(images.encode(stripes((600, 200)), "PNG"), "photos/s.png")
    t = get_thumbnail(name, "300x300", processors=[tp.ResizeToFill(40, 40, anchor="r")])
    assert (t.width, t.height) == (40, 40)
    assert t.format == "PNG"
    assert all_close(corners(opened(t), 1), [BLUE] * 4, 8)
    # A new, equal processor object: the same key, so the same file, not a second one.
    again = get_thumbnail(name, "300x300", processors=[tp.ResizeToFill(40, 40, anchor="r")])
    assert again.name == t.name

"""Memory and time are bounded by LIMITS, on both engines; decoder failures stay typed.

Bombs are built in code (tests/bombs.py) and rendered in a child process under an
address-space cap (tests/memcap.py), so a regression costs a failed test, not the machine.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageFile, features

from tests import bombs, images
from tests.conftest import thumbkit_settings
from tests.memcap import GIB, Outcome, run_capped
from thumbkit import get_thumbnail
from thumbkit.conf import Limits, get_settings
from thumbkit.core.engines import Rendered, engine_class
from thumbkit.core.probe import SourceInfo, probe
from thumbkit.core.spec import parse
from thumbkit.exceptions import (
    GenerationError,
    OutputTooLarge,
    SourceTooLarge,
    SourceUnreadable,
)

ENGINES = ["pillow", "vips"]
FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP")


def lim(**changes: Any) -> Limits:
    base = Limits(100_000_000, 300, None, 4096, 4096 * 4096, FORMATS)
    return replace(base, **changes)


def render(engine: str, data: bytes, *specs: str, **limits: Any) -> list[Rendered]:
    with thumbkit_settings(LIMITS=limits):
        settings = get_settings()
    return engine_class(engine)().render(data, [parse(s) for s in specs], settings)


# --- 1. progressive and multi-scan JPEG bombs ---------------------------------------------------

BOMBS: dict[str, tuple[Callable[[], bytes], Callable[[], bytes]]] = {
    # name: (the bomb, a baseline JPEG of the same header size: what LIMITS accept for it)
    "progressive-65500": (
        lambda: bombs.progressive_jpeg((65500, 65500)),
        lambda: bombs.baseline_jpeg((65500, 65500)),
    ),
    "progressive-30000": (
        lambda: bombs.progressive_jpeg((30000, 30000)),
        lambda: bombs.baseline_jpeg((30000, 30000)),
    ),
    "progressive-rgb-13000": (
        lambda: bombs.progressive_jpeg((13000, 13000), "RGB"),
        lambda: bombs.baseline_jpeg((13000, 13000), "RGB"),
    ),
    "multiscan-rgb-13000": (
        lambda: bombs.multiscan_jpeg((13000, 13000)),
        lambda: bombs.baseline_jpeg((13000, 13000), "RGB"),
    ),
}
_baselines: dict[tuple[str, str], Outcome] = {}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(BOMBS))
def test_jpeg_bombs_are_refused_within_the_memory_of_a_baseline(name: str, engine: str) -> None:
    make_bomb, make_baseline = BOMBS[name]
    bomb = make_bomb()
    assert len(bomb) < 1000  # a few hundred bytes of file
    key = (name, engine)
    if key not in _baselines:
        _baselines[key] = run_capped(make_baseline(), ["300x300"], engine=engine)
    baseline = _baselines[key]
    assert baseline.peak_mib > 0, baseline.message

    result = run_capped(bomb, ["300x300"], engine=engine, address_space=3 * GIB // 2)
    assert result.outcome == "SourceTooLarge", result.message
    assert "progressive or multi-scan JPEG is decoded at full size" in result.message
    assert "MAX_SOURCE_PIXELS" in result.message
    assert result.peak_mib < 2 * baseline.peak_mib, (result, baseline)


def test_progressive_jpeg_counts_at_its_full_size() -> None:
    progressive = probe(bombs.progressive_jpeg((4000, 2000)), lim())
    baseline = probe(bombs.baseline_jpeg((4000, 2000)), lim())
    assert (progressive.full_decode, baseline.full_decode) == (True, False)
    assert progressive.decoded_size((100, 100)) == (4000, 2000)
    assert baseline.decoded_size((100, 100)) == (500, 250)  # drafted to 1/8
    assert baseline.decoded_size(None) == (500, 250)
    assert baseline.decoded_size((1000, 1000)) == (2000, 1000)  # 4000 // 1000 = 4 -> 1/2
    cap = lim(max_source_pixels=4000 * 2000 - 1)
    with pytest.raises(SourceTooLarge, match=r"4000x2000 = 8000000 pixels \(a progressive"):
        probe(bombs.progressive_jpeg((4000, 2000)), cap)
    assert probe(bombs.baseline_jpeg((4000, 2000)), cap, target=(300, 300)).width == 4000


def test_multiscan_baseline_jpeg_is_found_from_its_markers() -> None:
    data = bombs.multiscan_jpeg((3000, 2000))
    with Image.open(io.BytesIO(data)) as opened:
        # Pillow only flags SOF2 files: the first scan's component count tells this one.
        assert "progressive" not in opened.info
        assert "progression" not in opened.info
    assert probe(data, lim()).full_decode


def test_the_marker_walk_skips_junk_and_counts_unreadable_headers_in_full() -> None:
    data = bombs.baseline_jpeg((4000, 2000))
    at = data.index(b"\xff\xc0")
    junk = data[:at] + b"\x00junk" + data[at:]  # libjpeg: "extraneous bytes", then decodes
    assert not probe(junk, lim()).full_decode
    with Image.open(io.BytesIO(junk)) as opened:
        assert opened.size == (4000, 2000)
    # No scan header to read (cut after the frame header): counted at full size.
    cut = data[: data.index(b"\xff\xda")]
    assert probe(cut, lim()).full_decode


def test_a_real_progressive_jpeg_renders_on_both_engines() -> None:
    data = images.jpeg((640, 480), progressive=True)
    assert probe(data, lim()).full_decode
    for engine in ENGINES:
        assert [(r.width, r.height) for r in render(engine, data, "100x100")] == [(100, 75)]


# --- 2. the frame cap counts to cap + 1 -------------------------------------------------------


@pytest.fixture(scope="module")
def many_pages() -> bytes:
    return bombs.tiff_pages(100_000)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_100k_page_tiff_is_refused_at_once(many_pages: bytes, engine: str) -> None:
    # Before: Pillow's n_frames walked every page (with a list lookup each): 69 s.
    result = run_capped(many_pages, ["100x100"], engine=engine, timeout=30)
    assert result.outcome == "SourceTooLarge", result.message
    assert "301 frames or more; LIMITS['MAX_FRAMES'] is 300" in result.message
    assert result.seconds < 5


def test_tiff_pages_are_counted_to_the_cap_and_all_without_one(many_pages: bytes) -> None:
    with pytest.raises(SourceTooLarge, match="11 frames or more"):
        probe(many_pages, lim(max_frames=10))
    assert probe(many_pages, lim(max_frames=None)).frames == 100_000


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "TIFF"])
def test_frame_counts_agree_with_pillow(fmt: str) -> None:
    data = bombs.animated(fmt, 7)
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.n_frames == 7
    assert probe(data, lim()).frames == 7
    assert probe(data, lim(max_frames=7)).frames == 7
    with pytest.raises(SourceTooLarge, match=r"frames or more; LIMITS\['MAX_FRAMES'\] is 6"):
        probe(data, lim(max_frames=6))


def test_gif_frames_are_counted_without_decoding(no_decoding: list[str]) -> None:
    info = probe(bombs.animated("GIF", 40, (300, 200)), lim())
    assert (info.frames, no_decoding) == (40, [])


# --- 5. the frame cap on the vips engine ------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_max_frames_applies_to_animations_on_both_engines(engine: str, fmt: str) -> None:
    data = bombs.animated(fmt, 10)
    with pytest.raises(SourceTooLarge, match=r"LIMITS\['MAX_FRAMES'\] is 5"):
        render(engine, data, "10x10", MAX_FRAMES=5)
    assert [(r.width, r.height) for r in render(engine, data, "6x6", MAX_FRAMES=10)] == [(6, 5)]


# --- 3. corrupt TIFFs and unexpected plugin errors are source errors --------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_tiff_with_a_page_without_dimensions(engine: str) -> None:
    # Before: Pillow's frame counting parsed page 2 and raised TypeError("Missing dimensions").
    rendered = render(engine, bombs.tiff_pages(3, broken_page=1), "10x10")
    assert [(r.width, r.height) for r in rendered] == [(1, 1)]  # page 1 is fine
    with pytest.raises(SourceUnreadable, match="Missing dimensions"):
        render(engine, bombs.tiff_pages(3, broken_page=0), "10x10")


def test_a_plugin_error_outside_pillows_contract_is_a_source_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def load(image: Any) -> Any:
        raise TypeError("Missing dimensions")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    with pytest.raises(SourceUnreadable, match="cannot be decoded: Missing dimensions"):
        render("pillow", images.png((40, 30)), "10x10")


# --- 4. vips: decoding failures are source errors, encoder failures generation errors -------


VIPS_BROKEN = {
    "png-truncated-in-idat": bombs.truncated_png,
    "png-garbage-idat": bombs.corrupt_idat_png,
    "tiff-old-style-jpeg": bombs.old_jpeg_tiff,
}


@pytest.mark.parametrize("name", list(VIPS_BROKEN))
def test_vips_decode_failures_are_source_errors(name: str) -> None:
    # Before: raised at write_to_buffer and reported as GenerationError.
    with pytest.raises(SourceUnreadable, match="cannot be decoded"):
        render("vips", VIPS_BROKEN[name](), "100x100")
    with pytest.raises(SourceUnreadable):
        render("pillow", VIPS_BROKEN[name](), "100x100")


def test_vips_encoder_failures_stay_generation_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    pyvips = pytest.importorskip("pyvips")

    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise pyvips.Error("VipsForeignSaveJpegTarget: out of disc")

    monkeypatch.setattr(pyvips.Image, "write_to_buffer", broken)
    with pytest.raises(GenerationError, match="encode JPEG"):
        render("vips", images.jpeg((80, 60)), "40x40")


@pytest.mark.parametrize("engine", ENGINES)
def test_planar_tiff_renders_or_is_unreadable(engine: str) -> None:
    rendered = render(engine, bombs.planar_tiff(truncated=False), "100x100")
    assert [(r.width, r.height) for r in rendered] == [(100, 75)]


def test_vips_reads_nothing_before_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    pyvips = pytest.importorskip("pyvips")
    calls: list[str] = []
    original = pyvips.Image.new_from_buffer

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append("new_from_buffer")
        return original(*args, **kwargs)

    monkeypatch.setattr(pyvips.Image, "new_from_buffer", staticmethod(spy))
    with pytest.raises(SourceUnreadable, match="not an image in an allowed format"):
        render("vips", images.png((40, 30)), "10x10", FORMATS=["JPEG"])
    assert calls == []
    assert render("vips", images.png((40, 30)), "10x10")[0].format == "PNG"
    assert calls == ["new_from_buffer"]


@pytest.mark.parametrize("engine", ENGINES)
def test_hevc_heif_is_not_avif(engine: str) -> None:
    pyvips = pytest.importorskip("pyvips")
    avif = (pyvips.Image.black(64, 48, bands=3) + 100).heifsave_buffer(compression="av1")
    # Before, the vips engine took any file libheif reads for "AVIF".
    with pytest.raises(SourceUnreadable, match="not an image in an allowed format"):
        render(engine, bombs.heif_branded(avif), "10x10")
    if features.check("avif"):
        assert [(r.width, r.height) for r in render(engine, avif, "32x32")] == [(32, 24)]


# --- 6. a tall or wide source is clamped to the output caps -----------------------------------

TALL = [((1080, 6000), "1280"), ((100, 5000), "300"), ((5000, 100), "x300")]


@pytest.mark.parametrize(("size", "spec"), TALL, ids=["1080x6000", "100x5000", "5000x100"])
def test_a_source_whose_shape_exceeds_the_output_cap_is_clamped(
    size: tuple[int, int], spec: str
) -> None:
    data = images.png(size)
    made = {engine: render(engine, data, spec)[0] for engine in ENGINES}
    pillow, vips = made["pillow"], made["vips"]
    assert (pillow.width, pillow.height) == (vips.width, vips.height)
    width, height = pillow.width, pillow.height
    assert max(width, height) == 4096  # MAX_OUTPUT_SIDE, not the source's 5000 or 6000
    short, long = sorted((width, height))
    assert abs(short - long * min(size) / max(size)) < 1  # the source's aspect ratio
    for rendered in made.values():
        with Image.open(io.BytesIO(rendered.data)) as out:
            assert out.size == (width, height)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_output_pixel_cap_clamps_too(engine: str) -> None:
    # "3000" asks for the width only; the 3000x4000 source's shape makes 12 MP of it.
    rendered = render(engine, images.png((3000, 4000)), "3000", MAX_OUTPUT_PIXELS=1_000_000)[0]
    assert rendered.width * rendered.height <= 1_000_000
    assert rendered.width * rendered.height > 0.99 * 1_000_000
    assert abs(rendered.width - rendered.height * 0.75) < 1


@pytest.mark.parametrize("options", ["crop=center", "padding", "crop=smart"])
def test_clamped_crops_and_padding_are_the_same_on_both_engines(options: str) -> None:
    data = images.png((1080, 6000))
    spec = f"1280 {options}"
    sizes = {engine: render(engine, data, spec)[0] for engine in ENGINES}
    made = {(r.width, r.height) for r in sizes.values()}
    assert len(made) == 1
    ((width, height),) = made
    assert height == 4096
    # The plan below the caps (1080x6000, or padded to the 1280x7111 box), scaled down.
    ratio = 1280 / 7111 if options == "padding" else 1080 / 6000
    assert abs(width - height * ratio) < 1


def test_below_the_caps_nothing_is_clamped() -> None:
    for engine in ENGINES:
        rendered = render(engine, images.png((1080, 4000)), "1280")[0]
        assert (rendered.width, rendered.height) == (1080, 4000)  # sorl: no upscale, as is


def test_an_upscaled_wide_source_is_clamped_too() -> None:
    # "x3000 upscale" asks for a box within the caps; a 100x10 banner's shape makes it
    # 30000x3000, so the upload is to blame and the output is clamped like a tall screenshot's.
    for engine in ENGINES:
        rendered = render(engine, images.png((100, 10)), "x3000 upscale")[0]
        assert (rendered.width, rendered.height) == (4096, 409)


def test_a_spec_that_asks_for_too_much_still_raises() -> None:
    # A box over a cap is the spec's doing, whatever the source.
    with pytest.raises(OutputTooLarge, match="MAX_OUTPUT_SIDE"):
        render("pillow", images.png((100, 10)), "x5000 upscale")
    with pytest.raises(OutputTooLarge, match="MAX_OUTPUT_PIXELS"):
        render("vips", images.png((400, 300)), "200x200", MAX_OUTPUT_PIXELS=20_000)


@pytest.mark.django_db
def test_a_tall_upload_renders_through_get_thumbnail(fs_media: Any) -> None:
    source = ContentFile(images.png((1080, 6000)), name="screenshot.png")
    thumbnail = get_thumbnail(source, "1280")
    assert (thumbnail.width, thumbnail.height) == (737, 4096)


# --- 7. memory at the pixel cap -------------------------------------------------------------

# docs/security.md: on the Pillow engine no PNG costs more than 4.2 MiB per decoded megapixel
# at the 100 MP cap (measured with benchmarks/memory.py); fixed costs make it ~5.5 at 25 MP.
# Before the strip conversion, RGBA and 16-bit PNGs took 11.8 and 12.5 MiB per MP.
PNG_MIB_PER_MP = 7.0


@pytest.mark.parametrize("mode", ["RGBA", "I;16"])
def test_a_25_mp_png_stays_within_the_documented_multiple(mode: str) -> None:
    side = 5000
    data = images.encode(bombs.picture(side, mode), "PNG", compress_level=1)
    result = run_capped(data, ["300x300"], engine="pillow", address_space=3 * GIB // 2)
    assert result.outcome == "ok", result.message
    assert result.sizes == [[300, 300]]
    assert result.render_mib < PNG_MIB_PER_MP * side * side / 1e6, result


# --- probe's own contract ---------------------------------------------------------------------


def test_probe_reports_header_facts() -> None:
    data = images.jpeg((640, 480), exif=_exif(6))
    info = probe(data, lim())
    assert info == SourceInfo("JPEG", 640, 480, 6, 1, False)
    assert info.oriented_size == (480, 640)


def test_probe_refuses_bytes_formats_and_webp_canvases_before_opening() -> None:
    with pytest.raises(SourceTooLarge, match="MAX_SOURCE_BYTES"):
        probe(images.png((10, 10)), lim(max_source_bytes=10))
    with pytest.raises(SourceUnreadable, match="allowed format"):
        probe(images.png((10, 10)), lim(formats=("JPEG",)))
    # A WebP header claiming 16383x16383: Pillow's decoder would allocate two canvases.
    with pytest.raises(SourceTooLarge, match="16383x16383"):
        probe(bombs.webp_canvas((16383, 16383)), lim())


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()

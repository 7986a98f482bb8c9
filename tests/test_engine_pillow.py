"""The Pillow engine, checked on decoded pixels: orientation, colour, modes, formats, draft."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageOps, JpegImagePlugin

from tests import images
from thumbkit.conf import get_settings
from thumbkit.core.engines import Rendered
from thumbkit.core.engines import pillow as engine_module
from thumbkit.core.engines.pillow import PillowEngine
from thumbkit.core.spec import parse
from thumbkit.exceptions import SourceUnreadable

Color = tuple[int, ...]
RED, GREEN, BLUE, YELLOW, WHITE = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (255, 255, 255),
)


def render(data: bytes, text: str, **options: Any) -> tuple[Rendered, Image.Image]:
    out = PillowEngine().render(data, [parse(text, **options)], get_settings())[0]
    decoded = Image.open(io.BytesIO(out.data))
    decoded.load()
    assert decoded.size == (out.width, out.height)
    assert decoded.format == out.format
    return out, decoded


def close(actual: Color, expected: Color, tolerance: int = 24) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def quadrants(size: tuple[int, int]) -> Image.Image:
    """Red, green / blue, yellow: each corner has its own colour."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for (x, y), color in zip(
        [(0, 0), (1, 0), (0, 1), (1, 1)], [RED, GREEN, BLUE, YELLOW], strict=True
    ):
        box = (x * width // 2, y * height // 2, (x + 1) * width // 2 - 1, (y + 1) * height // 2 - 1)
        draw.rectangle(box, fill=color)
    return image


def with_exif(image: Image.Image, orientation: int, **options: Any) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return images.encode(image, "JPEG", quality=95, exif=exif.tobytes(), **options)


# How to store a picture so that a viewer honouring EXIF orientation N shows it upright
# (EXIF 2.3, tag 0x0112): 6 means "rotate 90 degrees clockwise to view", so the stored
# pixels are the picture turned 90 degrees counter-clockwise, and so on.
T = Image.Transpose
STORE_AS: dict[int, T | None] = {
    1: None,
    2: T.FLIP_LEFT_RIGHT,
    3: T.ROTATE_180,
    4: T.FLIP_TOP_BOTTOM,
    5: T.TRANSPOSE,
    6: T.ROTATE_90,
    7: T.TRANSVERSE,
    8: T.ROTATE_270,
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    picture = quadrants((80, 40))
    method = STORE_AS[orientation]
    stored = picture if method is None else picture.transpose(method)
    _out, image = render(with_exif(stored, orientation), "40x40")
    assert image.size == (40, 20)
    samples = [image.getpixel(p) for p in [(10, 5), (30, 5), (10, 15), (30, 15)]]
    expected = [RED, GREEN, BLUE, YELLOW]
    assert all(close(s, e, 40) for s, e in zip(samples, expected, strict=True)), samples
    # The tag is applied, not copied: a viewer must not rotate the thumbnail again.
    assert image.getexif().get(0x0112) in (None, 1)


def late_exif_png(image: Image.Image, orientation: int) -> bytes:
    """A PNG whose eXIf chunk comes after the pixel data (allowed, and seen in the wild)."""
    data = images.encode(image, "PNG")
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()
    if payload.startswith(b"Exif\x00\x00"):
        payload = payload[6:]  # the PNG chunk holds the TIFF structure alone
    body = b"eXIf" + payload
    chunk = struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk + data[end:]


@pytest.mark.parametrize("late", [False, True], ids=["eXIf-before-IDAT", "eXIf-after-IDAT"])
def test_png_exif_orientation(late: bool) -> None:
    picture = quadrants((80, 40))
    stored = picture.transpose(T.ROTATE_90)
    if late:
        data = late_exif_png(stored, 6)
        with Image.open(io.BytesIO(data)) as check:
            assert "exif" not in check.info  # only found once the pixels are read
    else:
        exif = Image.Exif()
        exif[0x0112] = 6
        data = images.encode(stored, "PNG", exif=exif.tobytes())
    _out, image = render(data, "40x40")
    assert image.size == (40, 20)
    samples = [image.getpixel(p) for p in [(10, 5), (30, 5), (10, 15), (30, 15)]]
    assert all(close(s, e, 40) for s, e in zip(samples, [RED, GREEN, BLUE, YELLOW], strict=True))


# --- colour ----------------------------------------------------------------------------------


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def cmyk_profile(inks: dict[tuple[int, int, int, int], Color]) -> bytes:
    """A minimal ICC v2 CMYK printer profile whose A2B0 table sends each ink corner
    (C, M, Y, K in {0, 1}) to the given sRGB colour; unlisted corners are black."""
    order = [(c, m, y, k) for c in (0, 1) for m in (0, 1) for y in (0, 1) for k in (0, 1)]
    rgb = Image.new("RGB", (16, 1))
    rgb.putdata([inks.get(corner, (0, 0, 0)) for corner in order])  # type: ignore[arg-type]
    lab = ImageCms.profileToProfile(
        rgb, ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), outputMode="LAB"
    )
    assert lab is not None
    # Pillow keeps a* and b* as signed bytes; an ICC lut8 table stores them offset by 128.
    clut = bytes(v if i % 3 == 0 else v ^ 0x80 for i, v in enumerate(lab.tobytes()))
    ramp = bytes(range(256))
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + identity + ramp * 4 + clut + ramp * 3
    text = b"thumbkit test CMYK\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(78)
    d50 = _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", desc), (b"wtpt", b"XYZ " + bytes(4) + d50), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">II", offset + len(body), 0)
        + struct.pack(">I", 0x02100000)
        + b"prtrCMYKLab "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + d50
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


# A realistic press cyan is far from the naive (0, 255, 255).
PRESS_CYAN = (0, 160, 224)


def cmyk_jpeg(ink: Color, icc: bytes | None) -> bytes:
    image = Image.new("CMYK", (64, 64), (0, 0, 0, 0))
    image.paste(ink, (0, 0, 32, 64))  # type: ignore[arg-type]
    return images.encode(image, "JPEG", quality=95, **({"icc_profile": icc} if icc else {}))


def test_cmyk_jpeg_without_profile() -> None:
    out, image = render(cmyk_jpeg((255, 0, 0, 0), None), "32x32")
    assert image.mode == "RGB"
    assert out.format == "JPEG"
    assert close(image.getpixel((4, 16)), (0, 255, 255))
    assert close(image.getpixel((28, 16)), WHITE)
    assert "icc_profile" not in image.info


def test_cmyk_jpeg_with_profile_uses_it() -> None:
    profile = cmyk_profile({(0, 0, 0, 0): WHITE, (1, 0, 0, 0): PRESS_CYAN})
    _out, image = render(cmyk_jpeg((255, 0, 0, 0), profile), "32x32")
    assert image.mode == "RGB"
    assert close(image.getpixel((4, 16)), PRESS_CYAN)
    assert close(image.getpixel((28, 16)), WHITE)
    # The CMYK profile is gone: it cannot describe RGB pixels.
    assert image.info.get("icc_profile") != profile


def test_cmyk_jpeg_with_broken_profile_falls_back() -> None:
    _out, image = render(cmyk_jpeg((255, 0, 0, 0), b"not a profile at all" * 10), "32x32")
    assert close(image.getpixel((4, 16)), (0, 255, 255))


@pytest.mark.parametrize(
    ("value", "grey"), [(0x8000, 128), (0xFFFF, 255), (0x0000, 0), (0x4000, 64)]
)
def test_16_bit_greyscale_png_scales_to_8_bit(value: int, grey: int) -> None:
    source = Image.new("I;16", (40, 40), value)
    data = images.encode(source, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out, image = render(data, "20x20")
    assert out.format == "PNG"
    assert image.mode == "L"
    assert abs(image.getpixel((10, 10)) - grey) <= 1  # type: ignore[operator]


def palette_png() -> bytes:
    """Left half transparent (index 0), right half opaque blue (index 1): P + tRNS."""
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    image.paste(1, (20, 0, 40, 40))
    data = images.encode(image, "PNG", transparency=0)
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "P"
        assert "transparency" in check.info
    return data


def test_palette_png_keeps_transparency_as_png() -> None:
    out, image = render(palette_png(), "20x20")
    assert out.format == "PNG"
    assert image.mode == "RGBA"
    assert image.getpixel((3, 10))[3] == 0  # type: ignore[index]
    assert close(image.getpixel((16, 10)), (*BLUE, 255))


@pytest.mark.parametrize(
    ("background", "expected"), [(None, WHITE), ("#ff0000", RED), ("#0f0", GREEN)]
)
def test_palette_png_to_jpeg_flattens(background: str | None, expected: Color) -> None:
    out, image = render(palette_png(), "20x20", format="jpg", background=background)
    assert out.format == "JPEG"
    assert image.mode == "RGB"
    assert close(image.getpixel((3, 10)), expected)
    assert close(image.getpixel((16, 10)), BLUE)


def la_png() -> bytes:
    image = Image.new("LA", (40, 40), (0, 0))
    image.paste((100, 255), (20, 0, 40, 40))
    return images.encode(image, "PNG")


def test_la_source_keeps_alpha_as_png() -> None:
    out, image = render(la_png(), "20x20")
    assert out.format == "PNG"
    assert image.mode == "LA"
    assert image.getpixel((3, 10))[1] == 0  # type: ignore[index]
    assert close(image.getpixel((16, 10)), (100, 255), 2)


def test_la_source_to_jpeg_lands_on_white() -> None:
    _out, image = render(la_png(), "20x20", format="jpeg")
    assert image.mode == "L"
    assert close((image.getpixel((3, 10)),), (255,), 4)  # type: ignore[arg-type]
    assert close((image.getpixel((16, 10)),), (100,), 4)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_rgba_png_with_half_transparency(fmt: str) -> None:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (20, 0, 40, 40))
    _out, result = render(images.encode(image, "PNG"), "20x20", format=fmt, quality=95)
    if fmt == "JPEG":
        assert result.mode == "RGB"
        assert close(result.getpixel((3, 10)), WHITE)  # not black: flattened onto white
    else:
        assert result.mode == "RGBA"
        assert result.getpixel((3, 10))[3] == 0  # type: ignore[index]
    assert close(result.getpixel((16, 10))[:3], RED)  # type: ignore[index]


def test_grey_colorspace() -> None:
    _out, image = render(images.jpeg((80, 60)), "40x40", colorspace="GRAY")
    assert image.mode == "L"


# --- ICC profiles and formats ------------------------------------------------------------------

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_icc_profile_is_kept(fmt: str) -> None:
    data = images.encode(images.make_image((80, 60)), "JPEG", icc_profile=SRGB)
    _out, image = render(data, "40x40", format=fmt)
    assert image.info.get("icc_profile") == SRGB


def test_no_profile_in_no_profile_out() -> None:
    _out, image = render(images.jpeg((80, 60)), "40x40")
    assert "icc_profile" not in image.info


@pytest.mark.parametrize(
    ("fmt", "mode", "expected"),
    [
        ("JPEG", "RGB", "JPEG"),
        ("PNG", "RGB", "PNG"),
        ("PNG", "RGBA", "PNG"),
        ("GIF", "P", "GIF"),
        ("WEBP", "RGB", "WEBP"),
        ("WEBP", "RGBA", "WEBP"),
        ("TIFF", "RGB", "JPEG"),
        ("TIFF", "RGBA", "PNG"),
        ("TIFF", "CMYK", "JPEG"),
        ("BMP", "RGB", "JPEG"),
        ("BMP", "L", "JPEG"),
    ],
)
def test_default_output_format(fmt: str, mode: str, expected: str) -> None:
    data = images.encode(images.make_image((60, 40), mode), fmt)
    out, image = render(data, "30x30")
    assert (out.format, image.size) == (expected, (30, 20))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF", "GIF"])
def test_every_output_format_decodes(fmt: str) -> None:
    out, image = render(images.jpeg((80, 60)), "40x40", format=fmt)
    assert (out.format, image.size) == (fmt, (40, 30))


def test_jpeg_options_progressive_and_quality() -> None:
    source = images.png((200, 150))
    default, image = render(source, "100x100", format="jpeg")
    assert image.info.get("progressive") or image.info.get("progression")
    _baseline, image = render(source, "100x100", format="jpeg", progressive=False)
    assert not (image.info.get("progressive"))
    assert not (image.info.get("progression"))
    low, _ = render(source, "100x100", format="jpeg", quality=5)
    high, _ = render(source, "100x100", format="jpeg", quality=100)
    assert len(low.data) < len(default.data) < len(high.data)


def test_webp_and_avif_quality_are_used() -> None:
    source = images.png((200, 150))
    for fmt in ("webp", "avif"):
        low, _ = render(source, "100x100", format=fmt, quality=5)
        high, _ = render(source, "100x100", format=fmt, quality=95)
        assert len(low.data) < len(high.data), fmt


def test_save_options_come_from_the_formats_table(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    modes, original = engine_module.FORMATS["JPEG"]

    def spy(*args: Any) -> dict[str, Any]:
        options = original(*args)
        seen.append(options)
        return {**options, "quality": 1}

    monkeypatch.setitem(engine_module.FORMATS, "JPEG", (modes, spy))
    source = images.png((200, 150))
    forced, _ = render(source, "100x100", format="jpeg", quality=95)
    monkeypatch.undo()
    normal, _ = render(source, "100x100", format="jpeg", quality=1)
    assert seen
    assert seen[0]["quality"] == 95
    assert seen[0]["progressive"] is True
    assert forced.data == normal.data  # the table's answer is what was saved


# --- crops, padding, smart ---------------------------------------------------------------------


def halves(size: tuple[int, int], first: Color, second: Color, vertical: bool = True) -> bytes:
    image = Image.new("RGB", size, first)  # type: ignore[arg-type]
    w, h = size
    image.paste(second, (w // 2, 0, w, h) if vertical else (0, h // 2, w, h))  # type: ignore[arg-type]
    return images.encode(image, "PNG")


@pytest.mark.parametrize(
    ("crop", "color"),
    [("left", RED), ("right", BLUE), ("0% 50%", RED), ("100% 50%", BLUE), ("150px 0px", BLUE)],
)
def test_crop_positions_on_pixels(crop: str, color: Color) -> None:
    _out, image = render(halves((200, 100), RED, BLUE), "100x100", crop=crop)
    assert image.size == (100, 100)
    assert close(image.getpixel((50, 50)), color)


@pytest.mark.parametrize(("crop", "color"), [("top", RED), ("bottom", BLUE), ("0px 10px", RED)])
def test_vertical_crop_positions(crop: str, color: Color) -> None:
    _out, image = render(halves((100, 200), RED, BLUE, vertical=False), "100x100", crop=crop)
    assert close(image.getpixel((50, 50)), color)


def test_smart_crop_keeps_the_busy_part() -> None:
    image = Image.new("RGB", (300, 100), (128, 128, 128))
    busy = images.make_image((100, 100))
    image.paste(busy, (200, 0))
    _out, result = render(images.encode(image, "PNG"), "100x100", crop="smart")
    assert result.size == (100, 100)
    assert result.convert("L").getextrema()[1] - result.convert("L").getextrema()[0] > 100


def test_padding_fills_with_the_padding_color() -> None:
    _out, image = render(
        images.png((200, 100), "RGB"), "100x100", padding=True, padding_color="#00ff00"
    )
    assert image.size == (100, 100)
    assert close(image.getpixel((50, 5)), GREEN)  # band above the 100x50 picture
    assert close(image.getpixel((50, 95)), GREEN)


def test_one_read_many_specs() -> None:
    specs = [parse("10x10"), parse("50x50 crop"), parse("x20 format=png")]
    out = PillowEngine().render(images.jpeg((400, 300)), specs, get_settings())
    assert [(o.width, o.height, o.format) for o in out] == [
        (10, 8, "JPEG"),
        (50, 50, "JPEG"),
        (27, 20, "PNG"),
    ]


# --- JPEG draft --------------------------------------------------------------------------------


class DecodeSpy:
    """Records what the engine asks Pillow to do, in order (observation only)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, Any]] = []
        draft = JpegImagePlugin.JpegImageFile.draft
        transpose = ImageOps.exif_transpose

        def spy_draft(image: Any, mode: Any, size: Any) -> Any:
            result = draft(image, mode, size)
            self.events.append(("draft", (size, image.size)))
            return result

        def spy_transpose(image: Any, **kwargs: Any) -> Any:
            self.events.append(("transpose", image.size))
            return transpose(image, **kwargs)

        monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy_draft)
        monkeypatch.setattr(ImageOps, "exif_transpose", spy_transpose)


def test_jpeg_is_decoded_at_reduced_dct_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = DecodeSpy(monkeypatch)
    _out, image = render(images.jpeg((1600, 1200)), "100x100")
    assert image.size == (100, 75)
    # 1600x1200 for a 100x75 thumbnail: the 1/8 DCT scale, decoded at 200x150.
    assert spy.events == [("draft", ((100, 75), (200, 150))), ("transpose", (200, 150))]


def test_draft_covers_the_largest_of_several_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = DecodeSpy(monkeypatch)
    specs = [parse("100x100"), parse("700x700"), parse("50x50 crop")]
    out = PillowEngine().render(images.jpeg((1600, 1200)), specs, get_settings())
    assert [(o.width, o.height) for o in out] == [(100, 75), (700, 525), (50, 50)]
    assert spy.events[0] == ("draft", ((700, 525), (800, 600)))  # 1/2: enough for 700x525


def test_draft_comes_before_exif_orientation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stored 400x1600, shown 1600x400 (EXIF 8). For an 800 px wide thumbnail the decoder must
    # be asked for 200x800 in stored pixels; asking for the shown 800x200 would decode in full.
    spy = DecodeSpy(monkeypatch)
    stored = quadrants((1600, 400)).transpose(STORE_AS[8])  # type: ignore[arg-type]
    _out, image = render(with_exif(stored, 8), "800")
    assert image.size == (800, 200)
    assert spy.events == [("draft", ((200, 800), (200, 800))), ("transpose", (200, 800))]
    assert close(image.getpixel((100, 50)), RED, 40)
    assert close(image.getpixel((700, 150)), YELLOW, 40)


def test_portrait_exif_6_gets_the_right_size_after_draft(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = DecodeSpy(monkeypatch)
    stored = quadrants((300, 1200)).transpose(STORE_AS[6])  # type: ignore[arg-type]
    _out, image = render(with_exif(stored, 6), "x100")
    assert image.size == (25, 100)
    draft = spy.events[0]
    assert draft[0] == "draft"
    assert draft[1][1] == (150, 38)
    assert close(image.getpixel((5, 5)), RED, 40)


def test_no_draft_when_upscaling(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = DecodeSpy(monkeypatch)
    _out, image = render(images.jpeg((100, 75)), "400x400 upscale")
    assert image.size == (400, 300)
    assert spy.events[0] == ("draft", ((400, 300), (100, 75)))  # full scale


def test_draft_is_not_used_for_png(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = DecodeSpy(monkeypatch)
    render(images.png((1600, 1200)), "100x100")
    assert [e[0] for e in spy.events] == ["transpose"]


def test_undecodable_source_maps_to_thumbkit_error() -> None:
    with pytest.raises(SourceUnreadable):
        render(b"GIF89a" + b"\x00" * 10, "10x10")


@pytest.mark.parametrize("engine", ["pillow", "vips"])
@pytest.mark.parametrize(
    ("colorspace", "mode_in", "mode_out"), [("RGB", "L", "RGB"), ("GRAY", "RGB", "L")]
)
def test_colorspace_converts_both_ways(
    engine: str, colorspace: str, mode_in: str, mode_out: str
) -> None:
    from thumbkit.core.engines import engine_class

    source = images.encode(images.make_image((80, 60), mode_in), "PNG")
    spec = parse("40x30", colorspace=colorspace)
    out = engine_class(engine)().render(source, [spec], get_settings())[0]
    assert Image.open(io.BytesIO(out.data)).mode == mode_out

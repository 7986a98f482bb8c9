"""Animated GIF, WebP and APNG sources stay animated on both engines, within LIMITS."""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageSequence

from tests import memcap
from tests.conftest import thumbkit_settings
from tests.s3 import Media
from thumbkit import get_thumbnail
from thumbkit.conf import get_settings
from thumbkit.core.engines import Rendered, engine_class
from thumbkit.core.spec import parse
from thumbkit.exceptions import InvalidSpec, SourceTooLarge
from thumbkit.lookup.batch import FAILED_SPEC
from thumbkit.models import GenerationLock, ThumbnailRecord

ENGINES = ["pillow", "vips"]
SIZE = (120, 90)


def colour(i: int) -> tuple[int, int, int]:
    """Frame ``i``'s colour: far from its neighbours, so no two frames are alike."""
    return (i * 67 % 256, i * 139 % 256, (i * 31 + 90) % 256)


def durations(count: int) -> list[int]:
    return [20 + (i % 5) * 10 for i in range(count)]  # multiples of 10: GIF keeps centiseconds


def animation(fmt: str, count: int, size: tuple[int, int] = SIZE, **options: Any) -> bytes:
    """``count`` frames, each a plain colour with a white square that moves."""
    shots = []
    for i in range(count):
        shot = Image.new("RGB", size, colour(i))
        shot.paste((255, 255, 255), (i % 10 * 4, 0, i % 10 * 4 + 8, 8))
        shots.append(shot)
    buffer = io.BytesIO()
    options = {"duration": durations(count), "loop": 0, **options}
    if fmt == "WEBP":
        options["lossless"] = True
    shots[0].save(buffer, fmt, save_all=True, append_images=shots[1:], **options)
    return buffer.getvalue()


def render(engine: str, data: bytes, *texts: str, **options: Any) -> list[Rendered]:
    specs = [parse(text, **options) for text in texts]
    return engine_class(engine)().render(data, specs, get_settings())


def frames_of(out: Rendered) -> list[Image.Image]:
    image = Image.open(io.BytesIO(out.data))
    assert image.format == out.format
    shots = []
    for shot in ImageSequence.Iterator(image):
        shot.load()
        assert shot.size == (out.width, out.height)  # every frame, not only the first
        shots.append(shot.convert("RGB"))
    return shots


def info_of(out: Rendered) -> list[dict[str, Any]]:
    image = Image.open(io.BytesIO(out.data))
    found = []
    for shot in ImageSequence.Iterator(image):
        shot.load()
        found.append({**shot.info, "disposal_method": getattr(shot, "disposal_method", None)})
    return found


def near(actual: Sequence[int], expected: Sequence[int], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


def assert_frames_follow_the_source(shots: list[Image.Image], count: int) -> None:
    """Frame i of the output shows frame i of the source (its colour, away from the square)."""
    assert len(shots) == count
    for i, shot in enumerate(shots):
        pixel = shot.getpixel((shot.width - 2, shot.height - 2))
        assert isinstance(pixel, tuple)
        assert near(pixel, colour(i)), (i, pixel, colour(i))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_60_frame_gif_stays_animated(engine: str) -> None:
    data = animation("GIF", 60, loop=2)  # NETSCAPE 2: three plays
    fitted, cropped = render(engine, data, "80x80", "50x50 crop")
    assert (fitted.format, fitted.width, fitted.height) == ("GIF", 80, 60)  # sorl's size
    assert (cropped.width, cropped.height) == (50, 50)
    for out in (fitted, cropped):
        assert_frames_follow_the_source(frames_of(out), 60)
        found = info_of(out)
        assert [f["duration"] for f in found] == durations(60)
        assert {f["loop"] for f in found} == {2}


@pytest.mark.parametrize("engine", ENGINES)
def test_an_animated_webp_stays_animated(engine: str) -> None:
    data = animation("WEBP", 60, loop=5)
    (out,) = render(engine, data, "60x60")
    assert (out.format, out.width, out.height) == ("WEBP", 60, 45)
    assert_frames_follow_the_source(frames_of(out), 60)
    found = info_of(out)
    assert [f["duration"] for f in found] == durations(60)
    assert found[0]["loop"] == 5


@pytest.mark.parametrize("engine", ENGINES)
def test_an_apng_stays_animated(engine: str) -> None:
    # libvips reads no APNG: the vips engine hands it to Pillow, with the same result.
    data = animation("PNG", 12, loop=3, disposal=[0, 1] * 6)
    (out,) = render(engine, data, "60x60")
    assert (out.format, out.width, out.height) == ("PNG", 60, 45)
    assert_frames_follow_the_source(frames_of(out), 12)
    found = info_of(out)
    assert [round(f["duration"]) for f in found] == durations(12)
    assert [f["disposal"] for f in found] == [0, 1] * 6
    assert found[0]["loop"] == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_webp_asked_for_is_an_animated_webp(engine: str) -> None:
    gif = animation("GIF", 10, loop=2)  # three plays
    (out,) = render(engine, gif, "60x60", format="webp")
    assert (out.format, out.width, out.height) == ("WEBP", 60, 45)
    assert_frames_follow_the_source(frames_of(out), 10)
    found = info_of(out)
    assert [f["duration"] for f in found] == durations(10)
    assert found[0]["loop"] == 3  # WebP counts plays: GIF's NETSCAPE 2 plays three times


@pytest.mark.parametrize("engine", ENGINES)
def test_a_gif_that_plays_once_plays_once(engine: str) -> None:
    shots = [Image.new("RGB", (40, 30), colour(i)) for i in range(4)]
    buffer = io.BytesIO()
    shots[0].save(buffer, "GIF", save_all=True, append_images=shots[1:], duration=50)
    gif, webp = render(engine, buffer.getvalue(), "20x20", "20x20 format=webp")
    assert "loop" not in info_of(gif)[0]  # no NETSCAPE block, as in the source
    assert info_of(webp)[0]["loop"] == 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("how", ["string", "keyword", "jpeg"])
def test_the_first_frame_only(engine: str, how: str) -> None:
    data = animation("GIF", 8)
    text, options = {
        "string": ("60x60 animated=false", {}),
        "keyword": ("60x60", {"animated": False}),
        "jpeg": ("60x60 format=jpeg", {}),  # JPEG holds one frame
    }[how]
    (out,) = render(engine, data, text, **options)
    assert (out.width, out.height) == (60, 45)
    shots = frames_of(out)
    assert len(shots) == 1
    assert near(shots[0].getpixel((58, 43)), colour(0))  # type: ignore[arg-type]


def test_animated_is_in_the_key_only_when_false() -> None:
    assert parse("100x100 crop").canonical == "100x100 crop=50%,50%"
    assert parse("100x100 crop animated=true").canonical == "100x100 crop=50%,50%"
    assert parse("100x100", animated=False).canonical == "100x100 animated=false"
    assert parse("100x100 animated=no") == parse("100x100", animated=False)
    with pytest.raises(InvalidSpec, match="animated"):
        parse("100x100 animated=sometimes")


@pytest.mark.parametrize("engine", ENGINES)
def test_smart_crop_keeps_one_box_for_every_frame(engine: str) -> None:
    data = animation("GIF", 6, size=(160, 60))
    (out,) = render(engine, data, "40x40", crop="smart")
    shots = frames_of(out)
    assert (out.width, out.height) == (40, 40)
    assert len(shots) == 6


@pytest.mark.parametrize("engine", ENGINES)
def test_padding_applies_to_every_frame(engine: str) -> None:
    data = animation("GIF", 5)
    (out,) = render(engine, data, "60x60 padding padding_color=#ff0000")
    shots = frames_of(out)
    assert (out.width, out.height) == (60, 60)
    assert all(near(shot.getpixel((30, 1)), (255, 0, 0)) for shot in shots)  # type: ignore[arg-type]
    assert_frames_follow_the_source([s.crop((0, 7, 60, 52)) for s in shots], 5)


@pytest.mark.parametrize("engine", ENGINES)
def test_processors_run_on_every_frame(engine: str) -> None:
    # The vips engine hands specs with processors to Pillow: the same frames either way.
    from thumbkit.processors import ResizeToFill

    (out,) = render(engine, animation("GIF", 7), "original", processors=[ResizeToFill(50, 40)])
    assert (out.format, out.width, out.height) == ("GIF", 50, 40)
    assert_frames_follow_the_source(frames_of(out), 7)
    assert [f["duration"] for f in info_of(out)] == durations(7)


def transparent_gif(count: int) -> bytes:
    """A square that moves over a transparent canvas, each frame disposed to background."""
    shots = []
    for i in range(count):
        shot = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
        shot.paste((*colour(i), 255), (i * 10, 10, i * 10 + 20, 30))
        shots.append(shot)
    buffer = io.BytesIO()
    shots[0].save(
        buffer, "GIF", save_all=True, append_images=shots[1:], duration=40, disposal=2, loop=0
    )
    return buffer.getvalue()


def test_disposal_and_transparency_are_kept() -> None:
    (out,) = render("pillow", transparent_gif(4), "30x20")
    assert [f["disposal_method"] for f in info_of(out)] == [2, 2, 2, 2]
    image = Image.open(io.BytesIO(out.data))
    for i, shot in enumerate(ImageSequence.Iterator(image)):
        rgba = shot.convert("RGBA")
        inside, left_of = rgba.getpixel((i * 5 + 5, 10)), rgba.getpixel((i * 5 - 3, 10))
        assert isinstance(inside, tuple)
        assert isinstance(left_of, tuple)
        assert near(inside, (*colour(i), 255)), (i, inside)
        if i:  # where the square was a frame ago is transparent again
            assert left_of[3] == 0, (i, left_of)


@pytest.mark.parametrize("engine", ENGINES)
def test_transparent_frames_stay_transparent(engine: str) -> None:
    (out,) = render(engine, transparent_gif(4), "30x20", format="webp")
    shots = Image.open(io.BytesIO(out.data))
    for i, shot in enumerate(ImageSequence.Iterator(shots)):
        rgba = shot.convert("RGBA")
        corner = rgba.getpixel((29, 1))
        assert isinstance(corner, tuple)
        assert corner[3] == 0  # clear where no square ever was
        assert near(rgba.getpixel((i * 5 + 5, 10)), (*colour(i), 255))  # type: ignore[arg-type]


# --- refusals ------------------------------------------------------------------------------


def gif(
    screen: tuple[int, int],
    count: int,
    pixels: Sequence[int] | None = None,
    delays: Sequence[int] | None = None,
) -> bytes:
    """A GIF of ``count`` 1x1 frames on a ``screen``-sized canvas, written by hand: a few
    bytes a frame however large the canvas every frame is decoded onto. ``pixels``: each
    frame's colour (0 black, 1 white); ``delays``: each frame's, in centiseconds (4)."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    frames = []
    for i in range(count):
        delay = delays[i] if delays else 4
        # LZW minimum code size 2, then clear, the pixel's index, end: 3 bits each.
        codes = 4 | (pixels[i] if pixels else 0) << 3 | 5 << 6
        frames.append(
            b"\x21\xf9\x04\x00"
            + struct.pack("<H", delay)
            + b"\x00\x00"  # graphic control
            + b"\x2c"
            + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
            + b"\x02\x02"
            + struct.pack("<H", codes)
            + b"\x00"
        )
    return header + loop + b"".join(frames) + b"\x3b"


@pytest.fixture
def vips_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The libvips loaders a test ran (observes pyvips' two entry points the engine uses)."""
    import pyvips

    seen: list[str] = []
    for name in ("new_from_buffer", "thumbnail_buffer"):
        original = getattr(pyvips.Image, name)

        def observed(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            seen.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(pyvips.Image, name, observed)
    return seen


def test_the_hand_written_gif_is_a_real_animation() -> None:
    image = Image.open(io.BytesIO(gif((30, 20), 7)))
    assert (image.size, image.n_frames) == ((30, 20), 7)


@pytest.mark.parametrize("engine", ENGINES)
def test_5000_frames_are_refused_before_decoding(
    engine: str, no_decoding: list[str], vips_reads: list[str]
) -> None:
    data = gif((100, 100), 5000)
    with pytest.raises(SourceTooLarge, match=r"301 frames or more; LIMITS\['MAX_FRAMES'\] is 300"):
        render(engine, data, "50x50")
    assert (no_decoding, vips_reads) == ([], [])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_frames_times_pixels_bomb_is_refused_before_decoding(
    engine: str, no_decoding: list[str], vips_reads: list[str]
) -> None:
    # 40 frames on a 3000x3000 canvas: 9 MP a frame is well under MAX_SOURCE_PIXELS, but the
    # decoder would composite 360 MP, over the 300 MP default budget.
    data = gif((3000, 3000), 40)
    assert len(data) < 1000
    with pytest.raises(SourceTooLarge) as info:
        render(engine, data, "100x100")
    assert str(info.value) == (
        "The animation decodes to 40 frames of 3000x3000 = 360000000 pixels; "
        "LIMITS['MAX_ANIMATION_PIXELS'] is 300000000 (1.20 times the cap)."
    )
    assert (no_decoding, vips_reads) == ([], [])


@pytest.mark.parametrize("engine", ENGINES)
def test_the_budget_counts_the_outputs_too(engine: str) -> None:
    data = animation("GIF", 20, size=(100, 100))  # 200,000 pixels decoded
    with thumbkit_settings(LIMITS={"MAX_ANIMATION_PIXELS": 1_000_000}):
        (small,) = render(engine, data, "100x100")
        assert len(frames_of(small)) == 20
        with pytest.raises(SourceTooLarge, match=r"would make 20 frames of 400x400"):
            render(engine, data, "400x400 upscale")  # 3.2 MP of output frames
        (first,) = render(engine, data, "400x400 upscale animated=false")
        assert len(frames_of(first)) == 1  # one frame is no animation: no budget


@pytest.mark.parametrize("engine", ENGINES)
def test_the_first_frame_of_a_bomb_needs_no_budget(engine: str) -> None:
    (out,) = render(engine, gif((3000, 3000), 40), "30x30 animated=false")
    assert len(frames_of(out)) == 1
    # libnsgif takes a canvas this much larger than its 1x1 frames for a broken header
    # and reads it as 1x1; Pillow composites onto the whole 3000x3000 canvas.
    assert (out.width, out.height) == ((30, 30) if engine == "pillow" else (1, 1))


def test_no_budget_when_none() -> None:
    data = animation("GIF", 6)
    over = pytest.raises(SourceTooLarge, match="MAX_ANIMATION_PIXELS")
    with thumbkit_settings(LIMITS={"MAX_ANIMATION_PIXELS": 10}), over:
        render("pillow", data, "20x20")
    with thumbkit_settings(LIMITS={"MAX_ANIMATION_PIXELS": None}):
        assert len(frames_of(render("pillow", data, "20x20")[0])) == 6


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bomb", ["frames", "pixels"])
def test_a_refused_animation_leaves_nothing(engine: str, bomb: str, fs_media: Media) -> None:
    data = gif((100, 100), 5000) if bomb == "frames" else gif((3000, 3000), 40)
    refused = pytest.raises(SourceTooLarge, match="MAX_FRAMES" if bomb == "frames" else "MAX_ANI")
    with thumbkit_settings(ENGINE=engine), refused:
        get_thumbnail(ContentFile(data, name="bomb.gif"), "100x100")
    assert fs_media.files() == []
    assert ThumbnailRecord.objects.exclude(spec=FAILED_SPEC).count() == 0
    assert GenerationLock.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES)
def test_get_thumbnail_stores_the_animation(engine: str, fs_media: Media) -> None:
    with thumbkit_settings(ENGINE=engine):
        thumb = get_thumbnail(ContentFile(animation("GIF", 9), name="a.gif"), "60x60 crop")
    assert (thumb.width, thumb.height, thumb.name.endswith(".gif")) == (60, 60, True)
    with Image.open(fs_media.root / thumb.name) as stored:
        assert (stored.n_frames, stored.size) == (9, (60, 60))


# --- memory ---------------------------------------------------------------------------------


def test_memory_stays_bounded() -> None:
    """One child renders a 60-frame 480x360 GIF, another is handed the bomb, both under a
    1 GiB address space: the animation costs a few canvases, the bomb nothing."""
    data = animation("GIF", 60, size=(480, 360))
    made = memcap.run_capped(data, ["200x200", "100x100 crop"], address_space=1024**3)
    assert made.outcome == "ok", made.message
    assert made.sizes == [[200, 150], [100, 100]]
    assert made.render_mib < 60, made
    refused = memcap.run_capped(gif((3000, 3000), 40), ["100x100"], address_space=1024**3)
    assert refused.outcome == "SourceTooLarge", refused.message
    assert refused.render_mib < 5, refused


@pytest.mark.parametrize("engine", ENGINES)
def test_identical_frames_make_one_with_their_durations(engine: str) -> None:
    # Written by hand: Pillow's own writer would merge the repeats before the engine sees them.
    data = gif((1, 1), 5, pixels=[0, 0, 1, 1, 1], delays=[2, 3, 4, 5, 6])
    assert Image.open(io.BytesIO(data)).n_frames == 5
    (out,) = render(engine, data, "10x10")
    assert [f["duration"] for f in info_of(out)] == [50, 150]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_animation_of_one_picture_is_a_still_image(engine: str) -> None:
    with thumbkit_settings(LIMITS={"MAX_ANIMATION_PIXELS": None}):
        (out,) = render(engine, gif((300, 300), 40), "100x100")
    assert len(frames_of(out)) == 1

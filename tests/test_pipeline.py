"""Spec pipelines: processors and post-processors from settings and code, keys, failures."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageOps

from tests import images
from tests.conftest import thumbkit_settings
from thumbkit import get_thumbnail
from thumbkit.adapters import checks
from thumbkit.conf import get_settings
from thumbkit.core import pipeline
from thumbkit.core.engines.pillow import PillowEngine
from thumbkit.core.pipeline import FunctionStep
from thumbkit.core.spec import parse
from thumbkit.exceptions import GenerationError, InvalidSpec, OutputTooLarge
from thumbkit.lookup.thumbnail import Thumbnail
from thumbkit.models import ThumbnailRecord
from thumbkit.optimize import Command, MozJpeg, OxiPng
from thumbkit.processors import (
    Adjust,
    ImageOverlay,
    ProcessorPipeline,
    ResizeCanvas,
    ResizeToFill,
    Transpose,
)

pytestmark = pytest.mark.django_db

BLUE = (0, 0, 255)


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def source(media: Path, save_source: Any) -> str:
    return str(save_source(images.encode(images.make_image((400, 300)), "PNG"), "photos/p.png"))


def opened(t: Thumbnail) -> Image.Image:
    with t.storage.open(t.name, "rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


def file_bytes(t: Thumbnail) -> bytes:
    with t.storage.open(t.name, "rb") as handle:
        return bytes(handle.read())


def thumbnail_files(media: Path) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in (media / "thumbs").rglob("*") if p.is_file())


def rgb(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(image.convert("RGB").getpixel(xy))  # type: ignore[arg-type]


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


# Steps the settings below name by dotted path.


class Invert:
    def process(self, image: Image.Image) -> Image.Image:
        return ImageOps.invert(image.convert("RGB"))


def tint(image: Image.Image, color: str = "#ff0000") -> Image.Image:
    return Image.new("RGB", image.size, color)


def stamp(data: bytes, fmt: str, mark: bytes = b"") -> bytes:
    """A post-processor function: appends bytes after the image (decoders ignore them)."""
    return data + mark


class Explodes:
    def process(self, image: Image.Image) -> Image.Image:
        raise RuntimeError("boom")


class ReturnsNothing:
    def process(self, image: Image.Image) -> None:
        return None


# --- settings ---------------------------------------------------------------------------------


def test_named_specs_apply_dotted_paths_dicts_and_functions(source: str) -> None:
    specs = {
        "inverted": {
            "size": "100x100",
            "format": "png",
            "processors": ["tests.test_pipeline.Invert"],
        },
        "filled": {
            "size": "1000x1000",
            "processors": [{"PATH": "thumbkit.processors.ResizeToFill", "width": 50, "height": 30}],
        },
        "blue": {
            "size": "80x80",
            "processors": [{"PATH": "tests.test_pipeline.tint", "color": "#0000ff"}],
            "post_processors": [{"PATH": "tests.test_pipeline.stamp", "mark": b"THUMBKIT"}],
        },
    }
    with thumbkit_settings(SPECS=specs):
        plain = get_thumbnail(source, "100x100", format="png")
        inverted = get_thumbnail(source, "inverted")
        filled = get_thumbnail(source, "filled")
        blue = get_thumbnail(source, "blue")
        step = parse("blue").processors[0]
    a, b = rgb(opened(plain), (50, 37)), rgb(opened(inverted), (50, 37))
    assert close(b, tuple(255 - v for v in a), 2)
    assert opened(filled).size == (filled.width, filled.height) == (50, 30)
    assert isinstance(step, FunctionStep)
    assert opened(blue).size == (80, 60)
    assert rgb(opened(blue), (40, 30)) == BLUE
    assert file_bytes(blue).endswith(b"THUMBKIT")


def test_arguments_change_the_key_and_the_name(source: str) -> None:
    first = get_thumbnail(source, "100x100", processors=[Adjust(contrast=1.2)])
    second = get_thumbnail(source, "100x100", processors=[Adjust(contrast=1.3)])
    third = get_thumbnail(source, "100x100", processors=[Adjust(contrast=1.2), Invert()])
    assert len({first.key, second.key, third.key}) == 3
    assert len({first.name, second.name, third.name}) == 3
    assert opened(first).tobytes() != opened(second).tobytes()


def test_one_pipeline_written_many_ways_is_one_key(source: str, media: Path) -> None:
    path = "thumbkit.processors.ResizeToFill"
    ways: list[Any] = [
        [ResizeToFill(50, 30)],
        [ResizeToFill(50, 30, anchor="c", upscale=True)],
        [ResizeToFill(50.0, 30, anchor=(0.5, 0.5))],  # type: ignore[arg-type]
        [{"PATH": path, "width": 50, "height": 30}],
        (ResizeToFill(width=50, height=30),),
        [ProcessorPipeline([ResizeToFill(50, 30)])],
    ]
    specs = {"fill": {"size": "100x100", "processors": [{"PATH": path, "width": 50, "height": 30}]}}
    with thumbkit_settings(SPECS=specs):
        made = [get_thumbnail(source, "100x100", processors=way) for way in ways]
        made.append(get_thumbnail(source, "fill"))
    assert len({t.key for t in made}) == 1
    assert len({t.name for t in made}) == 1
    assert len(thumbnail_files(media)) == 1
    assert ThumbnailRecord.objects.count() == 1
    same_colour = [ResizeCanvas(500, 400, color=c) for c in ("white", "#fff", (255, 255, 255))]
    assert len({parse("100x100", processors=[c]).canonical for c in same_colour}) == 1


class Options:
    """A plain settings object held by a processor: its text must not hold an address."""

    def __init__(self) -> None:
        self.level = 3


class Holder:
    def __init__(self) -> None:
        self.options = Options()
        self.hook = tint

    def process(self, image: Image.Image) -> Image.Image:
        return image


def test_canonical_text_is_the_same_in_another_process(tmp_path: Path) -> None:
    mark = tmp_path / "mark.png"
    Image.new("RGBA", (8, 8), (0, 0, 255, 200)).save(mark)
    code = (
        "import django; django.setup()\n"
        "from thumbkit.core.spec import parse\n"
        "from thumbkit.processors import ImageOverlay, ResizeToFill, Transpose\n"
        "from thumbkit.optimize import Command\n"
        "from tests.test_pipeline import Holder\n"
        f"steps = [ResizeToFill(5, 5), ImageOverlay({str(mark)!r}), Transpose(), Holder()]\n"
        "post = [Command(['cat'], formats=['png'])]\n"
        "print(parse('100x100', processors=steps, post_processors=post).canonical)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": ".:src"}
    cwd = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, check=True
    )
    steps = [ResizeToFill(5, 5), ImageOverlay(str(mark)), Transpose(), Holder()]
    here = parse("100x100", processors=steps, post_processors=[Command(["cat"], formats=["png"])])
    assert done.stdout.strip() == here.canonical
    assert " at 0x" not in here.canonical
    assert "tests.test_pipeline.tint" in here.canonical


class Slotted:
    __slots__ = ("opaque",)

    def __init__(self) -> None:
        self.opaque = object()

    def process(self, image: Image.Image) -> Image.Image:
        return image


def test_a_value_without_a_stable_text_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="stable text"):
        parse("100x100", processors=[Slotted()])
    # Every lambda of a module would share one name, and so one key.
    with pytest.raises(InvalidSpec, match="module level"):
        parse("100x100", processors=[lambda image: image])


def test_plain_functions_and_classes_given_in_code() -> None:
    by_object = parse("100x100", processors=[tint, Invert], post_processors=[stamp])
    by_path = parse(
        "100x100",
        processors=["tests.test_pipeline.tint", "tests.test_pipeline.Invert"],
        post_processors=["tests.test_pipeline.stamp"],
    )
    assert by_object == by_path
    assert isinstance(by_object.processors[1], Invert)  # a class is instantiated
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    assert rgb(pipeline.run(red, by_object.processors), (1, 1)) == (0, 255, 255)


@pytest.mark.parametrize(
    "processors",
    [
        ["thumbkit.processors.NoSuchThing"],
        ["nodots"],
        [{"width": 50}],
        [{"PATH": "thumbkit.processors.ResizeToFill", "bogus": 1}],
        [{"PATH": "thumbkit.processors.TrimBorderColor", "tolerance": 5}],
        [42],
        ["thumbkit.processors.LANCZOS"],
    ],
)
def test_bad_steps_are_invalid_specs(processors: Any) -> None:
    with pytest.raises(InvalidSpec):
        parse("100x100", processors=processors)
    specs = {"broken": {"size": "100x100", "processors": processors}}
    with thumbkit_settings(SPECS=specs):
        with pytest.raises(InvalidSpec, match="broken"):
            get_thumbnail("photos/none.jpg", "broken")
        errors = checks.check_settings()
    assert [e.id for e in errors] == ["thumbkit.E006"]
    assert "'broken'" in str(errors[0].msg)


def test_bad_post_processor_paths_are_invalid_specs() -> None:
    with pytest.raises(InvalidSpec, match="cannot be imported"):
        parse("100x100", post_processors=["thumbkit.optimize.Nope"])
    with pytest.raises(InvalidSpec, match="PATH"):
        parse("100x100", post_processors=[{"level": 3}])


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [Explodes(), ReturnsNothing()])
def test_a_failing_processor_leaves_nothing(source: str, media: Path, step: Any) -> None:
    with pytest.raises(GenerationError):
        get_thumbnail(source, "100x100", processors=[step])
    assert thumbnail_files(media) == []
    assert ThumbnailRecord.objects.count() == 0


def test_an_output_made_too_large_by_a_processor(source: str, media: Path) -> None:
    with thumbkit_settings(LIMITS={"MAX_OUTPUT_SIDE": 500}):
        with pytest.raises(OutputTooLarge, match="800x100"):
            get_thumbnail(source, "100x100", processors=[ResizeCanvas(800, 100)])
        assert get_thumbnail(source, "100x100", processors=[ResizeCanvas(500, 100)]).width == 500
    assert len(thumbnail_files(media)) == 1
    assert ThumbnailRecord.objects.count() == 1


class Spy:
    """A processor that announces its output size, and records whether it ran."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size, self.ran = size, False

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return self.size

    def process(self, image: Image.Image) -> Image.Image:
        self.ran = True
        return image


def test_run_checks_announced_sizes_before_running_a_step() -> None:
    seen: list[tuple[int, int]] = []

    def check(size: tuple[int, int]) -> None:
        seen.append(size)
        if max(size) > 1000:
            raise OutputTooLarge(f"{size}")

    small, huge = Spy((20, 20)), Spy((100_000, 100_000))
    with pytest.raises(OutputTooLarge):
        pipeline.run(Image.new("RGB", (10, 10)), [small, huge], check)
    assert small.ran
    assert not huge.ran  # refused before it could allocate anything
    assert seen == [(20, 20), (10, 10), (100_000, 100_000)]


# --- post-processors --------------------------------------------------------------------------


def test_mozjpeg_makes_a_smaller_jpeg_with_the_same_pixels(media: Path, save_source: Any) -> None:
    pytest.importorskip("mozjpeg_lossless_optimization")
    name = save_source(images.jpeg((800, 600)))
    plain = get_thumbnail(name, "400x400")
    small = get_thumbnail(name, "400x400", post_processors=["thumbkit.optimize.MozJpeg"])
    assert small.key != plain.key
    assert small.format == "JPEG"
    assert len(file_bytes(small)) < len(file_bytes(plain))
    assert opened(small).tobytes() == opened(plain).tobytes()
    as_png = get_thumbnail(name, "400x400", format="png", post_processors=[MozJpeg()])
    assert file_bytes(as_png) == file_bytes(get_thumbnail(name, "400x400", format="png"))


def test_oxipng_makes_a_smaller_png_with_the_same_pixels(source: str) -> None:
    pytest.importorskip("oxipng")
    plain = get_thumbnail(source, "300x300")
    small = get_thumbnail(source, "300x300", post_processors=[OxiPng(level=2)])
    assert small.format == "PNG"
    assert len(file_bytes(small)) < len(file_bytes(plain))
    assert opened(small).convert("RGBA").tobytes() == opened(plain).convert("RGBA").tobytes()


def test_a_command_pipes_the_file_through(source: str) -> None:
    plain = get_thumbnail(source, "120x120")
    piped = get_thumbnail(source, "120x120", post_processors=[Command(["cat"])])
    assert piped.key != plain.key
    assert file_bytes(piped) == file_bytes(plain)
    # Limited to JPEG, a failing tool never runs on a PNG.
    skipped = get_thumbnail(source, "120x120", post_processors=[Command(["false"], ["jpeg"])])
    assert file_bytes(skipped) == file_bytes(plain)


def not_bytes(data: bytes, fmt: str) -> str:
    return "not bytes"


@pytest.mark.parametrize(
    "post",
    [
        Command(["false"]),
        Command(["true"]),
        Command(["/no/such/tool"]),
        "tests.test_pipeline.not_bytes",
    ],
)
def test_a_failing_post_processor_leaves_nothing(source: str, media: Path, post: Any) -> None:
    with pytest.raises(GenerationError):
        get_thumbnail(source, "100x100", post_processors=[post])
    assert thumbnail_files(media) == []
    assert ThumbnailRecord.objects.count() == 0


def test_command_needs_a_program() -> None:
    with pytest.raises(ValueError, match="program"):
        Command([])


# --- the vips engine --------------------------------------------------------------------------


def test_the_vips_engine_still_applies_processors(source: str, media: Path) -> None:
    pytest.importorskip("pyvips")
    spec = parse("200x200", processors=[ResizeToFill(60, 40), Invert()])
    with thumbkit_settings(ENGINE="vips"):
        made = get_thumbnail(source, spec, post_processors=[Command(["cat"])])
        plain = get_thumbnail(source, "200x200")
    assert (made.width, made.height) == opened(made).size == (60, 40)
    assert (plain.width, plain.height) == (200, 150)  # the plain spec vips made itself
    pillow = PillowEngine().render((media / source).read_bytes(), [spec], get_settings())[0]
    assert opened(made).tobytes() == Image.open(io.BytesIO(pillow.data)).tobytes()


class Rotator:
    """Holds a Pillow IntEnum constant and a class: both have stable, space-free texts."""

    def __init__(self) -> None:
        self.method = Image.Transpose.ROTATE_90
        self.kind = Invert

    def process(self, image: Image.Image) -> Image.Image:
        return image.transpose(self.method)


def test_constants_and_classes_in_attributes_have_clean_texts() -> None:
    text = pipeline.step_text(Rotator())
    assert text == (
        "tests.test_pipeline.Rotator("
        "kind=tests.test_pipeline.Invert,method=PIL.Image.Transpose.ROTATE_90)"
    )
    spaced = pipeline.step_text(Command(["a b"]))
    assert " " not in spaced
    assert spaced != pipeline.step_text(Command(["ab"]))

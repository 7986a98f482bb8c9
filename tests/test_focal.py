"""Focal points (issue 11): every centre crop follows the point, on both engines, under keys
that change with it; ImageField(focal_point_field=...) reads it from the row (no query);
set_focal_point stores it; bad points are typed errors that leave nothing behind.

Sources are PNGs made in code with a red block in the top-right corner, so where a crop
window landed is read from the pixels of the generated file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from django.core import checks
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import models
from django.test.utils import isolate_apps
from PIL import Image, ImageDraw

from tests import images
from tests.conftest import thumbkit_settings
from tests.s3 import Media
from tests.testapp.models import FocalPhoto, Profile
from thumbkit import FocalPoint, Thumbnail, get_thumbnail, set_focal_point
from thumbkit.core.focal import to_focal
from thumbkit.core.geometry import plan
from thumbkit.core.spec import parse
from thumbkit.exceptions import ConfigurationError, InvalidFocalPoint, InvalidSpec
from thumbkit.fields import ImageField
from thumbkit.lookup import refs, resolver
from thumbkit.lookup.keys import thumbnail_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store

pytestmark = pytest.mark.django_db

RED, BLUE, GRAY = (230, 20, 20), (20, 20, 230), (128, 128, 128)


def marked(size: tuple[int, int] = (400, 200)) -> bytes:
    """Gray, with a red block in the top-right quarter's outer half and a blue one bottom-left."""
    width, height = size
    image = Image.new("RGB", size, GRAY)
    draw = ImageDraw.Draw(image)
    draw.rectangle((width * 3 // 4, 0, width - 1, height // 2 - 1), fill=RED)
    draw.rectangle((0, height // 2, width // 4 - 1, height - 1), fill=BLUE)
    return images.encode(image, "PNG")


def pixels(thumb: Any) -> Image.Image:
    """The generated file, decoded from its storage."""
    with thumb.storage.open(thumb.name, "rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image.convert("RGB")


def near(pixel: tuple[int, ...], color: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(pixel, color, strict=False))


@pytest.fixture(params=["pillow", "vips"])
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    with thumbkit_settings(ENGINE=request.param):
        yield str(request.param)


@pytest.fixture
def wide(fs_media: Media) -> str:
    return default_storage.save("focal/wide.png", ContentFile(marked((400, 200))))


@pytest.fixture
def tall(fs_media: Media) -> str:
    return default_storage.save("focal/tall.png", ContentFile(marked((200, 400))))


# -- the pixels, on both engines --------------------------------------------------------


def test_a_point_top_right_moves_a_square_crop_of_a_wide_image_there(
    engine: str, wide: str
) -> None:
    centre = get_thumbnail(wide, "100x100", crop="center")
    moved = get_thumbnail(wide, "100x100", crop="focal", focal=(0.9, 0.1))
    assert (moved.width, moved.height) == (centre.width, centre.height) == (100, 100)
    assert moved.name != centre.name
    before, after = pixels(centre), pixels(moved)
    # The centre crop keeps source columns 100-300: no red, no blue anywhere in its top right.
    assert near(before.getpixel((95, 5)), GRAY)
    # The point at x=0.9 wants the window centred at 360 px: clamped, it ends at the right
    # edge (columns 200-400), so the red block fills the right half of the top half.
    assert near(after.getpixel((95, 5)), RED)
    assert near(after.getpixel((55, 45)), RED)
    assert near(after.getpixel((45, 5)), GRAY)
    assert near(after.getpixel((95, 95)), GRAY)
    # And a point on the left moves it the other way (the blue block comes in).
    left = pixels(get_thumbnail(wide, "100x100", crop="focal", focal=(0.05, 0.9)))
    assert near(left.getpixel((5, 95)), BLUE)
    assert near(left.getpixel((95, 5)), GRAY)


def test_a_point_moves_a_wide_crop_of_a_tall_image_up_or_down(engine: str, tall: str) -> None:
    up = get_thumbnail(tall, "100x50", crop="center", focal="0.9,0.1")
    down = get_thumbnail(tall, "100x50", crop="center", focal="0.1,0.95")
    assert (up.width, up.height) == (down.width, down.height) == (100, 50)
    assert near(pixels(up).getpixel((95, 5)), RED)  # rows 0-100 of 400: the top
    assert near(pixels(down).getpixel((5, 45)), BLUE)  # rows 300-400: the bottom
    assert near(pixels(down).getpixel((95, 5)), GRAY)


def test_the_field_reads_the_point_from_the_row_json_and_text(engine: str, wide: str) -> None:
    photo = FocalPhoto.objects.create(
        image=wide, focus={"x": 0.9, "y": 0.1}, cover=wide, cover_focus="0.9,0.1"
    )
    photo = FocalPhoto.objects.get(pk=photo.pk)
    assert photo.image.focal_point == FocalPoint(0.9, 0.1)
    square = photo.image.thumbnails.square
    assert near(pixels(square).getpixel((95, 5)), RED)
    assert near(pixels(photo.cover.thumbnails.square).getpixel((57, 3)), RED)  # 60x60
    # Any centre crop of the file follows it, a spec string or the template tag's alike.
    assert get_thumbnail(photo.image, "100x100 crop") == square
    assert get_thumbnail(photo.image, "100x100", crop="focal").key == square.key


# -- which crops follow, and the key ----------------------------------------------------


def test_only_the_centre_crop_follows_and_only_it_changes_the_key() -> None:
    point = {"focal": (0.9, 0.1)}
    centre = parse("100x100 crop")
    assert parse("100x100 crop", **point).canonical == "100x100 crop=50%,50% focal=0.9,0.1"
    assert parse("100x100", crop="focal", **point) == parse("100x100 crop=focal focal=0.9,0.1")
    # crop="focal" without a point is the centre crop: the same spec, key and file.
    assert parse("100x100", crop="focal") == centre
    # Explicit offsets, smart crops and fits do not move: the point is dropped, keys stay.
    for text in ("100x100 crop=top", "100x100 crop=10px,0px", "100x100 crop=smart", "100x100"):
        assert parse(text, **point) == parse(text)
        assert parse(text, **point).focal is None
    # The canonical text parses back to the same spec (what a task or endpoint rebuilds).
    boxed = parse("100x100 crop", focal="0.9,0.1,0.8,0,1,0.25")
    assert boxed.canonical == "100x100 crop=50%,50% focal=0.9,0.1,0.8,0,1,0.25"
    assert parse(boxed.canonical) == boxed


def test_changing_the_point_gives_new_keys_and_names(wide: str) -> None:
    src = coerce(wide)
    keys = {
        thumbnail_key(src, parse("100x100 crop", focal=p))
        for p in [None, (0.9, 0.1), (0.9, 0.2), (0.90001, 0.1)]
    }
    assert len(keys) == 3  # a point closer than the fourth decimal is the same point
    a = get_thumbnail(wide, "100x100 crop", focal=(0.9, 0.1))
    b = get_thumbnail(wide, "100x100 crop", focal=(0.2, 0.1))
    assert a.key != b.key
    assert a.name != b.name
    assert a.url != b.url
    assert get_thumbnail(wide, "100x100 crop", focal={"x": 0.9, "y": 0.1}).key == a.key


def test_a_new_point_on_the_row_gives_the_row_new_names(wide: str) -> None:
    photo = FocalPhoto.objects.create(image=wide)
    plain = photo.image.thumbnails.square
    assert plain.key == get_thumbnail(wide, "100x100 crop").key  # no point: the centre
    set_focal_point(photo.image, (0.9, 0.1))
    first = FocalPhoto.objects.get(pk=photo.pk).image.thumbnails.square
    set_focal_point(photo.image, (0.3, 0.6))
    second = FocalPhoto.objects.get(pk=photo.pk).image.thumbnails.square
    assert len({plain.name, first.name, second.name}) == 3
    # The fit does not crop: one file whatever the point.
    fits = {FocalPhoto.objects.get(pk=photo.pk).image.thumbnails.fit.name}
    set_focal_point(photo.image, None)
    fits.add(FocalPhoto.objects.get(pk=photo.pk).image.thumbnails.fit.name)
    assert len(fits) == 1
    assert FocalPhoto.objects.get(pk=photo.pk).image.thumbnails.square.key == plain.key


def test_a_box_is_kept_whole_when_the_window_holds_it() -> None:
    # 400x200 -> 200x100, a 100 px window: centred on x=0.5 it starts at 50, but the box's
    # right part (0.75-1.0: 150-200 px) pulls it to 100; one too wide to fit cannot.
    held = parse("100x100 crop", focal=FocalPoint(0.5, 0.5, (0.75, 0.0, 1.0, 0.5)))
    assert plan(held, (400, 200)).crop == (100, 0, 200, 100)
    wide_box = parse("100x100 crop", focal=FocalPoint(0.5, 0.5, (0.1, 0.0, 1.0, 1.0)))
    assert plan(wide_box, (400, 200)).crop == (50, 0, 150, 100)
    assert plan(parse("100x100 crop", focal=(1, 1)), (400, 200)).crop == (100, 0, 200, 100)
    assert plan(parse("100x100 crop", focal=(0, 0)), (400, 200)).crop == (0, 0, 100, 100)


def test_a_reference_carries_the_point_to_another_process() -> None:
    # A declared thumbnail referenced by field and name (as the deferred task gets it).
    base = replace(
        parse("100x100 crop"), ref=refs.field_ref("testapp.FocalPhoto", "image", "square")
    )
    moved = resolver.focused(base, FocalPoint(0.9, 0.1))
    assert json.loads(str(moved.ref))["focal"] == "0.9,0.1"
    rebuilt = refs.spec_from_ref(str(moved.ref))
    assert rebuilt == moved
    assert rebuilt.focal == FocalPoint(0.9, 0.1)
    assert refs.spec_from_ref(str(base.ref)).focal is None


# -- bad points -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ((1.5, 0.1), "x must be from 0 to 1"),
        ((0.5, -0.1), "y must be from 0 to 1"),
        ("0.5,nan", "y must be from 0 to 1"),
        ((True, 0.5), "x must be a number"),
        ("0.5", "not a focal point"),
        ({"x": 0.5}, "not a focal point"),
        ("0.5,0.5,0.6,0,0.4,1", "left < right"),
    ],
)
def test_bad_points_are_typed_errors(value: Any, problem: str, wide: str) -> None:
    with pytest.raises(InvalidFocalPoint, match=problem):
        to_focal(value)
    with pytest.raises(InvalidFocalPoint, match=problem) as raised:
        get_thumbnail(wide, "100x100 crop", focal=value)
    assert isinstance(raised.value, InvalidSpec)
    assert isinstance(raised.value, ValueError)
    assert "Invalid spec '100x100 crop'" in str(raised.value)
    assert list(get_store().iter_all()) == []  # nothing generated, nothing recorded


def test_set_focal_point_validates_stores_and_saves(
    wide: str, django_assert_num_queries: Any
) -> None:
    photo = FocalPhoto.objects.create(image=wide, cover=wide)
    with pytest.raises(InvalidFocalPoint, match="x must be from 0 to 1"):
        set_focal_point(photo.image, (2, 0.5))
    with pytest.raises(InvalidFocalPoint, match="a focal box needs a point"):
        set_focal_point(photo.image, None, box=(0, 0, 1, 1))
    assert FocalPhoto.objects.get(pk=photo.pk).focus is None  # unchanged
    with django_assert_num_queries(1):  # one UPDATE of that column
        point = set_focal_point(photo.image, (0.9, 0.1), box=(0.8, 0, 1, 0.5))
    assert point == FocalPoint(0.9, 0.1, (0.8, 0.0, 1.0, 0.5))
    row = FocalPhoto.objects.get(pk=photo.pk)
    assert row.focus == {"x": 0.9, "y": 0.1, "box": [0.8, 0.0, 1.0, 0.5]}
    set_focal_point(row.cover, "0.25, 0.75")
    assert FocalPhoto.objects.get(pk=photo.pk).cover_focus == "0.25,0.75"
    set_focal_point(row.image, None)
    assert FocalPhoto.objects.get(pk=photo.pk).focus is None  # a nullable column: NULL
    other = Profile(photo=wide).photo
    with pytest.raises(ConfigurationError, match="keeps no focal point"):
        set_focal_point(other, (0.5, 0.5))


def test_a_bad_stored_point_is_logged_and_ignored(wide: str, caplog: Any) -> None:
    FocalPhoto.objects.create(image=wide, focus={"x": 7, "y": 0})
    photo = FocalPhoto.objects.get()
    assert photo.image.focal_point is None
    assert photo.image.thumbnails.square.key == get_thumbnail(wide, "100x100 crop").key
    assert "Ignoring the focal point" in caplog.text


def test_the_same_instance_follows_a_new_point_at_once(wide: str) -> None:
    photo = FocalPhoto.objects.create(image=wide)
    old = photo.image.thumbnails.square
    set_focal_point(photo.image, (0.9, 0.1))
    moved = photo.image.thumbnails.square
    assert moved.key != old.key
    photo.focus = {"x": 0.1, "y": 0.9}  # written by hand, not saved: the lookup reads the row
    assert photo.image.thumbnails.square.key not in {old.key, moved.key}
    photo.focus = None
    assert photo.image.thumbnails.square.key == old.key


# -- a list page ------------------------------------------------------------------------


def test_a_page_of_rows_with_points_costs_what_one_without_costs(
    wide: str, django_assert_num_queries: Any
) -> None:
    rows = [FocalPhoto(title=f"p{i}", image=wide, focus={"x": i / 10, "y": 0.5}) for i in range(8)]
    rows += [FocalPhoto(title=f"n{i}", image=wide) for i in range(4)]
    FocalPhoto.objects.bulk_create(rows)
    made = [p.image.thumbnails.square for p in FocalPhoto.objects.all()]  # warm the store
    assert len({t.key for t in made}) == 9  # eight points and the centre
    with django_assert_num_queries(2):  # the rows, then one store read for every row
        page = list(FocalPhoto.objects.all())
        urls = [p.image.thumbnails.square.url for p in page]
    assert urls == [t.url for t in made]
    with django_assert_num_queries(2):
        page = list(FocalPhoto.objects.filter(focus__isnull=True))
        assert [p.image.thumbnails.square.url for p in page] == [t.url for t in made[8:]]


def test_regenerate_force_removes_thumbnails_of_old_points(wide: str) -> None:
    photo = FocalPhoto.objects.create(image=wide, focus={"x": 0.1, "y": 0.5})
    stale = photo.image.thumbnails.square
    set_focal_point(photo.image, (0.9, 0.1))
    call_command(
        "thumbkit_regenerate", "testapp.FocalPhoto", "image", "--size", "square",
        "--force", "--workers", "1", verbosity=0,
    )  # fmt: skip
    current = FocalPhoto.objects.get(pk=photo.pk).image.thumbnails.square
    names = {r.name for r in get_store().iter_all() if r.format}
    assert current.name in names
    assert stale.name not in names
    assert not default_storage.exists(stale.name)
    assert isinstance(current, Thumbnail)
    assert near(pixels(current).getpixel((95, 5)), RED)


def test_delete_by_size_removes_that_size_for_every_point(wide: str) -> None:
    photo = FocalPhoto.objects.create(image=wide, focus={"x": 0.1, "y": 0.5})
    made = [photo.image.thumbnails.square, photo.image.thumbnails.wide]
    set_focal_point(photo.image, (0.9, 0.1))
    row = FocalPhoto.objects.get(pk=photo.pk)
    made += [row.image.thumbnails.square, row.image.thumbnails.fit]
    call_command(
        "thumbkit_delete", "testapp.FocalPhoto", "--field", "image", "--size", "square",
        verbosity=0,
    )  # fmt: skip
    left = sorted(r.name for r in get_store().iter_all() if r.format)
    assert left == sorted([made[1].name, made[3].name])  # both squares gone, nothing else
    assert [default_storage.exists(t.name) for t in made] == [False, True, False, True]


# -- checks -----------------------------------------------------------------------------


@isolate_apps("tests.testapp")
def test_focal_point_field_must_name_a_json_or_text_column() -> None:
    class Missing(models.Model):  # noqa: DJ008
        image = ImageField(upload_to="x", focal_point_field="nowhere")

        class Meta:
            app_label = "testapp"

    class Number(models.Model):  # noqa: DJ008
        image = ImageField(upload_to="x", focal_point_field="focus")
        focus = models.IntegerField(default=0)

        class Meta:
            app_label = "testapp"

    class Fine(models.Model):  # noqa: DJ008
        image = ImageField(upload_to="x", focal_point_field="focus")
        focus = models.CharField(max_length=60, blank=True)

        class Meta:
            app_label = "testapp"

    for model in (Missing, Number):
        errors = [e for e in model._meta.get_field("image").check() if e.id == "thumbkit.E020"]
        assert len(errors) == 1, model
        assert isinstance(errors[0], checks.Error)
    assert [e for e in Fine._meta.get_field("image").check() if e.id == "thumbkit.E020"] == []

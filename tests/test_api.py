"""The low-level API: get_thumbnail, delete, prefetch_thumbnails and their async twins."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests import images
from tests.api_support import CALLS, only_storage
from tests.s3 import Media
from tests.testapp.models import Photo
from thumbkit import (
    Thumbnail,
    adelete,
    aget_thumbnail,
    aprefetch_thumbnails,
    delete,
    get_thumbnail,
    prefetch_thumbnails,
)
from thumbkit.core.spec import parse
from thumbkit.exceptions import InvalidSpec, SourceMissing
from thumbkit.lookup.batch import PSEUDO_SPECS, VERSION_SPEC
from thumbkit.lookup.source import coerce
from thumbkit.models import ThumbnailRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(media_storage: Media) -> Media:
    """Every test here runs on the local disk and on the S3 endpoint."""
    return media_storage


def make_photo(name: str = "a.jpg", size: tuple[int, int] = (400, 300)) -> Photo:
    return Photo.objects.create(title=name, image=ContentFile(images.jpeg(size), name=name))


def stored_size(t: Thumbnail) -> tuple[int, int]:
    """The size of the thumbnail file as it really is on its storage."""
    with t.storage.open(t.name, "rb") as handle, Image.open(io.BytesIO(handle.read())) as img:
        return img.size


def records() -> list[str]:
    """Names of the thumbnail records (version and failure records, which name no file, left
    out)."""
    rows = ThumbnailRecord.objects.exclude(spec__in=PSEUDO_SPECS)
    return sorted(rows.values_list("name", flat=True))


# --- get_thumbnail ----------------------------------------------------------------------


def test_fieldfile_source_gives_a_complete_thumbnail(media: Media) -> None:
    photo = make_photo()
    t = get_thumbnail(photo.image, "100x100")
    assert (t.width, t.height) == (100, 75)  # 400x300 fitted inside 100x100
    assert stored_size(t) == (100, 75)
    assert t.format == "JPEG"
    assert t.name.startswith("thumbs/")
    assert t.name.endswith(".jpg")
    assert t.storage is storages["default"]
    assert t.url == media.url(t.name)
    assert str(t) == t.url
    assert records() == [t.name]


def test_options_and_named_specs(media: Media) -> None:
    photo = make_photo()
    cropped = get_thumbnail(photo.image, "100x100", crop="center", format="png")
    assert (cropped.width, cropped.height, cropped.format) == (100, 100, "PNG")
    assert stored_size(cropped) == (100, 100)
    assert cropped.name.endswith(".png")
    card = get_thumbnail(photo.image, "card")
    assert (card.width, card.height, card.format) == (320, 240, "WEBP")
    assert stored_size(card) == (320, 240)
    # A named spec and the same spec written inline are one thumbnail.
    small = get_thumbnail(photo.image, "small")
    assert get_thumbnail(photo.image, "100x100", crop="center").name == small.name
    assert get_thumbnail(photo.image, parse("100x100 crop=center")).name == small.name


def test_django_file_sources_are_read_from_their_own_bytes(media: Media) -> None:
    upload = SimpleUploadedFile("upload.jpg", images.jpeg((200, 400)), "image/jpeg")
    t = get_thumbnail(upload, "50x50")
    assert (t.width, t.height) == (25, 50)
    assert stored_size(t) == (25, 50)
    content = ContentFile(images.png((300, 100)), name="drawn.png")
    t2 = get_thumbnail(content, "x20")
    assert (t2.width, t2.height, t2.format) == (60, 20, "PNG")
    assert stored_size(t2) == (60, 20)
    # Neither file was saved anywhere: only the two thumbnails exist.
    assert media.files() == sorted([t.name, t2.name])


def test_name_on_the_default_storage(media: Media, save_source: Any) -> None:
    name = save_source(images.jpeg((640, 480)), "photos/named.jpg")
    t = get_thumbnail(name, "small")
    assert (t.width, t.height) == (100, 100)
    assert stored_size(t) == (100, 100)
    # The FieldFile holding the same name on the same storage is the same source.
    photo = Photo.objects.create(image=name)
    assert get_thumbnail(photo.image, "small").name == t.name
    assert len(records()) == 1


def test_missing_and_empty_sources_raise_source_missing(media: Media) -> None:
    with pytest.raises(SourceMissing):
        get_thumbnail("photos/not-there.jpg", "100x100")
    with pytest.raises(SourceMissing):
        get_thumbnail(Photo.objects.create().image, "100x100")
    with pytest.raises(SourceMissing):
        get_thumbnail(None, "100x100")
    with pytest.raises(TypeError):
        get_thumbnail(42, "100x100")
    assert records() == []


def test_invalid_spec_raises_before_touching_the_source(media: Media) -> None:
    with pytest.raises(InvalidSpec):
        get_thumbnail("photos/not-there.jpg", "100y100")
    with pytest.raises(InvalidSpec):
        get_thumbnail("photos/not-there.jpg", "100x100", colour="red")


def test_attributes_cost_no_io_once_generated(
    fs_media: Media, django_assert_num_queries: Any
) -> None:
    with only_storage(str(fs_media.root), "tests.api_support.CountingStorage"):
        photo = make_photo()
        t = get_thumbnail(photo.image, "120x120")
        CALLS.clear()
        with django_assert_num_queries(0):
            seen = (t.url, t.width, t.height, t.name, t.format, t.storage, str(t), t.url)
        assert seen[1:3] == (120, 90)
        # Only url(), never a check. CountingStorage overrides url(), so thumbkit cannot know
        # that its URLs do not expire (as signed S3 URLs do): it asks on every use.
        assert [("url", t.name)] * 3 == CALLS
        CALLS.clear()
        # Asking again on the same FieldFile is answered from its memo.
        with django_assert_num_queries(0):
            assert get_thumbnail(photo.image, "120x120") == t
        # A freshly loaded row costs one store read and no storage call.
        fresh = Photo.objects.get(pk=photo.pk)
        with django_assert_num_queries(1):
            again = get_thumbnail(fresh.image, "120x120")
        assert again == t
        assert str(again) == t.url
        assert [("url", t.name)] * 2 == CALLS


# --- delete -----------------------------------------------------------------------------


def test_delete_keep_source_removes_thumbnails_and_records(media: Media) -> None:
    photo, other = make_photo("a.jpg"), make_photo("b.jpg")
    made = [get_thumbnail(photo.image, s) for s in ("small", "card", "50x50")]
    kept = get_thumbnail(other.image, "small")
    delete(photo.image, delete_file=False)
    assert media.files() == sorted([photo.image.name, other.image.name, kept.name])
    assert records() == [kept.name]
    # The same FieldFile object regenerates (its memo was cleared) under a new version, so
    # under a new name: a URL cached anywhere for the old file is never reused.
    again = get_thumbnail(photo.image, "small")
    assert again.name != made[0].name
    assert ThumbnailRecord.objects.filter(spec=VERSION_SPEC).count() == 1
    assert stored_size(again) == (100, 100)
    assert records() == sorted([kept.name, again.name])


def test_delete_with_file_removes_the_source_too(media: Media) -> None:
    photo = make_photo()
    t = get_thumbnail(photo.image, "small")
    delete(photo.image)
    assert media.files() == []
    assert records() == []
    assert not default_storage.exists(t.name)
    with pytest.raises(SourceMissing):
        get_thumbnail(photo.image, "small")


def test_delete_by_name_and_with_nothing_generated(media: Media, save_source: Any) -> None:
    name = save_source(images.jpeg(), "photos/byname.jpg")
    delete(name, delete_file=False)  # nothing generated yet: a no-op
    t = get_thumbnail(name, "80x80")
    delete(name, delete_file=False)
    assert media.files() == [name]
    assert records() == []
    again = get_thumbnail(name, "80x80")
    assert again.name != t.name
    assert records() == [again.name]


# --- prefetch_thumbnails ----------------------------------------------------------------


def test_prefetch_is_one_round_trip_and_later_lookups_are_free(
    media: Media, django_assert_num_queries: Any
) -> None:
    for i in range(5):
        photo = make_photo(f"p{i}.jpg")
        get_thumbnail(photo.image, "small")
    photos = list(Photo.objects.order_by("pk"))
    with django_assert_num_queries(1):
        found = prefetch_thumbnails(photos, "image", ["small", "60x60"])
    assert len(found) == 10
    for photo in photos:
        hit = found[(photo.image.name, "small")]
        assert isinstance(hit, Thumbnail)
        assert (hit.width, hit.height) == (100, 100)
        assert found[(photo.image.name, "60x60")] is None
    with django_assert_num_queries(0):
        for photo in photos:
            assert get_thumbnail(photo.image, "small") == found[(photo.image.name, "small")]


def test_prefetch_missing_thumbnails_are_generated_on_first_use(media: Media) -> None:
    photos = [make_photo(f"m{i}.jpg") for i in range(3)]
    fresh = list(Photo.objects.order_by("pk"))
    found = prefetch_thumbnails(fresh, "image", "60x60")
    assert list(found.values()) == [None, None, None]
    assert records() == []
    made = [get_thumbnail(p.image, "60x60") for p in fresh]
    assert [(t.width, t.height) for t in made] == [(60, 45)] * 3
    assert [stored_size(t) for t in made] == [(60, 45)] * 3
    assert records() == sorted(t.name for t in made)
    assert {t.source_name for t in made} == {p.image.name for p in photos}


def test_prefetch_sources_without_a_field(
    media: Media, save_source: Any, django_assert_num_queries: Any
) -> None:
    photo = make_photo()
    name = save_source(images.jpeg((300, 300)), "photos/loose.jpg")
    small = get_thumbnail(photo.image, "small")
    by_name = get_thumbnail(name, "small")
    fresh = Photo.objects.get(pk=photo.pk)
    empty = Photo.objects.create()
    spec = parse("small")
    with django_assert_num_queries(1):
        found = prefetch_thumbnails([fresh.image, name, empty.image], None, ["small", spec])
    assert found == {
        (photo.image.name, "small"): small,
        (photo.image.name, spec.canonical): small,
        (name, "small"): by_name,
        (name, spec.canonical): by_name,
    }
    with django_assert_num_queries(0):
        assert get_thumbnail(fresh.image, "small") == small


def test_prefetch_of_nothing_costs_nothing(media: Media, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert prefetch_thumbnails([], "image", ["small"]) == {}
        assert prefetch_thumbnails([Photo()], "image", ["small"]) == {}


# --- async twins ------------------------------------------------------------------------


def test_async_twins(media: Media, django_assert_num_queries: Any) -> None:
    photos = [make_photo(f"async{i}.jpg") for i in range(3)]

    async def make_all() -> list[Thumbnail]:
        return list(await asyncio.gather(*(aget_thumbnail(p.image, "small") for p in photos)))

    made = async_to_sync(make_all)()
    assert [(t.width, t.height) for t in made] == [(100, 100)] * 3
    assert [stored_size(t) for t in made] == [(100, 100)] * 3
    fresh = list(Photo.objects.order_by("pk"))
    with django_assert_num_queries(1):
        found = async_to_sync(aprefetch_thumbnails)(fresh, "image", ["small"])
    assert sorted(t.name for t in found.values() if t) == sorted(t.name for t in made)
    async_to_sync(adelete)(fresh[0].image, delete_file=False)
    assert records() == sorted(t.name for t in made[1:])


@pytest.mark.django_db(transaction=True)
def test_async_twins_under_asyncio_run(media: Media) -> None:
    photo = make_photo()

    async def main() -> tuple[Thumbnail, dict[tuple[str, str], Thumbnail | None]]:
        t = await aget_thumbnail(photo.image, "70x70", crop="center")
        found = await aprefetch_thumbnails([photo.image.name], None, "70x70 crop")
        return t, found

    t, found = asyncio.run(main())
    assert (t.width, t.height) == (70, 70)
    assert stored_size(t) == (70, 70)
    assert found == {(photo.image.name, "70x70 crop"): t}


def test_several_specs_of_one_source_read_it_once(fs_media: Media, monkeypatch: Any) -> None:
    from thumbkit.core.engines.pillow import PillowEngine
    from thumbkit.lookup import api

    renders: list[int] = []
    real = PillowEngine.render

    def counted(self: PillowEngine, data: bytes, specs: Any, settings: Any) -> Any:
        renders.append(len(specs))
        return real(self, data, specs, settings)

    monkeypatch.setattr(PillowEngine, "render", counted)
    photo = make_photo("once.jpg")
    with only_storage(str(fs_media.root), "tests.api_support.CountingStorage"):
        CALLS.clear()
        specs = [api.get_spec(s) for s in ("small", "card", "50x50", "x80")]
        made = api.resolve([(coerce(photo.image), spec) for spec in specs])
        opens = [call for call in CALLS if call[0] == "open"]
    assert opens == [("open", photo.image.name)]  # one read of the source for four specs
    assert renders == [4]  # and one decode
    assert [(t.width, t.height) for t in made] == [(100, 100), (320, 240), (50, 38), (107, 80)]

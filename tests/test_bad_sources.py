"""Bad input gets a typed error, degrades in templates, and leaves nothing behind."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.template import Context, Template
from django.test import override_settings

from tests import images
from tests.api_support import only_storage, storages_with
from tests.conftest import thumbkit_settings
from tests.s3 import Media
from tests.testapp.models import Photo
from thumbkit import get_thumbnail
from thumbkit.exceptions import (
    OutputTooLarge,
    SourceError,
    SourceMissing,
    SourceTooLarge,
    SourceUnreadable,
    StorageError,
    StoreError,
    ThumbkitError,
)
from thumbkit.lookup.batch import FAILED_SPEC
from thumbkit.models import GenerationLock, ThumbnailRecord

pytestmark = pytest.mark.django_db

BLOCK = (
    '{% load thumbkit %}{% thumbnail src "100x100" crop="center" as t %}{{ t.url }}'
    "{% empty %}EMPTY{% endthumbnail %}"
)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def gif_frames(count: int) -> bytes:
    frames = [images.make_image((40, 30), color=(i * 9 % 256, 0, 0)) for i in range(count)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=40)
    return buffer.getvalue()


BAD: dict[str, tuple[Callable[[], bytes], type[SourceError]]] = {
    "truncated-jpeg": (lambda: truncated(images.jpeg((800, 600))), SourceUnreadable),
    "truncated-png": (lambda: truncated(images.png((800, 600))), SourceUnreadable),
    "zero-bytes": (lambda: b"", SourceUnreadable),
    "text": (lambda: b"name,size\nphoto.jpg,12\n", SourceUnreadable),
    "svg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', SourceUnreadable),
    "header-100000x100000": (lambda: images.png_header_only(100_000, 100_000), SourceTooLarge),
    "header-12000x10000": (lambda: images.png_header_only(12_000, 10_000), SourceTooLarge),
}


@pytest.fixture
def media(media_storage: Media) -> Media:
    """Every test here runs on the local disk and on the S3 endpoint, unless it breaks the
    local disk on purpose (``fs_media``)."""
    return media_storage


def assert_nothing_left(media: Media, *sources: str) -> None:
    assert media.files() == sorted(sources)  # no thumbnail, no temporary file
    # A source that failed on its storage is remembered (test_failures.py): not a thumbnail.
    assert ThumbnailRecord.objects.exclude(spec=FAILED_SPEC).count() == 0
    assert GenerationLock.objects.count() == 0


@pytest.mark.parametrize("case", list(BAD))
def test_bad_file_on_storage(case: str, media: Media) -> None:
    make, error = BAD[case]
    photo = Photo.objects.create(image=ContentFile(make(), name="bad.img"))
    with pytest.raises(error) as info:
        get_thumbnail(photo.image, "100x100")
    assert isinstance(info.value, SourceError)
    assert Template(BLOCK).render(Context({"src": photo.image})) == "EMPTY"
    assert_nothing_left(media, photo.image.name)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_uploaded_file(case: str, media: Media) -> None:
    make, error = BAD[case]
    with pytest.raises(error):
        get_thumbnail(ContentFile(make(), name="upload.img"), "small")
    assert_nothing_left(media)


def test_pillow_errors_are_kept_as_the_cause(media: Media) -> None:
    with pytest.raises(SourceUnreadable) as info:
        get_thumbnail(ContentFile(truncated(images.jpeg((800, 600))), name="t.jpg"), "50x50")
    assert isinstance(info.value.__cause__, OSError)  # Pillow's "image file is truncated"


def test_too_many_frames(media: Media) -> None:
    with thumbkit_settings(LIMITS={"MAX_FRAMES": 3}):
        with pytest.raises(SourceTooLarge, match="frames"):
            get_thumbnail(ContentFile(gif_frames(5), name="anim.gif"), "20x20")
        assert get_thumbnail(ContentFile(gif_frames(3), name="ok.gif"), "20x20").width == 20
    assert ThumbnailRecord.objects.count() == 1


def test_too_many_bytes_is_refused(media: Media, save_source: Any) -> None:
    data = images.jpeg((400, 300))
    name = save_source(data, "photos/heavy.jpg")
    with thumbkit_settings(LIMITS={"MAX_SOURCE_BYTES": len(data) - 1}):
        with pytest.raises(SourceTooLarge, match="MAX_SOURCE_BYTES"):
            get_thumbnail(name, "50x50")
        with pytest.raises(SourceTooLarge):
            get_thumbnail(ContentFile(data, name="heavy-upload.jpg"), "50x50")
    with thumbkit_settings(LIMITS={"MAX_SOURCE_BYTES": len(data)}):
        assert get_thumbnail(name, "50x50").width == 50


def test_missing_source_file(media: Media) -> None:
    photo = Photo.objects.create(image="photos/gone.jpg")
    with pytest.raises(SourceMissing):
        get_thumbnail(photo.image, "100x100")
    with pytest.raises(SourceMissing):
        get_thumbnail("photos/gone-too.jpg", "100x100")
    assert Template(BLOCK).render(Context({"src": photo.image})) == "EMPTY"
    assert_nothing_left(media)


# --- refused before the source is read ---------------------------------------------------


def test_output_too_large_is_refused_before_reading(media: Media) -> None:
    with pytest.raises(OutputTooLarge):
        get_thumbnail("photos/does-not-exist.jpg", "5000x5000")  # not SourceMissing
    with pytest.raises(OutputTooLarge):
        get_thumbnail("photos/does-not-exist.jpg", "x4097", crop="center")
    strict = only_storage(str(media.root), "tests.api_support.StrictStorage")
    with strict, pytest.raises(OutputTooLarge):
        get_thumbnail(Photo(image="photos/a.jpg").image, "5000x5000")  # no open()
    assert_nothing_left(media)


def test_output_too_large_from_the_plan(media: Media) -> None:
    # Only the source's size tells that upscaling it to 4000x3000 makes too many pixels.
    name = "photos/wide.jpg"
    Photo.objects.create(image=ContentFile(images.jpeg((400, 300)), name="wide.jpg"))
    limited = thumbkit_settings(LIMITS={"MAX_OUTPUT_PIXELS": 1000 * 1000})
    with limited, pytest.raises(OutputTooLarge):
        get_thumbnail(name, "4000x4000", upscale=True)
    assert_nothing_left(media, name)


# --- storage and store failures are mapped ----------------------------------------------


def test_storage_read_failure_is_a_storage_error(
    fs_media: Media, caplog: pytest.LogCaptureFixture
) -> None:
    media = fs_media
    media.write("photos/a.jpg", images.jpeg())
    broken = storages_with(str(media.root), default="tests.api_support.BrokenOpenStorage")
    with override_settings(STORAGES=broken):
        with pytest.raises(StorageError) as info:
            get_thumbnail("photos/a.jpg", "100x100")
        assert isinstance(info.value.__cause__, OSError)
        assert "photos/a.jpg" in str(info.value)
        # Not the source's fault, and not remembered: a page renders its {% empty %} (logged
        # as an error) so a storage outage does not make every page with a cold row fail.
        html = Template(BLOCK).render(Context({"src": "photos/a.jpg"}))
        assert html == Template(BLOCK).render(Context({"src": ""}))
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1
        assert "photos/a.jpg" in errors[0].getMessage()
    assert_nothing_left(media, "photos/a.jpg")


def test_storage_write_failure_is_a_storage_error(fs_media: Media) -> None:
    Photo.objects.create(image=ContentFile(images.jpeg(), name="a.jpg"))
    (fs_media.root / "thumbs").write_text("a file where the thumbnail directory should be")
    with pytest.raises(StorageError):
        get_thumbnail("photos/a.jpg", "100x100")
    assert ThumbnailRecord.objects.count() == 0


def test_redis_failure_is_a_store_error(media: Media) -> None:
    Photo.objects.create(image=ContentFile(images.jpeg(), name="a.jpg"))
    unreachable = {"url": "redis://127.0.0.1:1/0", "connect_timeout": 0.5}
    # Fail closed: the default ("fallback") renders a stand-in instead (test_store_down.py).
    with thumbkit_settings(STORE="redis", STORE_OPTIONS=unreachable, ON_STORE_ERROR="raise"):
        with pytest.raises(StoreError) as info:
            get_thumbnail("photos/a.jpg", "100x100")
        assert not isinstance(info.value, SourceError)
        with pytest.raises(StoreError):
            Template(BLOCK).render(Context({"src": "photos/a.jpg"}))
    assert_nothing_left(media, "photos/a.jpg")


def test_every_error_is_a_thumbkit_error() -> None:
    for error in (SourceError, OutputTooLarge, StorageError, StoreError):
        assert issubclass(error, ThumbkitError)


def test_good_source_still_works_after_bad_ones(media: Media) -> None:
    bad = Photo.objects.create(image=ContentFile(b"", name="bad.jpg"))
    good = Photo.objects.create(image=ContentFile(images.jpeg((300, 200)), name="good.jpg"))
    html = Template("{% for p in photos %}" + BLOCK.replace("src", "p.image") + "|{% endfor %}")
    rendered = html.render(Context({"photos": [bad, good]}))
    first, second, _ = rendered.split("|")
    assert first == "EMPTY"
    t = get_thumbnail(good.image, "100x100", crop="center")
    assert second == t.url
    assert media.decoded(t.name) == ((100, 100), "JPEG")

"""The per-object memo: one typed :class:`~thumbkit.lookup.memo.Memo` on each file object looked up.

What it answers (a complete memo, with no I/O), what it does not (a partial memo, a memo of
another file, one forgotten by a delete or an overwrite), how it travels with pickled and
copied instances, and that no untyped string slot is left in the source.
"""

from __future__ import annotations

import ast
import copy
import pathlib
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from tests import images
from tests.fields_util import media
from tests.s3 import Media
from tests.testapp.models import OverwritePhoto, Photo
from thumbkit import delete, get_thumbnail, prefetch_thumbnails
from thumbkit.exceptions import SourceMissing
from thumbkit.lookup.api import get_spec
from thumbkit.lookup.batch import VERSION_SPEC, is_complete, memo_hit, remember, version_record
from thumbkit.lookup.keys import key_for
from thumbkit.lookup.memo import ATTRIBUTE, Memo
from thumbkit.lookup.source import coerce
from thumbkit.lookup.thumbnail import Thumbnail
from thumbkit.models import ThumbnailRecord

__all__ = ["media"]  # a fixture

SRC = pathlib.Path(__file__).resolve().parent.parent / "src" / "thumbkit"


def make_photo(name: str = "a.jpg") -> Photo:
    return Photo.objects.create(title=name, image=ContentFile(images.jpeg((400, 300)), name=name))


def stored(result: object) -> Thumbnail:
    assert type(result) is Thumbnail  # a stored record, not a stand-in
    return result


def memo_of(file: Any) -> Memo:
    memo = vars(file)[ATTRIBUTE]
    assert type(memo) is Memo
    return memo


def thumbkit_attributes(obj: Any) -> list[str]:
    return sorted(name for name in vars(obj) if name.startswith("_thumbkit"))


@pytest.mark.django_db
def test_a_lookup_leaves_one_typed_attribute_on_the_file(fs_media: Media) -> None:
    photo = Photo.objects.get(pk=make_photo().pk)
    assert thumbkit_attributes(photo.image) == []
    thumb = stored(get_thumbnail(photo.image, "100x100", crop="center"))
    assert thumb.size == (100, 100)
    assert thumbkit_attributes(photo.image) == [ATTRIBUTE]
    memo = memo_of(photo.image)
    assert memo.location == coerce(photo.image).location
    assert memo.records == {thumb.key: thumb}
    assert memo.identity == coerce(photo.image).identity
    # Named attributes only: a string slot cannot be added to it.
    assert not hasattr(memo, "__dict__")
    with pytest.raises(AttributeError):
        memo.complete = True  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_only_a_complete_memo_answers(fs_media: Media, django_assert_num_queries: Any) -> None:
    made = stored(get_thumbnail(make_photo().image, "small"))
    photo = Photo.objects.get(title="a.jpg")
    src, spec = coerce(photo.image), get_spec("small")
    assert memo_hit(src, spec) is None
    memo = memo_of(photo.image)  # made by memo_hit above: empty and partial
    assert (memo.location, memo.records, is_complete(src)) == (None, {}, False)
    # A record learnt here (made, or a failure) does not make the memo complete: the store
    # may hold more (the source's version), so the memo does not answer yet.
    remember(src, {made.key: made})
    assert memo.records == {made.key: made}
    assert memo_hit(src, spec) is None
    with django_assert_num_queries(1):
        prefetch_thumbnails([photo], "image", [])
    assert is_complete(src)
    with django_assert_num_queries(0):
        assert memo_hit(src, spec) == made
        assert get_thumbnail(photo.image, "small") == made


@pytest.mark.django_db
def test_a_memo_answers_only_for_the_file_it_was_filled_for(fs_media: Media) -> None:
    photo = Photo.objects.get(pk=make_photo().pk)
    made = stored(get_thumbnail(photo.image, "small"))
    photo.image.name = "photos/not-there.jpg"  # the same object, now another file
    src = coerce(photo.image)
    assert not is_complete(src)
    assert memo_hit(src, get_spec("small")) is None
    with pytest.raises(SourceMissing):  # looked up for real: the old thumbnail is not shown
        get_thumbnail(photo.image, "small")
    photo.image.name = made.source_name
    assert get_thumbnail(photo.image, "small") == made


def test_fill_replaces_everything_and_clear_forgets_everything() -> None:
    src = coerce("photos/a.jpg")
    version = version_record(src, "v2")
    memo = Memo()
    memo.records["learnt before"] = version
    memo.fill(src.location, {version.key: version}, "v2")
    assert (memo.location, memo.version, memo.identity, memo.records) == (
        src.location,
        "v2",
        f"{src.location}@v2",
        {version.key: version},
    )
    memo.clear()
    assert (memo.location, memo.version, memo.identity, memo.records) == (None, "", "", {})
    assert repr(memo) == "<Memo partial, 0 records>"


@pytest.mark.django_db
def test_a_new_version_of_the_source_gives_new_keys(fs_media: Media) -> None:
    photo = make_photo()
    old = get_thumbnail(photo.image, "small")
    memo = memo_of(photo.image)
    assert memo.version == ""
    delete(photo.image, delete_file=False)  # the source changed: it gets a new version
    assert (memo.location, memo.identity, memo.records) == (None, "", {})
    new = get_thumbnail(photo.image, "small")
    stored = ThumbnailRecord.objects.get(spec=VERSION_SPEC).name
    src = coerce(photo.image)
    assert memo.version == stored != ""
    assert memo.identity == f"{src.location}@{stored}"
    assert new.key == key_for(f"{src.location}@{stored}", get_spec("small")) != old.key
    assert new.name != old.name
    assert memo_hit(src, get_spec("small")) == new
    fresh = Photo.objects.get(pk=photo.pk)
    assert get_thumbnail(fresh.image, "small") == new


@pytest.mark.django_db(transaction=True)
def test_an_overwritten_source_forgets_its_memo(media: Media) -> None:
    red = images.encode(images.make_image((400, 300), color=(200, 0, 0)), "JPEG")
    photo = OverwritePhoto.objects.create(image=ContentFile(red, name="same.jpg"))
    old = get_thumbnail(photo.image, "small")
    assert memo_of(photo.image).records[old.key] == old
    photo.image.save("same.jpg", ContentFile(images.jpeg((400, 300))))
    assert photo.image.name == old.source_name
    assert ATTRIBUTE not in vars(photo.image)  # the object stays, its memo does not
    new = get_thumbnail(photo.image, "small")
    assert new.key != old.key
    assert memo_of(photo.image).version == ThumbnailRecord.objects.get(spec=VERSION_SPEC).name


@pytest.mark.django_db
@pytest.mark.parametrize(
    "clone",
    [lambda obj: pickle.loads(pickle.dumps(obj)), copy.deepcopy],
    ids=["pickle", "deepcopy"],
)
def test_pickled_and_copied_instances_start_without_a_memo(
    fs_media: Media, clone: Callable[[Any], Any], django_assert_num_queries: Any
) -> None:
    photo = Photo.objects.get(pk=make_photo().pk)
    made = get_thumbnail(photo.image, "small")
    copied = clone(photo)
    assert ATTRIBUTE not in vars(copied.image)  # Django's FieldFile keeps only its own state
    with django_assert_num_queries(1):  # the copy reads the store again, once
        assert get_thumbnail(copied.image, "small") == made
    assert memo_of(copied.image) is not memo_of(photo.image)
    with django_assert_num_queries(0):
        assert get_thumbnail(photo.image, "small") == made


def test_a_memo_pickles_with_its_records() -> None:
    # A plain File pickles its __dict__, memo included: the slots travel.
    src = coerce("photos/a.jpg")
    record = version_record(src, "v1")
    memo = Memo()
    memo.fill(src.location, {record.key: record}, "v1")
    for again in (pickle.loads(pickle.dumps(memo)), copy.deepcopy(memo)):
        assert (again.location, again.version, again.identity, again.records) == (
            memo.location,
            "v1",
            f"{memo.location}@v1",
            {record.key: record},
        )


def _string_constants() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.setdefault(node.value, []).append(str(path.relative_to(SRC)))
    return found


def test_no_string_slot_is_left_in_the_source() -> None:
    strings = _string_constants()
    assert "@complete" not in strings
    assert "@fast" not in strings
    # "@version" is stored data (the version pseudo-record's spec), named once.
    assert strings["@version"] == ["lookup/batch.py"]
    assert strings[ATTRIBUTE] == ["lookup/memo.py"]  # the attribute name is written in one place


@pytest.mark.django_db
def test_a_row_with_a_manifest_answers_from_it_without_the_batch_machinery(
    fs_media: Media, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    """A manifest row is its own batch: the first lookup on a freshly loaded row fills the
    memo from the column and answers, with no store read and no batch step."""
    from tests.testapp.models import ManifestProfile
    from thumbkit.lookup import api

    made = ManifestProfile.objects.create(photo=ContentFile(images.jpeg((400, 300)), name="m.jpg"))
    expected = {name: stored(getattr(made.photo.thumbnails, name)) for name in ("small", "card")}
    row = ManifestProfile.objects.get(pk=made.pk)
    monkeypatch.setattr(api, "resolve", None)  # the batch path: not taken
    with django_assert_num_queries(0):
        assert stored(get_thumbnail(row.photo, "small")) == expected["small"]
        assert stored(row.photo.thumbnails.card) == expected["card"]
    assert memo_of(row.photo).location == coerce(row.photo).location  # complete
    monkeypatch.undo()
    # A spec the manifest does not hold is made as before (the lazy strategy).
    other = stored(get_thumbnail(row.photo, "33x33"))
    assert (other.width, other.height) == (33, 25)

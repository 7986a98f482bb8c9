"""ImageSpecField: imagekit's virtual spec field, on thumbkit's store, batching and lifecycle.

The models are in tests/testapp/models.py (IKProfile, IKOptimistic); the generators used by
id are registered in tests/testapp/imagegenerators.py, which only autodiscovery imports.
Real files, real records: sizes are read back from the stored bytes.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from django.core.management import call_command
from django.db import models, transaction
from django.template import Context, Template
from django.test.utils import isolate_apps

from tests import images
from tests.batching_util import keys_in, redis_store, source_keys
from tests.fields_util import decoded, files, media, records, thumb_files, upload, url_path
from tests.s3 import Media
from tests.stores_util import index_read, redis_trips
from tests.testapp.models import IKOptimistic, IKProfile
from thumbkit import register
from thumbkit.adapters.specfields import ImageFieldSourceGroup, spec_fields
from thumbkit.exceptions import ConfigurationError
from thumbkit.fields import ImageSpecField
from thumbkit.lookup import api
from thumbkit.lookup.stores import get_store
from thumbkit.processors import ResizeToFill

__all__ = ["media"]  # a fixture

pytestmark = pytest.mark.django_db(transaction=True)

HAS_TASKS = bool(
    importlib.util.find_spec("django.tasks") or importlib.util.find_spec("django_tasks")
)


def made(media: Media) -> dict[str, tuple[tuple[int, int], str]]:
    """Every generated file, with the pixel size and format its bytes decode to."""
    return {name: decoded(media, name) for name in thumb_files(media)}


# -- access -------------------------------------------------------------------------------


def test_readme_example(media: Media) -> None:
    profile = IKProfile.objects.create(avatar=upload("me.jpg", (400, 300)))
    profile = IKProfile.objects.get(pk=profile.pk)
    thumb = profile.avatar_thumbnail
    assert (thumb.width, thumb.height) == (100, 50)
    assert url_path(thumb.url) == thumb.name
    assert str(thumb) == thumb.url
    assert thumb
    assert thumb.name.endswith(".jpg")
    assert decoded(media, url_path(thumb.url)) == ((100, 50), "JPEG")
    assert profile.avatar.name == "ikavatars/me.jpg"  # the source is kept


def test_shorthand_and_long_form_ids(media: Media) -> None:
    # The shorthand registers its generator as imagekit does: "<app>:<model>:<field>".
    assert "testapp:ikprofile:avatar_thumbnail" in register.ids(["testapp:ikprofile:*"])
    # The long form's generator comes from tests/testapp/imagegenerators.py (autodiscovered).
    assert register.get("testapp:ikprofile:avatar_small").__module__ == (
        "tests.testapp.imagegenerators"
    )
    profile = IKProfile.objects.create(avatar=upload("me.jpg", (300, 200)))
    small = profile.avatar_small
    assert (small.width, small.height) == (40, 40)
    assert decoded(media, small.name) == ((40, 40), "PNG")
    # Same thumbnail as the generator used directly with the same source.
    direct = register.make("testapp:ikprofile:avatar_small", source=profile.avatar).thumbnail()
    assert direct.name == small.name


def test_specs_that_change_with_the_row(media: Media) -> None:
    wide = IKProfile.objects.create(avatar=upload("a.jpg"), thumbnail_width=80, thumbnail_height=20)
    tall = IKProfile.objects.create(avatar=upload("b.jpg"), thumbnail_width=20, thumbnail_height=70)
    assert decoded(media, wide.avatar_sized.name) == ((80, 20), "JPEG")
    assert decoded(media, tall.avatar_sized.name) == ((20, 70), "JPEG")


def test_empty_source_is_falsy_without_error(media: Media) -> None:
    profile = IKProfile.objects.create(name="nobody")
    thumb = profile.avatar_thumbnail
    assert not thumb
    assert (thumb.url, thumb.name, str(thumb)) == ("", "", "")
    html = Template(
        '{% if not p.avatar_thumbnail %}<img src="/static/none.png">'
        '{% else %}<img src="{{ p.avatar_thumbnail.url }}">{% endif %}'
    ).render(Context({"p": profile}))
    assert html == '<img src="/static/none.png">'
    assert thumb_files(media) == []


def test_template_use(media: Media) -> None:
    profile = IKProfile.objects.create(avatar=upload("me.jpg"))
    html = Template('<img src="{{ p.avatar_thumbnail.url }}">').render(Context({"p": profile}))
    assert html == f'<img src="{profile.avatar_thumbnail.url}">'
    assert url_path(profile.avatar_thumbnail.url).startswith("thumbs/")


def test_virtual_no_column_no_migration() -> None:
    names = {f.name for f in IKProfile._meta.get_fields()}
    assert "avatar_thumbnail" not in names
    assert "avatar" in names
    assert isinstance(IKProfile.avatar_thumbnail, ImageSpecField)
    call_command("makemigrations", "testapp", "--check", "--dry-run", verbosity=0)


def test_cannot_be_assigned(media: Media) -> None:
    profile = IKProfile(avatar="x.jpg")
    with pytest.raises(AttributeError, match="assign that field instead"):
        profile.avatar_thumbnail = "y.jpg"


def test_field_arguments() -> None:
    with pytest.raises(TypeError, match="either spec= or processors"):
        ImageSpecField(source="a", processors=[ResizeToFill(1, 1)], spec=object)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="deferred"):
        ImageSpecField(source="a", cachefile_backend="imagekit.cachefiles.backends.Async")
    moved = ImageSpecField(
        source="a",
        processors=[ResizeToFill(1, 1)],
        cachefile_strategy="imagekit.cachefiles.strategies.Optimistic",
        autoconvert=False,
    )
    assert moved._overrides == {"strategy": "optimistic"}


@isolate_apps("tests.testapp")
def test_source_inferred_when_the_model_has_one_image_field() -> None:
    class Inferred(models.Model):
        picture = models.ImageField()
        thumb = ImageSpecField(processors=[ResizeToFill(10, 10)])

        class Meta:
            app_label = "testapp"

        def __str__(self) -> str:
            return self.picture.name or ""

    try:
        assert Inferred.thumb.source == "picture"
        assert spec_fields(Inferred, "picture") == [Inferred.thumb]
    finally:
        register.unregister("testapp:inferred:thumb")


# -- batching -----------------------------------------------------------------------------


def _rows(media: Media, count: int) -> list[str]:
    """``count`` rows with distinct source files, their thumbnails made (warm)."""
    data = images.jpeg((120, 90))
    names = [f"ikavatars/r{i:03}.jpg" for i in range(count)]
    for name in names:
        media.write(name, data)
    IKProfile.objects.bulk_create(
        IKProfile(name=str(i), avatar=n, thumbnail_width=10 + i) for i, n in enumerate(names)
    )
    for row in IKProfile.objects.all():
        field_specs = [IKProfile.avatar_thumbnail.spec_for(row.avatar)]
        field_specs.append(IKProfile.avatar_sized.spec_for(row.avatar))
        api.ensure(row.avatar, field_specs)
    return names


def _page() -> list[IKProfile]:
    from django.core.signals import request_started

    request_started.send(sender=None)  # a new request: no open cohort from the set-up
    return list(IKProfile.objects.all())


@pytest.mark.parametrize("count", [1, 10, 100])
def test_list_page_costs_one_query(
    media: Media, count: int, django_assert_num_queries: Any
) -> None:
    names = _rows(media, count)
    page = _page()
    with django_assert_num_queries(1) as captured:
        seen = [(row.avatar_thumbnail.url, row.avatar_sized.width) for row in page]
    assert keys_in(captured.captured_queries[0]["sql"]) == source_keys(names)
    assert [w for _, w in seen] == [10 + i for i in range(count)]
    assert len({url for url, _ in seen}) == count
    before = len(thumb_files(media))
    with django_assert_num_queries(0):  # memoised on the rows now
        [row.avatar_thumbnail.height for row in page]
    assert len(thumb_files(media)) == before == 2 * count


@pytest.mark.parametrize("count", [1, 10, 100])
def test_list_page_on_redis_costs_one_round_trip(
    media: Media,
    count: int,
    redis_client: Any,
    redis_prefix: str,
    django_assert_num_queries: Any,
) -> None:
    from tests.conftest import thumbkit_settings

    try:
        with thumbkit_settings(**redis_store(redis_prefix)):
            names = _rows(media, count)
            page = _page()
            get_store().get_many(["warm-up"])  # connect outside the count
            with django_assert_num_queries(0), redis_trips() as trips:
                urls = [row.avatar_thumbnail.url for row in page]
            assert trips.calls == [index_read(len(names))]
            assert len(set(urls)) == count
    finally:
        for key in redis_client.scan_iter(match=f"{redis_prefix}*"):
            redis_client.delete(key)


# -- the source is saved ------------------------------------------------------------------


@pytest.mark.skipif(not HAS_TASKS, reason="deferred generation needs a Tasks framework")
def test_strategies_act_when_the_source_is_saved(media: Media) -> None:
    row = IKOptimistic.objects.create(avatar=upload("first.jpg", (300, 300)))
    # optimistic: made after commit (60x60 PNG); deferred: enqueued, and Django's default
    # immediate backend ran it (30x30 JPEG); lazy: nothing until asked for.
    assert sorted(made(media).values()) == [((30, 30), "JPEG"), ((60, 60), "PNG")]
    first = set(thumb_files(media))

    row.avatar = upload("second.jpg", (200, 100))
    row.save()
    # The old file's thumbnails (files and records) are gone; the new one's are made.
    after = made(media)
    assert not first & set(after)
    assert sorted(after.values()) == [((30, 30), "JPEG"), ((60, 60), "PNG")]
    assert {r.source_name for r in records()} == {row.avatar.name}

    row.avatar = ""
    row.save()
    assert thumb_files(media) == []
    assert records() == []


def test_rollback_makes_nothing(media: Media) -> None:
    with transaction.atomic():
        IKOptimistic.objects.create(avatar=upload("first.jpg"))
        transaction.set_rollback(True)
    assert thumb_files(media) == []
    assert records() == []


def test_lazy_thumbnails_of_a_replaced_source_go(media: Media) -> None:
    profile = IKProfile.objects.create(avatar=upload("a.jpg"))
    assert thumb_files(media) == []  # lazy: nothing made on save
    old = {profile.avatar_thumbnail.name, profile.avatar_small.name}
    assert set(thumb_files(media)) == old
    profile.avatar = upload("b.jpg")
    profile.save()
    assert thumb_files(media) == []
    assert records() == []
    assert profile.avatar_thumbnail.name not in old


def test_deleting_the_row_removes_its_thumbnails(media: Media) -> None:
    profile = IKProfile.objects.create(avatar=upload("a.jpg"))
    assert profile.avatar_thumbnail
    assert profile.avatar_small
    assert len(thumb_files(media)) == 2
    IKProfile.objects.get(pk=profile.pk).delete()
    assert thumb_files(media) == []
    assert records() == []
    assert files(media, "ikavatars") == ["ikavatars/a.jpg"]  # Django keeps the source


def test_saving_other_fields_does_nothing(media: Media) -> None:
    row = IKOptimistic.objects.create(avatar=upload("first.jpg"))
    before = made(media)
    row = IKOptimistic.objects.get(pk=row.pk)
    row.save()
    row.save(update_fields=["avatar"])
    assert made(media) == before


# -- source groups ------------------------------------------------------------------------


def test_each_spec_field_registers_a_source_group(
    media: Media, django_assert_num_queries: Any
) -> None:
    for id in (
        "testapp:ikprofile:avatar_thumbnail",
        "testapp:ikprofile:avatar_small",
        "testapp:avatar_sized",
    ):
        groups = register.source_groups(id)
        assert [(type(g), g.model_class, g.image_field) for g in groups] == [
            (ImageFieldSourceGroup, IKProfile, "avatar")
        ]
    IKProfile.objects.create(avatar=upload("a.jpg"))
    IKProfile.objects.create(name="empty")
    IKProfile.objects.create(avatar=upload("b.jpg"))
    (group,) = register.source_groups("testapp:ikprofile:avatar_thumbnail")
    with django_assert_num_queries(1) as captured:
        found = list(group.files())
    assert [f.name for f in found] == ["ikavatars/a.jpg", "ikavatars/b.jpg"]
    sql = captured.captured_queries[0]["sql"]
    assert '"thumbnail_width"' not in sql
    assert '"name"' not in sql
    # What generateimages does with them: the generator per source, stored and recorded.
    for file in found:
        register.make("testapp:ikprofile:avatar_thumbnail", source=file).thumbnail()
    assert sorted(made(media).values()) == [((100, 50), "JPEG")] * 2

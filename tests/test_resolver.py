"""One spec resolver (``thumbkit.lookup.resolver``): the same name means the same spec everywhere.

Precedence for a name: (1) a thumbnail declared on the source's field, (2) THUMBKIT["SPECS"],
(3) a registered generator id, else (4) a geometry string. ``ManifestProfile.photo``
declares "card" as a 320x240 JPEG crop, while SPECS["card"] is a 320x240 WebP at quality 80:
every entry point given that row's photo and "card" must give the declared one (same key,
same file), and every entry point without a field (a storage name, a plain ImageField, a
bare ``get_spec``) the SPECS one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template import Context, Template

from tests import images
from tests.conftest import thumbkit_settings
from tests.testapp.models import IKProfile, ManifestProfile, Photo, Profile
from thumbkit import ImageSpec, register
from thumbkit.admin import AdminThumbnail, thumbnail_of
from thumbkit.core.spec import Spec, parse
from thumbkit.exceptions import ConfigurationError, InvalidSpec
from thumbkit.lookup import api, refs, resolver
from thumbkit.lookup.keys import thumbnail_key
from thumbkit.lookup.source import coerce
from thumbkit.processors import ResizeToFill

pytestmark = pytest.mark.django_db

DECLARED_CARD = parse("320x240 crop=center")  # ManifestProfile.photo's "card"
SPECS_CARD = parse("320x240 crop=center format=webp quality=80")  # THUMBKIT["SPECS"]["card"]
AVATAR_ID = "testapp:ikprofile:avatar_small"  # tests/testapp/imagegenerators.py: 40x40 PNG


class Wide(ImageSpec):
    processors = [ResizeToFill(90, 30)]
    format = "PNG"


class Tall(ImageSpec):
    processors = [ResizeToFill(30, 90)]
    format = "PNG"


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def row(media: Path) -> ManifestProfile:
    return ManifestProfile.objects.create(photo=ContentFile(images.jpeg((400, 300)), name="m.jpg"))


@pytest.fixture
def avatar_row(media: Path) -> IKProfile:
    return IKProfile.objects.create(avatar=ContentFile(images.jpeg((400, 300)), name="a.jpg"))


@pytest.fixture
def generator_ids() -> Iterator[None]:
    register.generator("testresolver:wide", Wide)
    try:
        yield
    finally:
        register.unregister("testresolver:wide")


def spec_field(row: IKProfile, name: str) -> Any:
    """An ImageSpecField's value (its descriptor gives a thumbnail; the stubs see the field)."""
    return getattr(row, name)


def render(text: str, **context: Any) -> str:
    return Template("{% load thumbkit %}" + text).render(Context(context))


def srcs(html: str) -> list[str]:
    return re.findall(r'src="([^"]+)"', html)


def fetch(row: ManifestProfile) -> ManifestProfile:
    """A newly loaded copy of ``row``: nothing memoised on its file."""
    return ManifestProfile.objects.get(pk=row.pk)


# --- the same answer at every entry point ------------------------------------------------


def test_a_declared_name_is_the_declared_spec_at_every_entry_point(row: ManifestProfile) -> None:
    expected = api.get_thumbnail(row.photo, "card")
    assert expected.width == 320
    assert expected.height == 240
    assert expected.name.endswith(".jpg")  # the declared JPEG, not SPECS' WebP
    key = thumbnail_key(coerce(row.photo), DECLARED_CARD)
    assert resolver.resolve("card", row.photo) == DECLARED_CARD
    url = expected.url
    names = {
        "get_thumbnail": api.get_thumbnail(fetch(row).photo, "card").url,
        "aget_thumbnail": asyncio.run(api.aget_thumbnail(fetch(row).photo, "card")).url,
        "thumbnails[]": fetch(row).photo.thumbnails["card"].url,
        "thumbnails.attr": fetch(row).photo.thumbnails.card.url,
        "block tag": render(
            '{% thumbnail p.photo "card" as t %}{{ t.url }}{% endthumbnail %}', p=fetch(row)
        ),
        "inline tag": srcs(render('{% thumbnail p.photo "card" %}', p=fetch(row)))[0],
        "thumbnail_url filter": render('{{ p.photo|thumbnail_url:"card" }}', p=fetch(row)),
        "thumbnail_url tag": render('{% thumbnail_url p.photo "card" %}', p=fetch(row)),
        "picture": srcs(render('{% picture p.photo "card" %}', p=fetch(row)))[0],
        "admin column": srcs(AdminThumbnail(image_field="photo", spec="card")(fetch(row)))[0],
        "admin preview": thumbnail_of(fetch(row).photo, "card").url,
    }
    assert names == dict.fromkeys(names, url)
    name = str(row.photo.name)
    prefetched = api.prefetch_thumbnails([fetch(row)], "photo", ["card"])[(name, "card")]
    fetched = api.fetch_thumbnails([fetch(row).photo], ["card"])[(name, "card")]
    assert prefetched is not None
    assert fetched is not None
    assert prefetched.key == fetched.key == key
    # What the endpoint and the tasks rebuild from the spec's reference is the same spec.
    declared = row._meta.get_field("photo").declared_spec("card")
    assert refs.spec_from_ref(refs.require(declared, "deferred"), source=row.photo) == DECLARED_CARD


def test_without_a_declaring_field_the_name_is_the_settings_spec(
    row: ManifestProfile, media: Path
) -> None:
    name = default_storage.save("plain/p.jpg", ContentFile(images.jpeg((400, 300))))
    photo = Photo.objects.create(image=name)
    assert api.get_spec("card") == SPECS_CARD
    assert resolver.resolve("card") == SPECS_CARD
    assert resolver.resolve("card", name) == SPECS_CARD  # a storage name has no field
    assert resolver.resolve("card", photo.image) == SPECS_CARD  # a plain models.ImageField
    assert api.get_thumbnail(photo.image, "card").name.endswith(".webp")
    assert render('{{ p.image|thumbnail_url:"card" }}', p=photo).endswith(".webp")
    assert srcs(render('{% thumbnail p.image "card" %}', p=photo))[0].endswith(".webp")
    assert srcs(AdminThumbnail(image_field="image", spec="card")(photo))[0].endswith(".webp")
    # Profile declares "card": "card": the declared value is resolved without a source.
    assert Profile._meta.get_field("photo").declared_spec("card") == SPECS_CARD


def test_a_generator_id_is_the_generator_spec_at_every_entry_point(avatar_row: IKProfile) -> None:
    expected: Any = avatar_row.avatar_small
    assert (expected.width, expected.height) == (40, 40)
    assert expected.name.endswith(".png")
    spec = register.make(AVATAR_ID, source=avatar_row.avatar).spec
    assert resolver.resolve(AVATAR_ID, avatar_row.avatar) == spec
    assert api.get_spec(AVATAR_ID) == spec
    url = expected.url

    def p() -> IKProfile:
        return IKProfile.objects.get(pk=avatar_row.pk)

    tag_id = f'"{AVATAR_ID}"'
    warm = p()
    prefetched = api.prefetch_thumbnails([warm], "avatar", [AVATAR_ID])
    found = prefetched[(str(avatar_row.avatar.name), AVATAR_ID)]
    assert found is not None
    assert found.url == url
    names = {
        "get_thumbnail": api.get_thumbnail(p().avatar, AVATAR_ID).url,
        # On the prefetched object: the worker thread must not read SQLite mid-transaction.
        "aget_thumbnail": asyncio.run(api.aget_thumbnail(warm.avatar, AVATAR_ID)).url,
        "ImageSpecField": spec_field(p(), "avatar_small").url,
        "ImageSpec": register.make(AVATAR_ID, source=p().avatar).thumbnail().url,
        "generateimage": srcs(render(f"{{% generateimage {tag_id} source=p.avatar %}}", p=p()))[0],
        "block tag": render(
            f"{{% thumbnail p.avatar {tag_id} as t %}}{{{{ t.url }}}}{{% endthumbnail %}}", p=p()
        ),
        "inline tag": srcs(render(f"{{% thumbnail p.avatar {tag_id} %}}", p=p()))[0],
        "thumbnail_url": render(f"{{{{ p.avatar|thumbnail_url:{tag_id} }}}}", p=p()),
        "admin column": srcs(AdminThumbnail(image_field="avatar", spec=AVATAR_ID)(p()))[0],
    }
    assert names == dict.fromkeys(names, url)
    assert refs.spec_from_ref(refs.require(spec, "deferred"), source=avatar_row.avatar) == spec


def test_a_generator_whose_spec_reads_the_source_is_made_for_that_source(media: Path) -> None:
    small = IKProfile.objects.create(
        avatar=ContentFile(images.jpeg((400, 300)), name="s.jpg"),
        thumbnail_width=20,
        thumbnail_height=10,
    )
    big = IKProfile.objects.create(avatar=ContentFile(images.jpeg((400, 300)), name="b.jpg"))
    sizes = [
        (t.width, t.height)
        for t in (api.get_thumbnail(r.avatar, "testapp:avatar_sized") for r in (small, big))
    ]
    assert sizes == [(20, 10), (40, 30)]
    assert [spec_field(r, "avatar_sized").width for r in (small, big)] == [20, 40]


# --- precedence ----------------------------------------------------------------------------


def test_precedence_declared_then_settings_then_generator_then_geometry(
    row: ManifestProfile, generator_ids: None
) -> None:
    register.generator("card", Wide)
    register.generator("small", Wide)
    register.generator("60x60", Tall)
    try:
        # (1) beats (2) and (3): the field's "card", though SPECS and the registry have one.
        assert resolver.resolve("card", row.photo) == DECLARED_CARD
        # (2) beats (3): without a field, SPECS["card"] wins over the generator "card".
        assert resolver.resolve("card") == SPECS_CARD
        assert resolver.resolve("small") == parse("100x100 crop=center")
        # (3) beats (4): a registered id wins over the geometry it looks like.
        assert resolver.resolve("60x60") == Tall().spec
        assert resolver.resolve("60x60", row.photo) == Tall().spec
        # (3) for a name nothing else knows.
        assert resolver.resolve("testresolver:wide", row.photo) == Wide().spec
        # (4) otherwise: a geometry string with options.
        assert resolver.resolve("70x70", row.photo, {"crop": "center"}) == parse("70x70 crop")
    finally:
        for id in ("card", "small", "60x60"):
            register.unregister(id)
    assert resolver.resolve("60x60") == parse("60x60")


def test_options_apply_on_top_of_every_kind_of_name(
    row: ManifestProfile, generator_ids: None
) -> None:
    assert resolver.resolve("card", row.photo, {"quality": 50}) == parse(
        "320x240 crop=center quality=50"
    )
    assert resolver.resolve("card", None, {"quality": 50}) == parse(
        "320x240 crop=center format=webp quality=50"
    )
    wide = resolver.resolve("testresolver:wide", row.photo, {"quality": 50})
    assert wide.processors == Wide().spec.processors
    assert wide.quality == 50
    thumb = api.get_thumbnail(row.photo, "card", format="png")
    assert thumb.name.endswith(".png")
    assert (thumb.width, thumb.height) == (320, 240)


def test_specs_and_generator_classes_and_objects_resolve_as_themselves(
    row: ManifestProfile,
) -> None:
    spec = Spec(50, None)
    assert resolver.resolve(spec, row.photo) is spec
    assert resolver.resolve(Wide, row.photo) == Wide().spec
    assert resolver.resolve(Wide(), row.photo) == Wide().spec
    with pytest.raises(ConfigurationError, match="no Spec"):
        resolver.resolve(object(), row.photo)


# --- unknown and invalid names -------------------------------------------------------------


@pytest.mark.parametrize("name", ["nosuch", "testresolver:gone", "10x", "0x0", ""])
def test_unknown_names_raise_invalid_spec_everywhere(row: ManifestProfile, name: str) -> None:
    with pytest.raises(InvalidSpec):
        api.get_spec(name)
    with pytest.raises(InvalidSpec):
        api.get_thumbnail(row.photo, name)
    with pytest.raises(InvalidSpec):
        render("{% thumbnail p.photo name %}", p=row, name=name)
    with pytest.raises(InvalidSpec):
        render("{{ p.photo|thumbnail_url:name }}", p=row, name=name)
    with pytest.raises(InvalidSpec):
        api.prefetch_thumbnails([row], "photo", [name])


def test_a_declared_name_needs_no_settings_spec(row: ManifestProfile) -> None:
    # With no SPECS at all, the field's "card" still resolves, and only for its sources.
    with thumbkit_settings(SPECS={}):
        assert resolver.resolve("card", row.photo) == DECLARED_CARD
        with pytest.raises(InvalidSpec):
            resolver.resolve("card")


# --- caching -------------------------------------------------------------------------------


def test_answers_are_cached_and_follow_settings_and_registry_changes(
    row: ManifestProfile,
) -> None:
    assert resolver.resolve("card") is resolver.resolve("card")
    assert resolver.resolve("70x70 crop") is api.get_spec("70x70 crop")
    field = ManifestProfile._meta.get_field("photo")
    assert resolver.resolve("card", row.photo) is field.declared_spec("card")
    declared_on_profile = Profile._meta.get_field("photo")
    with thumbkit_settings(SPECS={"card": "200x100"}):
        assert resolver.resolve("card") == parse("200x100")
        # A declared "card": "card" follows the setting too.
        assert declared_on_profile.declared_spec("card") == parse("200x100")
    assert declared_on_profile.declared_spec("card") == SPECS_CARD
    register.generator("testresolver:swap", Wide)
    try:
        assert resolver.resolve("testresolver:swap") == Wide().spec
        register.unregister("testresolver:swap")
        register.generator("testresolver:swap", Tall)
        assert resolver.resolve("testresolver:swap") == Tall().spec  # not a stale answer
    finally:
        register.unregister("testresolver:swap")
    with pytest.raises(InvalidSpec):
        resolver.resolve("testresolver:swap")


def test_a_warm_lookup_resolves_nothing_again(
    row: ManifestProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.get_thumbnail(row.photo, "card")
    calls: list[Any] = []
    real = resolver._resolve_name

    def counted(*args: Any) -> tuple[Spec, bool]:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(resolver, "_resolve_name", counted)
    monkeypatch.setattr(api, "coerce", None)  # no Source is made either
    for _ in range(3):
        api.get_thumbnail(row.photo, "card")
    assert calls == []  # the resolver's answer, and the file object's memo


def test_a_page_resolves_a_name_once_per_field(
    media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The precedence runs once per (field, name); the rows after the first pay a dict lookup.
    A generator id is asked for each source: its spec may read the source."""
    declaring = [
        ManifestProfile.objects.create(photo=ContentFile(images.jpeg((80, 60)), name=f"{i}.jpg"))
        for i in range(5)
    ]
    plain = [
        Photo.objects.create(image=ContentFile(images.jpeg((80, 60)), name=f"p{i}.jpg"))
        for i in range(3)
    ]
    calls: list[tuple[str, Any]] = []
    real = resolver._resolve_name

    def counted(value: str, field: Any, source: Any, options: Any) -> tuple[Spec, bool]:
        calls.append((value, field))
        return real(value, field, source, options)

    monkeypatch.setattr(resolver, "_resolve_name", counted)
    resolver._answers.clear()
    names = ["card", "small", "40x40"]
    assert len(api.prefetch_thumbnails(declaring, "photo", names)) == 15
    assert len(api.prefetch_thumbnails(plain, "image", names)) == 9
    for row in ManifestProfile.objects.all():
        assert api.get_thumbnail(row.photo, "card").name.endswith(".jpg")  # declared
    for photo in Photo.objects.all():
        assert api.get_thumbnail(photo.image, "card").name.endswith(".webp")  # SPECS
    assert len(calls) == len(set(calls))  # nothing resolved twice
    # 3 names x 2 fields; the rest are the declared values, resolved once without a field.
    assert len([call for call in calls if call[1] is not None]) == 6
    calls.clear()
    avatars = [
        IKProfile.objects.create(avatar=ContentFile(images.jpeg((80, 60)), name=f"a{i}.jpg"))
        for i in range(3)
    ]
    for avatar in avatars:
        api.get_thumbnail(avatar.avatar, AVATAR_ID)
    assert len(calls) == 3


def test_whether_a_field_follows_focal_points_is_decided_once_per_field(
    media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field with no ``focal_point_field`` is never asked for a point (a page pays one dict
    lookup per thumbnail); any other field with a ``focal_point_of`` is asked on every
    lookup, so a point written on the row is followed at once."""
    row = Profile.objects.create(photo=ContentFile(images.jpeg((80, 60)), name="plain.jpg"))
    asked: list[Any] = []
    field = Profile._meta.get_field("photo")
    assert field.focal_point_field is None  # thumbkit's ImageField, keeping no points
    monkeypatch.setattr(field, "focal_point_of", lambda f: asked.append(f) or None)
    resolver._answers.clear()
    centre = parse("60x60 crop=center")
    for _ in range(3):
        assert resolver.resolve("60x60", row.photo, {"crop": "center"}) == centre
    assert asked == []

    class Pointing:  # a third-party field: only the duck-typed reader
        def __init__(self) -> None:
            self.point: Any = None

        def focal_point_of(self, file: Any) -> Any:
            asked.append(file)
            return self.point

    class File:
        name = "pointing.jpg"
        field = Pointing()

    source = File()
    assert resolver.resolve("60x60", source, {"crop": "center"}) == centre
    source.field.point = resolver.FocalPoint(0.9, 0.1)
    moved = resolver.resolve("60x60", source, {"crop": "center"})
    assert moved.focal == resolver.FocalPoint(0.9, 0.1)
    assert resolver.resolve("60x60", source) == parse("60x60")  # no crop: not asked
    assert asked == [source, source]

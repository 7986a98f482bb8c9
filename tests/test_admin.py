"""The admin: AdminThumbnail columns (batched: one store round trip per changelist page) and
the change form's image preview. Models and admins: tests/testapp/models.py and admin.py."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.widgets import AdminFileWidget
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models
from django.test import Client
from django.urls import reverse
from PIL import Image

from tests import images
from tests.api_support import Images
from tests.batching_util import forget_prefix, queries, redis_store
from tests.conftest import thumbkit_settings
from tests.stores_util import index_read, redis_trips
from tests.testapp.admin import PhotoAdmin
from tests.testapp.models import IKProfile, Photo, Profile, StyledPhoto
from thumbkit import ImageSpec, get_thumbnail, register
from thumbkit.admin import (
    AdminImagePreviewWidget,
    AdminThumbnail,
    ThumbnailAdminMixin,
    prefetch_rows,
    thumbnail_columns,
)
from thumbkit.core.spec import Spec
from thumbkit.exceptions import ConfigurationError
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.thumbnail import Thumbnail
from thumbkit.processors import ResizeToFill

pytestmark = pytest.mark.django_db

ROWS = 100
LANDSCAPE, PORTRAIT = (240, 160), (150, 225)
STORE_TABLE = '"thumbkit_thumbnailrecord"'


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """sorl-thumbnail's fit inside ``box`` without upscaling."""
    scale = min(1.0, box[0] / size[0], box[1] / size[1])
    return round(size[0] * scale), round(size[1] * scale)


def source_size(i: int) -> tuple[int, int]:
    return LANDSCAPE if i % 2 == 0 else PORTRAIT


@pytest.fixture
def sources() -> Iterator[Callable[[str, int], list[str]]]:
    """Write ``n`` JPEG sources under a folder (landscape and portrait by turns)."""
    written: list[str] = []

    def write(folder: str, n: int) -> list[str]:
        data = {size: images.jpeg(size) for size in (LANDSCAPE, PORTRAIT)}
        names = []
        for i in range(n):
            name = f"{folder}/a-{i:03}.jpg"
            path = Path(settings.MEDIA_ROOT) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[source_size(i)])
            names.append(name)
        written.extend(names)
        return names

    yield write
    for name in written:
        if default_storage.exists(name):
            default_storage.delete(name)


def changelist(model: type[models.Model]) -> str:
    return reverse(f"admin:testapp_{model._meta.model_name}_changelist")


def change(obj: models.Model) -> str:
    return reverse(f"admin:testapp_{obj._meta.model_name}_change", args=[obj.pk])


def imgs(html: str, cls: str) -> list[dict[str, str | None]]:
    parser = Images()
    parser.feed(html)
    return [img for img in parser.found if img.get("class") == cls]


def cells(html: str, column: str) -> list[str]:
    """The contents of a changelist column's cells, row by row."""
    return re.findall(rf'<td class="field-{column}">(.*?)</td>', html, re.S)


def check_file(img: dict[str, str | None], size: tuple[int, int]) -> None:
    """The tag's URL names a thumbnail file of the size the tag states, and ``size`` it is."""
    src = str(img["src"])
    assert src.startswith(settings.MEDIA_URL)
    with Image.open(Path(settings.MEDIA_ROOT) / src.removeprefix(settings.MEDIA_URL)) as file:
        assert file.size == size
    assert (img["width"], img["height"]) == (str(size[0]), str(size[1]))


def photos(names: list[str]) -> list[Photo]:
    Photo.objects.bulk_create(Photo(title=f"photo {i}", image=n) for i, n in enumerate(names))
    return list(Photo.objects.order_by("pk"))


@pytest.fixture(params=["db", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """THUMBKIT settings of the metadata store under test."""
    if request.param == "db":
        yield {}
        return
    client = request.getfixturevalue("redis_client")
    prefix = request.getfixturevalue("redis_prefix")
    yield redis_store(prefix)
    forget_prefix(client, prefix)


# -- the changelist ---------------------------------------------------------------------


def test_changelist_of_100_photos_costs_one_store_round_trip(
    admin_client: Client, sources: Any, store: dict[str, Any]
) -> None:
    """A plain Django ImageField column: ThumbnailAdminMixin reads the page in one go."""
    rows = photos(sources("admin-plain", ROWS))
    url = changelist(Photo)
    with thumbkit_settings(**store):
        assert admin_client.get(url).status_code == 200  # makes the 100 thumbnails
        if store:
            get_store().get_many(["warm-up"])  # connect outside the budget
        with queries() as sql, redis_trips() as trips:
            response = admin_client.get(url)
    assert response.status_code == 200
    if store:
        assert sql.store_reads() == []
        assert trips.calls == [index_read(ROWS)], "one read for the whole page"
    else:
        assert len(sql.store_reads()) == 1, sql.show()
        assert trips.calls == []
    html = response.content.decode()
    found = imgs(html, "thumbkit-admin-thumbnail")
    assert len(found) == ROWS
    # Rows are listed newest first; each cell links its thumbnail to the source image.
    by_src = {str(img["src"]): img for img in found}
    for i, obj in enumerate(rows):
        thumb = get_thumbnail(obj.image, "100x100")
        img = by_src[thumb.url]
        check_file(img, fit(source_size(i), (100, 100)))
        assert f'<a href="{obj.image.url}" target="_blank" rel="noopener"><img' in html
    assert {fit(s, (100, 100)) for s in (LANDSCAPE, PORTRAIT)} == {(100, 67), (67, 100)}


def test_plain_rows_batch_without_the_mixin(sources: Any) -> None:
    """Django ImageField rows loaded together batch by themselves (``thumbkit.adapters.peers``): a
    column on its own reads every row's records at once, as ``prefetch_rows`` does."""
    photos(sources("admin-nomixin", 10))
    column = AdminThumbnail(image_field="image")
    for obj in Photo.objects.all():
        column(obj)  # make the thumbnails
    rows = list(Photo.objects.all())
    with queries() as sql:
        alone = [column(obj) for obj in rows]
    assert len(sql.store_reads()) == 1
    rows = list(Photo.objects.all())
    with queries() as sql:
        prefetch_rows(rows, [column])
        together = [column(obj) for obj in rows]
    assert len(sql.store_reads()) == 1
    assert together == alone
    assert all(imgs(html, "thumbkit-admin-thumbnail") for html in together)


def test_thumbkit_field_columns_share_one_store_read(admin_client: Client, sources: Any) -> None:
    """Two columns (a declared thumbnail and a spec string) on a thumbkit ImageField."""
    names = sources("admin-profile", ROWS)
    Profile.objects.bulk_create(Profile(name=f"p{i}", photo=n) for i, n in enumerate(names))
    url = changelist(Profile)
    assert admin_client.get(url).status_code == 200
    with queries() as sql:
        response = admin_client.get(url)
    assert len(sql.store_reads()) == 1, sql.show()
    html = response.content.decode()
    assert len(cells(html, "admin_thumbnail")) == len(cells(html, "card")) == ROWS
    assert "<th" in html
    assert ">Card<" in html
    assert ">Thumbnail<" in html
    found = imgs(html, "thumbkit-admin-thumbnail")
    assert len(found) == 2 * ROWS
    sizes = {(img["width"], img["height"]) for img in found}
    assert sizes == {("100", "100"), ("160", "107"), ("80", "120")}
    for img in found:
        check_file(img, (int(str(img["width"])), int(str(img["height"]))))


def test_no_mixin_thumbkit_rows_batch_by_themselves(admin_client: Client, sources: Any) -> None:
    """StyledPhotoAdmin has no mixin, a callable column and a custom template."""
    names = sources("admin-styled", 30)
    StyledPhoto.objects.bulk_create(StyledPhoto(image=n) for n in names)
    url = changelist(StyledPhoto)
    assert admin_client.get(url).status_code == 200
    with queries() as sql:
        response = admin_client.get(url)
    assert len(sql.store_reads()) == 1, sql.show()
    html = response.content.decode()
    assert html.count('<span class="custom-thumb" data-pk="') == 30
    found = imgs(html, "thumbkit-admin-thumbnail")
    assert len(found) == 30
    for img in found:
        check_file(img, (80, 60))


def test_image_spec_field_column_as_in_imagekit(admin_client: Client, sources: Any) -> None:
    """``AdminThumbnail(image_field=<an ImageSpecField>)`` on a plain ModelAdmin: the spec
    field's thumbnail (ResizeToFill(100, 50)), linked to its source; one store read."""
    names = sources("admin-ik", ROWS)
    IKProfile.objects.bulk_create(IKProfile(name=f"ik{i}", avatar=n) for i, n in enumerate(names))
    url = changelist(IKProfile)
    assert admin_client.get(url).status_code == 200
    with queries() as sql:
        response = admin_client.get(url)
    assert len(sql.store_reads()) == 1, sql.show()
    html = response.content.decode()
    found = imgs(html, "thumbkit-admin-thumbnail")
    assert len(found) == ROWS
    for img in found:
        check_file(img, (100, 50))
    for obj in IKProfile.objects.all():
        assert f'<a href="{obj.avatar.url}" target="_blank" rel="noopener"><img' in html


def test_missing_and_broken_sources_leave_an_empty_cell(
    admin_client: Client, sources: Any, caplog: pytest.LogCaptureFixture
) -> None:
    good = sources("admin-broken", 2)
    broken = default_storage.save("admin-broken/broken.jpg", ContentFile(b"not a jpeg"))
    try:
        objs = photos([good[0], "admin-broken/gone.jpg", broken, "", good[1]])
        with caplog.at_level(logging.WARNING, logger="thumbkit"):
            response = admin_client.get(changelist(Photo))
    finally:
        default_storage.delete(broken)
    assert response.status_code == 200
    html = response.content.decode()
    shown = cells(html, "admin_thumbnail")
    assert len(shown) == 5
    # Newest first: good[1], empty, broken, gone, good[0].
    assert [bool(cell) for cell in shown] == [True, False, False, False, True]
    assert len(imgs(html, "thumbkit-admin-thumbnail")) == 2
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "gone.jpg" in logged
    assert "broken.jpg" in logged
    assert objs[3].image.name == ""


@pytest.mark.parametrize(
    ("model", "field"),
    [(IKProfile, "avatar"), (StyledPhoto, "image")],
    ids=["spec-field", "callable"],
)
def test_columns_that_make_their_thumbnail_degrade_too(
    admin_client: Client, sources: Any, model: type[models.Model], field: str
) -> None:
    """An ImageSpecField or a callable makes the thumbnail while the attribute is read."""
    [good] = sources(f"admin-degrade-{field}", 1)
    model.objects.bulk_create([model(**{field: good}), model(**{field: "admin-degrade/gone.jpg"})])
    response = admin_client.get(changelist(model))
    assert response.status_code == 200
    shown = cells(response.content.decode(), "admin_thumbnail")
    assert sorted(bool(cell) for cell in shown) == [False, True]


# -- AdminThumbnail on its own ----------------------------------------------------------


class Banner(ImageSpec):
    processors = [ResizeToFill(90, 30)]
    format = "PNG"


@pytest.fixture
def photo(sources: Any) -> Photo:
    return photos(sources("admin-one", 1))[0]


@pytest.mark.parametrize(
    ("spec", "size", "fmt"),
    [
        (None, (100, 67), "JPEG"),
        ("60x60", (60, 40), "JPEG"),
        ("small", (100, 100), "JPEG"),  # THUMBKIT["SPECS"]
        (Spec(50, None), (50, 33), "JPEG"),
        (Banner, (90, 30), "PNG"),
        (Banner(), (90, 30), "PNG"),
        ("testadmin:banner", (90, 30), "PNG"),
    ],
)
def test_spec_forms(photo: Photo, spec: Any, size: tuple[int, int], fmt: str) -> None:
    register.generator("testadmin:banner", Banner)
    try:
        html = AdminThumbnail(image_field="image", spec=spec)(photo)
    finally:
        register.unregister("testadmin:banner")
    [img] = imgs(html, "thumbkit-admin-thumbnail")
    check_file(img, size)
    with Image.open(Path(settings.MEDIA_ROOT) / str(img["src"])[len(settings.MEDIA_URL) :]) as f:
        assert f.format == fmt
    assert img["alt"] == "Thumbnail"
    assert html.startswith(f'<a href="{photo.image.url}" target="_blank"')


def test_thumbnail_values_are_shown_as_they_are(photo: Photo) -> None:
    thumb = get_thumbnail(photo.image, "70x70")
    column = AdminThumbnail(image_field=lambda obj: thumb, attrs={"loading": "lazy"})
    [img] = imgs(column(photo), "thumbkit-admin-thumbnail")
    assert img["src"] == thumb.url
    assert img["loading"] == "lazy"
    check_file(img, (70, 47))
    assert isinstance(thumb, Thumbnail)


def test_empty_and_wrong_attributes(photo: Photo) -> None:
    assert AdminThumbnail(image_field=lambda obj: None)(photo) == ""
    with pytest.raises(ConfigurationError, match="Photo has no attribute 'thumbnail'"):
        AdminThumbnail()(photo)  # imagekit's default name
    with pytest.raises(ConfigurationError, match="expected a file field's file or a thumbnail"):
        AdminThumbnail(image_field="title")(photo)


def test_columns_are_found_by_name_and_by_object() -> None:
    column = AdminThumbnail(image_field="image")
    found = thumbnail_columns(PhotoAdmin(Photo, admin.site), ["__str__", "admin_thumbnail", column])
    assert found == [PhotoAdmin.admin_thumbnail, column]


# -- the change form --------------------------------------------------------------------


def test_change_form_shows_a_preview(admin_client: Client, photo: Photo) -> None:
    response = admin_client.get(change(photo))
    assert response.status_code == 200
    html = response.content.decode()
    [img] = imgs(html, "thumbkit-admin-preview")
    check_file(img, (200, 133))  # thumbnail_preview_spec = "200x200" (the default)
    assert f'<a href="{photo.image.url}" target="_blank" rel="noopener"><img' in html
    assert 'type="file" name="image"' in html  # the admin's own input is still there
    widget = response.context["adminform"].form.fields["image"].widget
    assert type(widget) is AdminImagePreviewWidget


def test_change_form_preview_spec_is_configurable(admin_client: Client, sources: Any) -> None:
    profile = Profile.objects.create(name="p", photo=sources("admin-pform", 2)[1])
    html = admin_client.get(change(profile)).content.decode()
    [img] = imgs(html, "thumbkit-admin-preview")
    check_file(img, fit(PORTRAIT, (150, 150)))  # ProfileAdmin.thumbnail_preview_spec


def test_add_form_and_missing_file_have_no_preview(admin_client: Client) -> None:
    add = admin_client.get(reverse("admin:testapp_photo_add"))
    assert add.status_code == 200
    assert imgs(add.content.decode(), "thumbkit-admin-preview") == []
    gone = Photo.objects.create(title="gone", image="admin-one/missing.jpg")
    response = admin_client.get(change(gone))
    assert response.status_code == 200
    html = response.content.decode()
    assert imgs(html, "thumbkit-admin-preview") == []
    assert "admin-one/missing.jpg" in html  # the admin still names the current file


def test_a_chosen_widget_is_kept() -> None:
    class Custom(AdminFileWidget):
        pass

    class Chosen(ThumbnailAdminMixin, admin.ModelAdmin[Photo]):
        formfield_overrides = {models.ImageField: {"widget": Custom}}

    field = Photo._meta.get_field("image")
    chosen = Chosen(Photo, admin.site).formfield_for_dbfield(field, request=None)
    assert chosen is not None
    assert type(chosen.widget) is Custom
    default = PhotoAdmin(Photo, admin.site).formfield_for_dbfield(field, request=None)
    assert default is not None
    assert type(default.widget) is AdminImagePreviewWidget


def test_inlines_get_the_preview_too() -> None:
    class Inline(ThumbnailAdminMixin, admin.TabularInline):
        model = Photo
        thumbnail_preview_spec = "80x80"

    field = Photo._meta.get_field("image")
    formfield = Inline(Profile, admin.site).formfield_for_dbfield(field, request=None)
    assert formfield is not None
    assert type(formfield.widget) is AdminImagePreviewWidget
    assert formfield.widget.spec == "80x80"

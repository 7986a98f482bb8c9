"""The admin's focal-point widget, without a browser: what the change form renders, and what
posting it stores. tests/browser/test_admin_browser.py clicks it in Chromium."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from tests.s3 import Media
from tests.test_focal import marked
from tests.testapp.models import FocalPhoto
from thumbkit import FocalPoint, set_focal_point
from thumbkit.admin import FocalPointField, FocalPointWidget, ThumbnailAdminMixin

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    """A logged-in superuser, without hashing a password (pytest-django's hashes one)."""
    from django.contrib.auth.models import User

    user = User.objects.create(username="focal", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def photo(fs_media: Media) -> FocalPhoto:
    name = default_storage.save("focal/admin.png", ContentFile(marked((400, 200))))
    return FocalPhoto.objects.create(title="f", image=name, cover=name)


def change(photo: FocalPhoto) -> str:
    return reverse("admin:testapp_focalphoto_change", args=[photo.pk])


def hidden(html: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert found, name
    return found[1]


def form_data(**changes: str) -> dict[str, str]:
    data = {"title": "f", "focus_x": "", "focus_y": "", "focus_box": ""}
    data.update({"cover_focus_x": "", "cover_focus_y": "", "cover_focus_box": ""})
    data.update(changes)
    return data


def test_the_change_form_shows_the_image_the_point_and_two_previews(
    admin_client: Client, photo: FocalPhoto
) -> None:
    set_focal_point(photo.image, (0.9, 0.1), box=(0.8, 0, 1, 0.5))
    response = admin_client.get(change(photo))
    assert response.status_code == 200
    html = response.content.decode()
    assert (hidden(html, "focus_x"), hidden(html, "focus_y")) == ("0.9", "0.1")
    assert hidden(html, "focus_box") == "0.8,0,1,0.5"
    assert hidden(html, "cover_focus_x") == ""  # no point yet
    # The image to click is a fit of the source (never cropped), shown at its own size.
    stage = re.search(r'<img class="thumbkit-focal-image" src="([^"]+)" width="(\d+)"', html)
    assert stage
    assert stage[2] == "360"
    previews = re.findall(
        r'class="thumbkit-focal-preview" style="width: (\d+)px; height: (\d+)px"', html
    )
    assert previews == [("100", "100"), ("200", "100")] * 2  # two focal columns
    # The widget's media: the script and the stylesheet, from thumbkit's static files.
    assert "thumbkit/focal.js" in html
    assert "thumbkit/focal.css" in html
    form = response.context["adminform"].form
    assert type(form.fields["focus"]) is FocalPointField
    assert type(form.fields["focus"].widget) is FocalPointWidget


def test_posting_the_form_stores_the_point_in_each_column_kind(
    admin_client: Client, photo: FocalPhoto
) -> None:
    data = form_data(focus_x="0.9", focus_y="0.1", cover_focus_x="0.25", cover_focus_y="0.5")
    response = admin_client.post(change(photo), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = FocalPhoto.objects.get(pk=photo.pk)
    assert row.focus == {"x": 0.9, "y": 0.1}
    assert row.cover_focus == "0.25,0.5"
    assert row.image.focal_point == FocalPoint(0.9, 0.1)
    # A form saved again as it was shown keeps the point and its box.
    set_focal_point(row.image, (0.9, 0.1), box=(0.8, 0, 1, 0.5))
    shown = admin_client.get(change(photo)).content.decode()
    again = form_data(
        focus_x=hidden(shown, "focus_x"),
        focus_y=hidden(shown, "focus_y"),
        focus_box=hidden(shown, "focus_box"),
        cover_focus_x="0.25",
        cover_focus_y="0.5",
    )
    assert admin_client.post(change(photo), again).status_code == 302
    assert FocalPhoto.objects.get(pk=photo.pk).focus == {
        "x": 0.9,
        "y": 0.1,
        "box": [0.8, 0.0, 1.0, 0.5],
    }
    # Cleared: no point (NULL in the JSON column, "" in the text one).
    assert admin_client.post(change(photo), form_data()).status_code == 302
    row = FocalPhoto.objects.get(pk=photo.pk)
    assert (row.focus, row.cover_focus) == (None, "")


def test_a_point_out_of_range_is_a_form_error_and_changes_nothing(
    admin_client: Client, photo: FocalPhoto
) -> None:
    response = admin_client.post(change(photo), form_data(focus_x="1.5", focus_y="0.1"))
    assert response.status_code == 200  # the form again, with its error
    assert "Not a focal point: x must be from 0 to 1" in response.content.decode()
    assert FocalPhoto.objects.get(pk=photo.pk).focus is None


def test_the_add_form_asks_for_an_image_first(admin_client: Client) -> None:
    html = admin_client.get(reverse("admin:testapp_focalphoto_add")).content.decode()
    assert "Save an image first" in html
    assert 'class="thumbkit-focal-image"' not in html


def test_previews_are_configurable() -> None:
    class Wide(ThumbnailAdminMixin, admin.ModelAdmin[FocalPhoto]):
        focal_point_previews = ((160, 90),)

    field = Wide(FocalPhoto, admin.site).formfield_for_dbfield(
        FocalPhoto._meta.get_field("focus"), request=None
    )
    assert isinstance(field, FocalPointField)
    assert isinstance(field.widget, FocalPointWidget)
    assert field.widget.previews == [(160, 90)]
    # A model admin without the mixin keeps Django's own field for the column.
    plain = admin.ModelAdmin(FocalPhoto, admin.site).formfield_for_dbfield(
        FocalPhoto._meta.get_field("focus"), request=None
    )
    assert not isinstance(plain, FocalPointField)


def test_the_widget_renders_nothing_broken_for_a_missing_file(
    admin_client: Client, fs_media: Media
) -> None:
    gone = FocalPhoto.objects.create(
        title="gone", image="focal/missing.png", focus={"x": 0.5, "y": 0.5}
    )
    response = admin_client.get(change(gone))
    assert response.status_code == 200
    assert "The image cannot be shown" in response.content.decode()
    assert hidden(response.content.decode(), "focus_x") == "0.5"


def test_widget_context_and_data() -> None:
    widget = FocalPointWidget()
    context = widget.get_context("focus", "0.9,0.1", None)["widget"]
    assert (context["x"], context["y"], context["box"]) == ("0.9", "0.1", "")
    assert widget.get_context("focus", "bad", None)["widget"]["x"] == ""
    data = {"focus_x": "0.3", "focus_y": "0.4", "focus_box": ""}
    assert widget.value_from_datadict(data, {}, "focus") == "0.3,0.4"
    assert widget.value_from_datadict({"focus_x": "", "focus_y": ""}, {}, "focus") == ""
    assert widget.value_omitted_from_data({}, {}, "focus")

"""The focal-point widget in a real browser: log in, click the top right of the image, watch
the previews move, save; the row holds the point and the square thumbnail's pixels moved.

Served like tests/browser/test_admin_browser.py (pytest-django's live server, this module
as the URLconf); the live server serves STATIC_ROOT, set to thumbkit's own static files so
the widget's script and stylesheet load (the admin's own are not served).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.files.storage import default_storage
from django.urls import path, re_path, reverse
from django.views.static import serve
from PIL import Image

import thumbkit
from tests.browser.test_admin_browser import _orm_beside_playwright, log_in
from tests.test_focal import BLUE, GRAY, RED, marked, near
from tests.testapp.models import FocalPhoto
from thumbkit import Thumbnail, get_thumbnail

pytestmark = [pytest.mark.browser, pytest.mark.urls(__name__)]

__all__ = ["_orm_beside_playwright"]  # a fixture, shared with the admin browser test

STATIC = Path(thumbkit.__file__).parent / "static"
urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]

# What the page shows: the hidden inputs, the marker and each preview's object-position.
STATE_JS = """() => {
    const root = document.querySelector('#id_focus_focal');
    const value = name => root.querySelector('input[data-focal=' + name + ']').value;
    return {
        x: value('x'), y: value('y'), box: value('box'),
        marker: root.querySelector('.thumbkit-focal-marker').hidden,
        previews: Array.from(root.querySelectorAll('.thumbkit-focal-preview img'))
            .map(img => getComputedStyle(img).objectPosition),
        loaded: root.querySelector('.thumbkit-focal-image').complete,
    };
}"""


@pytest.fixture
def source() -> Iterator[str]:
    name = "focal-browser/wide.png"
    target = Path(settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(marked((400, 200)))
    yield name
    default_storage.delete(name)


def decoded(thumb: Thumbnail) -> Image.Image:
    with thumb.storage.open(thumb.name, "rb") as handle:
        return Image.open(io.BytesIO(handle.read())).convert("RGB")


def test_click_save_and_the_crop_moves(
    live_server: Any, admin_user: Any, page: Any, source: str, settings: Any
) -> None:
    settings.STATIC_ROOT = str(STATIC)
    photo = FocalPhoto.objects.create(title="browser", image=source)
    before = photo.image.thumbnails.square
    assert near(decoded(before).getpixel((95, 5)), GRAY)  # no point: the centre
    base = live_server.url
    log_in(page, base)
    page.goto(base + reverse("admin:testapp_focalphoto_change", args=[photo.pk]))
    page.wait_for_load_state("load")
    state = page.evaluate(STATE_JS)
    assert state["loaded"]
    assert (state["x"], state["y"], state["marker"]) == ("", "", True)
    assert state["previews"] == ["50% 50%", "50% 50%"]  # no point: centred

    image = page.locator("#id_focus_focal .thumbkit-focal-image")
    box = image.bounding_box()
    assert box is not None
    assert (round(box["width"]), round(box["height"])) == (360, 180)  # the fit, 2:1
    image.click(position={"x": box["width"] * 0.9, "y": box["height"] * 0.1})
    state = page.evaluate(STATE_JS)
    x, y = float(state["x"]), float(state["y"])
    assert abs(x - 0.9) < 0.01
    assert abs(y - 0.1) < 0.01
    assert state["marker"] is False
    # The square preview shows the right edge (as the server will crop); the wide one
    # already shows the whole 2:1 image, so it has nowhere to move.
    assert state["previews"] == ["100% 50%", "50% 50%"]
    if path := os.environ.get("THUMBKIT_FOCAL_SCREENSHOT"):
        page.screenshot(path=path, full_page=True)

    page.click("input[name=_save]")
    page.wait_for_url(base + reverse("admin:testapp_focalphoto_changelist"))
    row = FocalPhoto.objects.get(pk=photo.pk)
    assert row.focus == {"x": x, "y": y}
    after = row.image.thumbnails.square
    assert after.name != before.name
    pixels = decoded(after)
    assert near(pixels.getpixel((95, 5)), RED)  # the red block top right came in
    assert near(pixels.getpixel((45, 5)), GRAY)
    # The changelist the save led to shows that very file.
    shown = page.evaluate(
        "() => Array.from(document.querySelectorAll('img.thumbkit-admin-thumbnail'))"
        ".map(img => [img.currentSrc, img.complete, img.naturalWidth])"
    )
    assert shown == [[base + after.url, True, 100]]

    # A click bottom left, saved: the crop goes the other way.
    page.goto(base + reverse("admin:testapp_focalphoto_change", args=[photo.pk]))
    page.wait_for_load_state("load")
    image.click(position={"x": box["width"] * 0.05, "y": box["height"] * 0.9})
    page.click("input[name=_save]")
    page.wait_for_url(base + reverse("admin:testapp_focalphoto_changelist"))
    row = FocalPhoto.objects.get(pk=photo.pk)
    assert abs(row.focus["x"] - 0.05) < 0.01
    last = row.image.thumbnails.square
    assert near(decoded(last).getpixel((5, 95)), BLUE)
    assert last.key == get_thumbnail(source, "100x100 crop", focal=row.focus).key

"""The admin in a real browser: log in, open a changelist with AdminThumbnail columns and a
change form with a preview; every thumbnail loads, at the size its tag states.

The test settings' admin is served by pytest-django's live server, with this module as the
URLconf: the admin, plus the media files (the live server does not serve them). The
admin's CSS is not served: the page is unstyled, which changes nothing checked here.
"""

from __future__ import annotations

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

from tests import images
from tests.testapp.models import Photo, Profile

pytestmark = [pytest.mark.browser, pytest.mark.urls(__name__)]

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]

SIZES = [(480, 320), (300, 450), (120, 90)]  # landscape, portrait, smaller than the box
ROWS = 12

# Every thumbkit <img> on the page, as the browser sees it once the page has loaded.
IMAGES_JS = """cls => Array.from(document.querySelectorAll('img.' + cls)).map(img => ({
    src: img.currentSrc, complete: img.complete,
    natural: [img.naturalWidth, img.naturalHeight],
    attrs: [Number(img.getAttribute('width')), Number(img.getAttribute('height'))],
}))"""


def fit(size: tuple[int, int], box: int) -> tuple[int, int]:
    scale = min(1.0, box / size[0], box / size[1])
    return round(size[0] * scale), round(size[1] * scale)


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop in this thread, and Django refuses ORM
    calls from a thread with a running loop. The loop only runs while Playwright is called,
    so the ORM calls of this module (rows, the superuser, the flush after the test) are safe.
    Module scope: set before pytest-django's database fixtures, unset after their teardown.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def sources() -> Iterator[list[str]]:
    names = []
    for i in range(ROWS):
        name = f"admin-browser/b-{i:02}.jpg"
        target = Path(settings.MEDIA_ROOT) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(images.jpeg(SIZES[i % len(SIZES)]))
        names.append(name)
    yield names
    for name in names:
        default_storage.delete(name)


def log_in(page: Any, base: str) -> None:
    page.goto(base + reverse("admin:login"))
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(base + reverse("admin:index"))


def loaded(page: Any, url: str, cls: str) -> list[dict[str, Any]]:
    page.goto(url)
    page.wait_for_load_state("load")
    shown: list[dict[str, Any]] = page.evaluate(IMAGES_JS, cls)
    for img in shown:
        assert img["complete"], img
        assert img["natural"][0] > 0, img
        assert img["natural"] == img["attrs"], img
    return shown


def test_admin_thumbnails_load_in_the_browser(
    live_server: Any, admin_user: Any, page: Any, sources: list[str]
) -> None:
    Photo.objects.bulk_create(Photo(title=f"b{i}", image=n) for i, n in enumerate(sources))
    profile = Profile.objects.create(name="browser", photo=sources[1])
    base = live_server.url
    log_in(page, base)

    shown = loaded(
        page, base + reverse("admin:testapp_photo_changelist"), "thumbkit-admin-thumbnail"
    )
    assert len(shown) == ROWS
    expected = sorted(list(fit(SIZES[i % len(SIZES)], 100)) for i in range(ROWS))
    assert sorted(img["natural"] for img in shown) == expected
    screenshot = os.environ.get("THUMBKIT_ADMIN_SCREENSHOT")
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)

    photo = Photo.objects.order_by("pk").first()
    assert photo is not None
    [preview] = loaded(page, base + photo_change(photo), "thumbkit-admin-preview")
    assert preview["natural"] == list(fit(SIZES[0], 200))

    [preview] = loaded(
        page,
        base + reverse("admin:testapp_profile_change", args=[profile.pk]),
        "thumbkit-admin-preview",
    )
    assert preview["natural"] == list(fit(SIZES[1], 150))  # ProfileAdmin's preview spec


def photo_change(photo: Photo) -> str:
    return reverse("admin:testapp_photo_change", args=[photo.pk])

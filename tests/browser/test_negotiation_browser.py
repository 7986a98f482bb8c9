"""format=auto in a real browser: Chromium's own image ``Accept`` header gets AVIF from the
on-demand endpoint, the redirect says ``Vary: Accept``, and the image loads at its size.

Served by pytest-django's live server with this module as the URLconf: the endpoint, one
page and the media files (the live server does not serve them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.template import Context, Template
from django.urls import include, path, re_path
from django.views.static import serve

from tests import images
from tests.conftest import thumbkit_settings
from tests.fields_util import records

pytestmark = [pytest.mark.browser, pytest.mark.urls(__name__)]

PAGE = Template(
    '{% load thumbkit %}<!DOCTYPE html><html><body>{% thumbnail src "120x90 crop format=auto"'
    ' -- class="auto" %}</body></html>'
)


def page_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE.render(Context({"src": request.GET["src"]})))


urlpatterns = [
    path("thumbs/", include("thumbkit.urls")),
    path("page/", page_view),
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    # As in test_admin_browser: Playwright's loop only runs while Playwright is called.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.mark.django_db(transaction=True)
def test_chromium_gets_avif_from_an_auto_spec(live_server: Any, page: Any) -> None:
    name = default_storage.save("neg/p.jpg", ContentFile(images.jpeg((400, 300))))
    responses: list[Any] = []

    def seen(response: Any) -> None:
        responses.append(response)

    page.on("response", seen)
    with thumbkit_settings(STRATEGY="on_demand"):
        page.goto(f"{live_server.url}/page/?src={name}")
        page.wait_for_load_state("networkidle")
        img = page.evaluate(
            """() => { const i = document.querySelector('img.auto');
            return {src: i.getAttribute('src'), complete: i.complete,
                    natural: [i.naturalWidth, i.naturalHeight]}; }"""
        )
    assert img["src"].startswith("/thumbs/")
    assert img["complete"]
    assert img["natural"] == [120, 90]
    prefix = f"{live_server.url}/thumbs/"  # the endpoint; files are under /media/thumbs/
    [answer] = [r for r in responses if r.url.startswith(prefix)]
    accept = answer.request.all_headers()["accept"]
    assert "image/avif" in accept  # Chromium's own header, not one we wrote
    assert answer.status == 302
    headers = answer.all_headers()
    assert headers["vary"] == "Accept"
    assert headers["location"].endswith(".avif")
    [record] = records()
    assert (record.format, record.width, record.height) == ("AVIF", 120, 90)

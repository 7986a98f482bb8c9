"""The example site in a real browser: every image loads, at the size its tag claims."""

from __future__ import annotations

import io
import os
import urllib.request
from typing import Any

import pytest
from example.gallery.samples import SAMPLES
from PIL import Image

from tests import images

pytestmark = pytest.mark.browser

GRID = (300, 200)  # the list template's {% thumbnail photo.image "300x200" crop="center" %}
SMALL = (100, 100)  # THUMBKIT["SPECS"]["small"] in the example settings

# Every <img> of one figure, as the browser sees it once the page has loaded.
IMAGES_JS = """figure => Array.from(figure.querySelectorAll('img')).map(img => ({
    cls: img.className, src: img.currentSrc, complete: img.complete,
    natural: [img.naturalWidth, img.naturalHeight],
    attrs: [Number(img.getAttribute('width')), Number(img.getAttribute('height'))],
}))"""


def cropped_size(source: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """sorl-thumbnail's crop size without upscaling: fill the box, never grow the source."""
    scale = min(1.0, max(box[0] / source[0], box[1] / source[1]))
    return min(box[0], round(source[0] * scale)), min(box[1], round(source[1] * scale))


def figures(page: Any) -> dict[str, list[dict[str, Any]]]:
    """{photo title: its images} for every photo on the list page."""
    page.wait_for_load_state("load")
    found = {}
    for figure in page.locator("figure.photo").all():
        title = figure.locator("h2").inner_text().strip()
        found[title] = figure.evaluate(IMAGES_JS)
    return found


def assert_thumbnails(imgs: list[dict[str, Any]], grid: tuple[int, int]) -> None:
    assert [img["cls"] for img in imgs] == ["grid-thumb", "avatar"]
    for img in imgs:
        assert img["complete"], img
        assert img["natural"][0] > 0, img
        assert img["natural"] == img["attrs"], img
    assert tuple(imgs[0]["natural"]) == grid
    assert tuple(imgs[1]["natural"]) == SMALL


def test_every_sample_thumbnail_loads_at_its_size(example_site: str, page: Any) -> None:
    page.goto(example_site + "/")
    shown = figures(page)
    assert sorted(shown) == sorted(sample.title for sample in SAMPLES)
    for sample in SAMPLES:
        assert_thumbnails(shown[sample.title], cropped_size(sample.size, GRID))
    assert page.evaluate("document.images.length") == 2 * len(SAMPLES)
    screenshot = os.environ.get("THUMBKIT_EXAMPLE_SCREENSHOT")
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)


def test_transparent_png_keeps_its_alpha(example_site: str, page: Any) -> None:
    page.goto(example_site + "/")
    imgs = figures(page)["Transparent badge"]
    with urllib.request.urlopen(imgs[0]["src"], timeout=10) as response:
        thumb = Image.open(io.BytesIO(response.read()))
    assert thumb.format == "PNG"
    assert thumb.mode == "RGBA"
    # The sample is drawn with alpha 0 to 230; Lanczos may overshoot a little at the edges.
    low, high = thumb.getchannel("A").getextrema()
    assert low == 0
    assert high >= 200


def test_upload_shows_the_new_photo_with_thumbnails(example_site: str, page: Any) -> None:
    title = "Uploaded portrait"
    page.goto(example_site + "/upload/")
    page.fill("input[name=title]", title)
    upload = {"name": "portrait.jpg", "mimeType": "image/jpeg", "buffer": images.jpeg((600, 900))}
    page.set_input_files("input[name=image]", upload)
    page.click("button[type=submit]")
    page.wait_for_url(example_site + "/")
    shown = figures(page)
    assert title in shown
    assert_thumbnails(shown[title], GRID)
    assert len(shown) == len(SAMPLES) + 1


def test_upload_refuses_a_file_that_is_not_an_image(example_site: str, page: Any) -> None:
    page.goto(example_site + "/upload/")
    page.fill("input[name=title]", "Not a picture")
    upload = {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"plain text, not a JPEG"}
    page.set_input_files("input[name=image]", upload)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url == example_site + "/upload/"
    assert page.locator(".errorlist").count() == 1
    page.goto(example_site + "/")
    assert "Not a picture" not in figures(page)


def test_upload_refuses_an_image_above_the_limits(example_site: str, page: Any) -> None:
    # 12000x12000 = 144 MP, over the default MAX_SOURCE_PIXELS; one colour, so about 17 KB.
    buffer = io.BytesIO()
    Image.new("P", (12000, 12000), 0).save(buffer, "PNG")
    page.goto(example_site + "/upload/")
    page.fill("input[name=title]", "Too many pixels")
    upload = {"name": "big.png", "mimeType": "image/png", "buffer": buffer.getvalue()}
    page.set_input_files("input[name=image]", upload)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url == example_site + "/upload/"
    assert page.locator(".errorlist").inner_text().strip() == (
        "The image is 12000×12000 = 144,000,000 pixels; "  # noqa: RUF001
        "the limit is 100,000,000 (44% over)."
    )
    page.goto(example_site + "/")
    assert "Too many pixels" not in figures(page)

"""The example site in a real browser, at a desktop width and a 390 px phone width.

Every page: every image loads; a plain ``<img>`` shows at the size its attributes state; a
``<picture>`` picks AVIF (Chromium decodes it) and shows the width its ``srcset`` promises, at
the attributes' aspect ratio; the page does not scroll sideways; the render-cost footer is
there. The directory's footer shows one store read for its 100 profiles.

``THUMBKIT_EXAMPLE_SCREENSHOTS=docs/images`` writes a screenshot of each page at each width
(``example-<page>-<width>.jpg``), the ones docs/example-site.md shows.
"""

from __future__ import annotations

import io
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from example.gallery.samples import SAMPLES
from PIL import Image

from tests import images

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": (1200, 800), "mobile": (390, 844)}
PROFILES = 100  # seed_example's default
ADMIN = ("admin", "thumbkit")  # EXAMPLE_ADMIN in the example settings

# Every <img> of the page, as the browser sees it once the page has loaded.
IMAGES_JS = """async () => Promise.all(Array.from(document.images).map(async img => {
    const picture = img.parentElement.tagName === 'PICTURE' ? img.parentElement : null;
    const source = picture && Array.from(picture.querySelectorAll('source')).find(
        s => s.srcset.split(',').some(c => img.currentSrc.endsWith(c.trim().split(' ')[0])));
    // With srcset's w descriptors, naturalWidth is scaled to the slot; the file's own size
    // comes from loading the chosen file on its own.
    const load = async url => {
        const probe = new Image();
        probe.src = url;
        await probe.decode();
        return [probe.naturalWidth, probe.naturalHeight];
    };
    return {
        cls: img.className, src: img.currentSrc, complete: img.complete,
        natural: [img.naturalWidth, img.naturalHeight],
        file: await load(img.currentSrc),
        srcFile: await load(img.src),
        attrs: img.hasAttribute('width')
            ? [Number(img.getAttribute('width')), Number(img.getAttribute('height'))] : null,
        picture: picture !== null,
        srcset: source ? source.srcset : img.srcset,
    };
}))"""

# The footer's data-* attributes, by their names in the HTML (data-store-reads: store-reads).
FOOTER_JS = """() => Object.fromEntries(
    Array.from(document.getElementById('render-cost').attributes)
        .filter(a => a.name.startsWith('data-')).map(a => [a.name.slice(5), a.value]))"""
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture(scope="module", params=sorted(WIDTHS))
def width(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def context(browser: Any, example_site: str, width: str) -> Iterator[Any]:
    """A browser context at ``width``, logged in to the admin."""
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h})
    page = context.new_page()
    page.goto(example_site + "/admin/login/")
    page.fill("#id_username", ADMIN[0])
    page.fill("#id_password", ADMIN[1])
    page.click("input[type=submit]")
    page.wait_for_url(example_site + "/admin/")
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    yield page
    page.close()


def described_width(srcset: str, url: str) -> int:
    """The ``w`` descriptor ``srcset`` gives the candidate ``url``."""
    for candidate in srcset.split(","):
        src, _, descriptor = candidate.strip().partition(" ")
        if url.endswith(src):
            return int(descriptor.rstrip("w"))
    raise AssertionError(f"{url} is not in {srcset}")


def assert_image(img: dict[str, Any]) -> None:
    assert img["complete"], img
    assert img["natural"][0] > 0, img
    if img["picture"]:
        # The browser picked a candidate for the viewport: its file is as wide as srcset
        # says; the <img>'s own src is the file its width and height attributes describe.
        assert img["file"][0] == described_width(img["srcset"], img["src"]), img
        assert img["srcFile"] == img["attrs"], img
        assert img["src"].endswith(".avif"), img
    elif "/media/" in img["src"]:
        assert img["natural"] == img["file"] == img["attrs"], img


SCROLL_JS = """async () => {
  for (let y = 0; y < document.documentElement.scrollHeight; y += innerHeight / 2) {
    scrollTo(0, y);
    await new Promise(done => setTimeout(done, 50));
  }
  scrollTo(0, 0);
}"""


def visit(page: Any, url: str, name: str, width: str) -> list[dict[str, Any]]:
    """Open ``url`` and check what every page must pass; returns its images."""
    page.goto(url)
    page.wait_for_load_state("load")
    page.evaluate(SCROLL_JS)  # as a reader would: lazy images load as they near the viewport
    page.wait_for_function("Array.from(document.images).every(img => img.complete)")
    shown: list[dict[str, Any]] = page.evaluate(IMAGES_JS)
    for img in shown:
        assert_image(img)
    assert page.evaluate(OVERFLOW_JS) <= 0, f"{name} scrolls sideways at {width}"
    assert page.locator("meta[name=viewport]").count() == 1 or "/admin/" in url
    screenshot(page, name, width)
    return shown


def screenshot(target: Any, name: str, width: str) -> None:
    """A JPEG of the page's viewport (or of one element) for the docs, when asked for."""
    folder = os.environ.get("THUMBKIT_EXAMPLE_SCREENSHOTS")
    if folder:
        path = Path(folder) / f"example-{name}-{WIDTHS[width][0]}.jpg"
        target.screenshot(path=str(path), type="jpeg", quality=70)


def footer(page: Any) -> dict[str, int]:
    return {key: int(value) for key, value in page.evaluate(FOOTER_JS).items()}


def warm_footer(page: Any) -> dict[str, int]:
    """The footer of the page rendered again: its thumbnails exist by now."""
    page.reload()
    page.wait_for_load_state("load")
    return footer(page)


def first_link(page: Any, selector: str) -> str:
    href: str = page.locator(selector).first.get_attribute("href")
    return href


def test_directory_costs_one_store_read(example_site: str, page: Any, width: str) -> None:
    shown = visit(page, example_site + "/", "directory", width)
    people = [img for img in shown if "/media/thumbs/" in img["src"]]
    assert len(people) == PROFILES
    assert {tuple(img["natural"]) for img in people} == {(100, 100)}
    cost = footer(page)
    # The forum's page: the paginator's COUNT, the rows, and one store read for 100 photos.
    assert cost["store-reads"] == 1, cost
    assert cost["store-round-trips"] == 1, cost
    assert cost["storage-calls"] == 0, cost
    assert cost["thumbnails"] == PROFILES, cost
    assert cost["sql"] == 3, cost
    assert cost["sorl-sql"] == 2 + PROFILES, cost  # computed: the page's 2 + one per thumbnail
    text = page.locator("#render-cost").inner_text()
    assert "sorl-thumbnail cached_db (computed)".upper() in text.upper()
    screenshot(page.locator("#render-cost"), "directory-footer", width)


def test_profile_page(example_site: str, page: Any, width: str) -> None:
    page.goto(example_site + "/")
    shown = visit(page, example_site + first_link(page, "a.person"), "profile", width)
    [photo] = [img for img in shown if "/media/thumbs/" in img["src"]]
    assert max(photo["natural"]) == 250  # detail_photo: 250x250 crop, no upscaling
    assert warm_footer(page)["store-reads"] == 1


def test_gallery_pictures_pick_avif(example_site: str, page: Any, width: str) -> None:
    shown = visit(page, example_site + "/gallery/", "gallery", width)
    pictures = [img for img in shown if img["picture"]]
    # The seeded photos, and the uploads of tests that ran before this one.
    assert len(pictures) == page.locator("a.card").count() >= len(SAMPLES)
    cost = footer(page)
    assert cost["store-reads"] == 1, cost
    assert cost["storage-calls"] == 0, cost
    # Each photo: 3 formats x 2 widths, less the widths a small source cannot fill.
    assert len(pictures) * 3 < cost["thumbnails"] <= len(pictures) * 6, cost
    # At 1x the browser takes the smallest candidate at least as wide as the slot (sizes:
    # the whole 390 px viewport on the phone, 320 px on the desktop), else the widest.
    slot = 390 if width == "mobile" else 320
    for img in pictures:
        candidates = srcset_widths(img["srcset"])
        assert img["file"][0] == min([c for c in candidates if c >= slot] or [max(candidates)])


def srcset_widths(srcset: str) -> list[int]:
    return [int(c.strip().rpartition(" ")[2].rstrip("w")) for c in srcset.split(",")]


def test_photo_page_shows_picture_and_declared_thumbnails(
    example_site: str, page: Any, width: str
) -> None:
    page.goto(example_site + "/gallery/")
    shown = visit(page, example_site + first_link(page, "a.card"), "photo", width)
    assert sum(img["picture"] for img in shown) == 1
    declared = [img for img in shown if "declared" in img["cls"]]
    assert [tuple(img["natural"]) for img in declared] == [(100, 100), (320, 240)]
    assert warm_footer(page)["store-reads"] == 1


def test_upload_page_explains_the_limits(example_site: str, page: Any, width: str) -> None:
    visit(page, example_site + "/upload/", "upload", width)
    limits = page.locator("table.limits").inner_text()
    # thumbkit's default LIMITS, which the example keeps.
    assert "100,000,000" in limits
    assert "100 MiB" in limits


def test_admin_changelist_thumbnails(example_site: str, page: Any, width: str) -> None:
    shown = visit(page, example_site + "/admin/gallery/profile/", "admin-profiles", width)
    cells = [img for img in shown if img["cls"] == "thumbkit-admin-thumbnail"]
    assert len(cells) == PROFILES
    assert {tuple(img["natural"]) for img in cells} == {(100, 100)}
    # The column's spec is the directory's, so these are the directory's files: warm.
    assert footer(page)["store-reads"] == 1


def test_admin_change_form_preview(example_site: str, page: Any, width: str) -> None:
    page.goto(example_site + "/admin/gallery/profile/")
    url = example_site + first_link(page, "#result_list tbody th a")
    shown = visit(page, url, "admin-profile", width)
    [preview] = [img for img in shown if "thumbkit-admin-preview" in img["cls"]]
    assert max(preview["natural"]) == 250  # ProfileAdmin.thumbnail_preview_spec, fit


def test_transparent_png_keeps_its_alpha(example_site: str, page: Any, width: str) -> None:
    page.goto(example_site + "/gallery/")
    page.click("a.card:has-text('Transparent badge')")
    page.wait_for_load_state("load")
    src = page.locator("img.declared").first.get_attribute("src")
    with urllib.request.urlopen(example_site + src, timeout=10) as response:
        thumb = Image.open(io.BytesIO(response.read()))
    assert (thumb.format, thumb.mode) == ("PNG", "RGBA")
    # The sample is drawn with alpha 0 to 230; Lanczos may overshoot a little at the edges.
    low, high = thumb.getchannel("A").getextrema()
    assert low == 0
    assert high >= 200


def upload(page: Any, base: str, title: str, name: str, data: bytes) -> None:
    page.goto(base + "/upload/")
    page.fill("input[name=title]", title)
    kind = "image/png" if name.endswith(".png") else "image/jpeg"
    page.set_input_files("input[name=image]", {"name": name, "mimeType": kind, "buffer": data})
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def test_upload_shows_the_new_photo(example_site: str, page: Any, width: str) -> None:
    title = f"Uploaded portrait {width}"
    upload(page, example_site, title, "portrait.jpg", images.jpeg((600, 900)))
    assert re.fullmatch(re.escape(example_site) + r"/gallery/\d+/", page.url), page.url
    photo_url = page.url
    shown = visit(page, photo_url, "uploaded", width)
    assert page.locator("h1").inner_text() == title
    declared = [img for img in shown if "declared" in img["cls"]]
    assert [tuple(img["natural"]) for img in declared] == [(100, 100), (320, 240)]
    # Deleted in the admin, the photo takes its thumbnails with it (and leaves the gallery
    # as seeded for the tests and screenshots after this one).
    pk = photo_url.rstrip("/").rpartition("/")[2]
    page.goto(f"{example_site}/admin/gallery/photo/{pk}/delete/")
    page.click("input[type=submit]")
    page.wait_for_url(example_site + "/admin/gallery/photo/")
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(declared[0]["src"], timeout=10)
    gone.value.close()  # an HTTPError holds the response open
    assert gone.value.code == 404


def test_upload_refuses_a_file_that_is_not_an_image(
    example_site: str, page: Any, width: str
) -> None:
    upload(page, example_site, "Not a picture", "notes.jpg", b"plain text, not a JPEG")
    assert page.url == example_site + "/upload/"
    assert page.locator(".errorlist").count() == 1
    page.goto(example_site + "/gallery/")
    assert page.locator("a.card:has-text('Not a picture')").count() == 0


def test_upload_refuses_an_image_above_the_limits(example_site: str, page: Any, width: str) -> None:
    # 12000x12000 = 144 MP, over the default MAX_SOURCE_PIXELS; one colour, so about 17 KB.
    buffer = io.BytesIO()
    Image.new("P", (12000, 12000), 0).save(buffer, "PNG")
    upload(page, example_site, "Too many pixels", "big.png", buffer.getvalue())
    assert page.url == example_site + "/upload/"
    assert page.locator(".errorlist").inner_text().strip() == (
        "The image is 12000×12000 = 144,000,000 pixels; "  # noqa: RUF001
        "the limit is 100,000,000 (44% over)."
    )
    page.goto(example_site + "/gallery/")
    assert page.locator("a.card:has-text('Too many pixels')").count() == 0

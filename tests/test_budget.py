"""The hot-path budget: a warm page of N thumbnails costs one store round trip, no storage call.

Thumbnails are generated for real by a cold render; the warm render then runs with every
storage swapped for ``StrictStorage`` (any call but ``url()`` raises), after one
``prefetch_thumbnails`` call. The budget is pinned at 1, 10, 100 and 1000 rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.template import Context, Template
from PIL import Image

from tests import images
from tests.api_support import Images, only_storage
from tests.stores_util import index_read, parse_commands
from tests.testapp.models import Photo
from thumbkit import prefetch_thumbnails
from thumbkit.lookup.api import get_spec, resolve
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store

ROWS = [1, 10, 100, 1000]
SPECS = ["small", "48x32 crop"]
PAGE = Template(
    "{% load thumbkit %}{% for p in photos %}"
    '{% thumbnail p.image "small" -- alt=p.title %}'
    '{% thumbnail p.image "48x32" crop="center" as t %}'
    '<img src="{{ t.url }}" width="{{ t.width }}" height="{{ t.height }}">'
    "{% empty %}<b>missing</b>{% endthumbnail %}"
    "{% endfor %}"
)
FILESYSTEM = "django.core.files.storage.FileSystemStorage"
STRICT = "tests.api_support.StrictStorage"


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def make_photos(media: Path, rows: int) -> None:
    """``rows`` photos, each with a source file of its own (same pixels, distinct names)."""
    data = images.jpeg((200, 150))
    (media / "photos").mkdir()
    for i in range(rows):
        (media / "photos" / f"p{i:04}.jpg").write_bytes(data)
    Photo.objects.bulk_create(
        Photo(title=f"photo {i}", image=f"photos/p{i:04}.jpg") for i in range(rows)
    )


def generate_all(media: Path, **store: Any) -> None:
    """Make every thumbnail of the page for real: one batch, each source read once."""
    with only_storage(str(media), FILESYSTEM, **store):
        photos = list(Photo.objects.all())
        made = resolve([(coerce(p.image), get_spec(spec)) for p in photos for spec in SPECS])
    assert len({t.name for t in made}) == 2 * len(photos)


def check_page(html: str, media: Path, rows: int) -> None:
    """Every <img> says the size its file really has, and every file is distinct."""
    parser = Images()
    parser.feed(html)
    assert len(parser.found) == 2 * rows
    assert "missing" not in html
    sources = [str(img["src"]) for img in parser.found]
    assert len(set(sources)) == 2 * rows
    sizes = set()
    for img in parser.found:
        with Image.open(media / str(img["src"]).removeprefix("/media/")) as file:
            assert (str(file.width), str(file.height)) == (img["width"], img["height"])
            sizes.add(file.size)
    assert sizes == {(100, 100), (48, 32)}


def warm_page(photos: list[Photo]) -> str:
    """One prefetch for the whole page, then the render."""
    found = prefetch_thumbnails(photos, "image", SPECS)
    assert len(found) == 2 * len(photos)
    assert None not in found.values()
    return PAGE.render(Context({"photos": photos}))


@pytest.fixture
def redis_commands(monkeypatch: Any) -> list[bytes]:
    """Every packed command redis-py sends: one entry per network round trip."""
    from redis.connection import Connection

    sent: list[bytes] = []
    original = Connection.send_packed_command

    def send_packed_command(self: Connection, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", send_packed_command)
    return sent


def forget_prefix(client: Any, prefix: str) -> None:
    for key in client.scan_iter(match=f"*{prefix}*", count=1000):
        client.delete(key)


@pytest.mark.django_db
@pytest.mark.parametrize("rows", ROWS)
def test_db_store_budget(rows: int, media: Path, django_assert_num_queries: Any) -> None:
    make_photos(media, rows)
    generate_all(media)
    with only_storage(str(media), STRICT):
        photos = list(Photo.objects.order_by("pk"))
        with django_assert_num_queries(1):
            html = warm_page(photos)
    check_page(html, media, rows)


@pytest.mark.django_db
@pytest.mark.parametrize("rows", ROWS)
def test_redis_store_budget(
    rows: int,
    media: Path,
    redis_client: Any,
    redis_prefix: str,
    redis_commands: list[bytes],
    django_assert_num_queries: Any,
) -> None:
    from django.conf import settings

    store = {"STORE": "redis", "STORE_OPTIONS": {"url": settings.REDIS_URL, "prefix": redis_prefix}}
    make_photos(media, rows)
    try:
        generate_all(media, **store)
        with only_storage(str(media), STRICT, **store):
            get_store().get_many(["warm-up"])  # connect (and handshake) outside the budget
            photos = list(Photo.objects.order_by("pk"))
            redis_commands.clear()
            with django_assert_num_queries(0):
                html = warm_page(photos)
        assert len(redis_commands) == 1
        # One round trip: one script reading every source's record hash.
        assert parse_commands(redis_commands[0]) == index_read(rows)
        check_page(html, media, rows)
    finally:
        forget_prefix(redis_client, redis_prefix)


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 100])
def test_cache_store_on_redis_budget(
    rows: int,
    media: Path,
    redis_client: Any,
    redis_prefix: str,
    redis_commands: list[bytes],
    django_assert_num_queries: Any,
) -> None:
    store = {"STORE": "cache", "STORE_OPTIONS": {"cache": "redis", "prefix": redis_prefix}}
    make_photos(media, rows)
    try:
        generate_all(media, **store)
        with only_storage(str(media), STRICT, **store):
            get_store().get_many(["warm-up"])
            photos = list(Photo.objects.order_by("pk"))
            redis_commands.clear()
            with django_assert_num_queries(0):
                html = warm_page(photos)
        assert len(redis_commands) == 1
        check_page(html, media, rows)
    finally:
        forget_prefix(redis_client, redis_prefix)


@pytest.mark.django_db
def test_rendering_the_same_rows_again_is_free(media: Path, django_assert_num_queries: Any) -> None:
    make_photos(media, 20)
    generate_all(media)
    with only_storage(str(media), STRICT):
        photos = list(Photo.objects.order_by("pk"))
        with django_assert_num_queries(1):
            first = warm_page(photos)
        with django_assert_num_queries(0):
            second = PAGE.render(Context({"photos": photos}))
    assert second == first
    check_page(first, media, 20)

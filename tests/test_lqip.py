"""Low-quality image placeholders: the dominant colour and ThumbHash kept on every record.

Computed once per source at generation (both engines), stored with the records in every
store and the manifest column, rendered by ``placeholder=`` on the tags, and free on a
warm page: the same queries and Redis round trips as without, and no storage call.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import thash
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.template import Context, Template, TemplateSyntaxError
from django.test.utils import CaptureQueriesContext
from PIL import Image, ImageDraw, ImageStat

from tests import images
from tests.api_support import Images, only_storage
from tests.batching_util import FILESYSTEM, STRICT, big_cache, forget_prefix, redis_store
from tests.conftest import thumbkit_settings
from tests.stores_util import index_read, redis_trips
from tests.testapp.models import ManifestProfile, Member
from thumbkit import get_thumbnail
from thumbkit.adapters import peers
from thumbkit.core import lqip
from thumbkit.lookup.api import ensure, get_spec
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.manifest import from_manifest
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.stores.cache import CacheStore
from thumbkit.lookup.stores.db import DatabaseStore
from thumbkit.lookup.stores.redis import RedisStore
from thumbkit.lookup.thumbnail import Placeholder, Thumbnail

ENGINES = ["pillow", "vips"]
HEX = re.compile(r"^#[0-9a-f]{6}$")


def decoded(thumbhash: str) -> Image.Image:
    """The ThumbHash decoded back by the library's own decoder."""
    width, height, pixels = thash.thumb_hash_to_rgba(base64.b64decode(thumbhash))
    return Image.frombytes("RGBA", (width, height), pixels)


def rgb(color: str) -> tuple[int, int, int]:
    assert HEX.match(color), color
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def mostly_red(size: tuple[int, int] = (300, 200)) -> Image.Image:
    """70% red, a blue band on the right: the mean would be purple, the dominant is red."""
    image = Image.new("RGB", size, (210, 30, 25))
    ImageDraw.Draw(image).rectangle((int(size[0] * 0.7), 0, size[0], size[1]), fill=(20, 40, 200))
    return image


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    with thumbkit_settings(ENGINE=request.param):
        yield request.param


# -- what generation computes ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES, indirect=True)
@pytest.mark.parametrize("size", [(420, 300), (300, 420), (400, 400)])
def test_thumbhash_decodes_back_to_the_sources_aspect_ratio(
    engine: str, size: tuple[int, int], save_source: Any
) -> None:
    name = save_source(images.jpeg(size), f"photos/aspect-{size[0]}x{size[1]}.jpg")
    # A square crop: the placeholder is the source's, not the crop's.
    thumb = get_thumbnail(name, "120x120", crop="center")
    assert (thumb.width, thumb.height) == (120, 120)
    preview = decoded(thumb.thumbhash)
    assert preview.width / preview.height == pytest.approx(size[0] / size[1], rel=0.05)
    # It is the source's picture too: make_image's red disc sits in the middle.
    r, g, b, a = preview.getpixel((preview.width // 2, preview.height // 2))  # type: ignore[misc]
    assert a == 255
    assert r > g + 60, (r, g, b)
    assert r > b + 60, (r, g, b)


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_dominant_colour_of_a_mostly_red_image_is_red(engine: str, save_source: Any) -> None:
    name = save_source(images.encode(mostly_red(), "PNG"), "photos/red.png")
    thumb = get_thumbnail(name, "60x40")
    r, g, b = rgb(thumb.placeholder_color)
    assert r > 180, thumb.placeholder_color
    assert max(g, b) < 70, thumb.placeholder_color


def test_dominant_colour_is_not_the_mean() -> None:
    small = lqip._small(mostly_red(), None)
    assert small.size == (32, 21)
    mean = ImageStat.Stat(small.convert("RGB")).mean
    assert mean[2] > 60  # the mean is purple...
    r, g, b = rgb(lqip.dominant_color(small))
    assert (r, g, b) == pytest.approx((210, 30, 25), abs=3)  # ...the dominant colour is not


def test_a_transparent_source_has_no_colour_but_a_hash_with_alpha() -> None:
    clear = lqip.compute(Image.new("RGBA", (50, 40), (255, 0, 0, 0)))
    assert clear.color == ""
    assert lqip.has_alpha(clear.thumbhash)
    half = Image.new("RGBA", (50, 40), (0, 0, 0, 0))
    ImageDraw.Draw(half).rectangle((0, 0, 34, 40), fill=(0, 150, 0, 255))
    found = lqip.compute(half)
    assert found.color == "#009600"
    assert lqip.has_alpha(found.thumbhash)
    assert not lqip.has_alpha(lqip.compute(mostly_red()).thumbhash)


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_every_record_of_one_generation_carries_the_same_placeholder(
    engine: str, save_source: Any
) -> None:
    name = save_source(images.jpeg((500, 300)), "photos/many.jpg")
    specs = [get_spec("100x100", crop="center"), get_spec("200"), get_spec("x50", format="webp")]
    assert ensure(name, specs) == 3  # one read of the source, one render of three specs
    key = source_key(coerce(name))
    stored = get_store().get_sources([key])[key]
    assert len(stored) == 3
    (found,) = {(t.placeholder_color, t.thumbhash) for t in stored.values()}
    assert HEX.match(found[0])
    assert len(base64.b64decode(found[1])) >= 5
    # A later generation decodes the source again (at another draft scale, maybe): its
    # placeholder is computed anew, the same picture.
    later = get_thumbnail(name, "300")
    assert rgb(later.placeholder_color) == pytest.approx(rgb(found[0]), abs=8)
    assert decoded(later.thumbhash).size == decoded(found[1]).size


def test_both_engines_give_nearly_the_same_placeholder() -> None:
    from thumbkit.conf import get_settings
    from thumbkit.core.engines.pillow import PillowEngine
    from thumbkit.core.engines.vips import VipsEngine
    from thumbkit.core.spec import parse

    data = images.jpeg((400, 300))
    specs = [parse("100x100", crop="center"), parse("50")]
    made = {
        kind: engine.render(data, specs, get_settings())
        for kind, engine in {"pillow": PillowEngine(), "vips": VipsEngine()}.items()
    }
    for outputs in made.values():
        assert len({out.lqip for out in outputs}) == 1
    pillow, vips = made["pillow"][0].lqip, made["vips"][0].lqip
    assert pillow is not None
    assert vips is not None
    for a, b in zip(rgb(pillow.color), rgb(vips.color), strict=True):
        assert abs(a - b) <= 12
    left, right = decoded(pillow.thumbhash), decoded(vips.thumbhash)
    assert left.size == right.size


def test_vips_makes_the_placeholder_from_a_shrink_big_enough_for_it() -> None:
    from thumbkit.conf import get_settings
    from thumbkit.core.engines.vips import VipsEngine
    from thumbkit.core.spec import parse

    data, conf = images.jpeg((400, 300)), get_settings()
    tiny, big = parse("12x12", crop="center"), parse("200")
    alone = VipsEngine().render(data, [big], conf)[0].lqip
    both = VipsEngine().render(data, [tiny, big], conf)
    # The 12 px spec's shrink is too small for a 32 px hash: the 200 px one is used.
    assert both[0].lqip == both[1].lqip == alone


# -- old records, every store ------------------------------------------------------------

OLD = {
    "key": "k" * 32,
    "name": "thumbs/kk/old.jpg",
    "width": 100,
    "height": 75,
    "format": "JPEG",
    "storage_alias": "default",
    "source_key": "s" * 32,
    "spec": "100x75",
    "source_name": "photos/old.jpg",
}


def check_old(record: Thumbnail) -> None:
    assert (record.name, record.width, record.height) == ("thumbs/kk/old.jpg", 100, 75)
    assert (record.placeholder_color, record.thumbhash, record.placeholder_uri) == ("", "", "")


def test_an_old_record_text_and_manifest_load() -> None:
    check_old(Thumbnail.from_json(json.dumps(OLD)))
    manifest = {"v": 1, "source": OLD["source_key"], "records": [OLD]}
    found = from_manifest(manifest, str(OLD["source_key"]))
    assert found is not None
    check_old(found[str(OLD["key"])])


def test_an_old_record_in_the_cache_store_loads() -> None:
    store = CacheStore(prefix="lqip-old:")
    store.cache.set(f"lqip-old:r:{OLD['key']}", json.dumps(OLD))
    store.cache.set(f"lqip-old:s:{OLD['source_key']}", json.dumps({OLD["key"]: OLD}))
    check_old(store.get_many([str(OLD["key"])])[str(OLD["key"])])
    check_old(store.get_sources([str(OLD["source_key"])])[str(OLD["source_key"])][str(OLD["key"])])


def test_an_old_record_in_the_redis_store_loads(redis_client: Any, redis_prefix: str) -> None:
    from django.conf import settings

    redis_client.set(f"{redis_prefix}r:{OLD['key']}", json.dumps(OLD))
    redis_client.hset(f"{redis_prefix}s:{OLD['source_key']}", str(OLD["key"]), json.dumps(OLD))
    try:
        store = RedisStore(url=settings.REDIS_URL, prefix=redis_prefix)
        check_old(store.get_many([str(OLD["key"])])[str(OLD["key"])])
        by_source = store.get_sources([str(OLD["source_key"])])
        check_old(by_source[str(OLD["source_key"])][str(OLD["key"])])
    finally:
        redis_client.delete(f"{redis_prefix}r:{OLD['key']}", f"{redis_prefix}s:{OLD['source_key']}")


@pytest.mark.django_db(transaction=True)
def test_a_db_row_from_before_the_migration_loads_after_it() -> None:
    executor = MigrationExecutor(connection)
    before = [("thumbkit", "0002_generationlock_owner")]
    latest = [("thumbkit", "0003_thumbnailrecord_placeholder")]
    executor.migrate(before)
    try:
        columns = ", ".join(f'"{c}"' for c in [*OLD, "created"])
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO "thumbkit_thumbnailrecord" ({columns}) VALUES '
                f"({', '.join(['%s'] * (len(OLD) + 1))})",
                [*OLD.values(), "2026-01-01 00:00:00"],
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    check_old(DatabaseStore().get_many([str(OLD["key"])])[str(OLD["key"])])


# -- templates ---------------------------------------------------------------------------


def render(text: str, **context: Any) -> str:
    return Template("{% load thumbkit %}" + text).render(Context(context))


def img(html: str) -> dict[str, str | None]:
    parser = Images()
    parser.feed(html)
    assert len(parser.found) == 1, html
    return parser.found[0]


def preview_of(style: str) -> Image.Image:
    match = re.search(r"background-image:url\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", style)
    assert match, style
    return Image.open(io.BytesIO(base64.b64decode(match[1])))


@pytest.fixture
def photo(save_source: Any) -> str:
    return str(save_source(images.jpeg((420, 300)), "photos/tag.jpg"))


@pytest.mark.django_db
def test_placeholder_color_on_the_inline_thumbnail(photo: str) -> None:
    thumb = get_thumbnail(photo, "100x100", crop="center")
    html = render(
        '{% thumbnail p "100x100" crop="center" placeholder="color" -- alt="x" %}', p=photo
    )
    found = img(html)
    assert found["style"] == f"background-color:{thumb.placeholder_color}"
    assert found["src"] == thumb.url
    assert found["alt"] == "x"
    # Written after -- it is the same option (<img> has no placeholder attribute); a style of
    # the page's own comes after ours, so it wins where both set a property.
    html = render(
        '{% thumbnail p "100x100" crop="center" -- placeholder="color" style="border:0" %}', p=photo
    )
    assert img(html)["style"] == f"background-color:{thumb.placeholder_color};border:0"
    assert "placeholder=" not in html


@pytest.mark.django_db
def test_placeholder_thumbhash_renders_a_covering_preview(photo: str) -> None:
    thumb = get_thumbnail(photo, "200")
    html = render('{% thumbnail p "200" placeholder=mode %}', p=photo, mode="thumbhash")
    style = str(img(html)["style"])
    assert style.startswith(f"background-color:{thumb.placeholder_color};background-image:")
    assert style.endswith(";background-size:cover;background-position:center")
    preview = preview_of(style)
    assert preview.format == "PNG"
    assert max(preview.size) == lqip.PREVIEW_SIDE
    assert preview.width / preview.height == pytest.approx(420 / 300, rel=0.1)
    assert f"url({thumb.placeholder_uri})" in style


@pytest.mark.django_db
def test_placeholder_on_picture_and_generateimage(photo: str) -> None:
    html = render(
        '{% picture p "100x100" crop="center" formats="webp,jpeg" widths="50,100" '
        'placeholder="thumbhash" -- alt="a" %}',
        p=photo,
    )
    found = img(html)
    assert "<source" in html
    assert len(str(found["srcset"]).split(", ")) == 2
    preview_of(str(found["style"]))
    assert found["style"].count("background-color:#") == 1  # type: ignore[union-attr]
    html = render(
        '{% generateimage "thumbkit:thumbnail" source=p width=80 height=80 placeholder="color" %}',
        p=photo,
    )
    assert HEX.match(str(img(html)["style"]).removeprefix("background-color:"))
    # imagekit's order, inline
    html = render('{% thumbnail "60x40" p placeholder="color" -- alt="k" %}', p=photo)
    assert HEX.match(str(img(html)["style"]).removeprefix("background-color:"))


@pytest.mark.django_db
def test_no_placeholder_no_style(photo: str) -> None:
    for mode in ('"none"', '""', "nothing"):
        html = render(f'{{% thumbnail p "100x100" placeholder={mode} %}}', p=photo)
        assert "style" not in img(html)
    # A record from before thumbkit kept placeholders: no style attribute at all.
    thumb = get_thumbnail(photo, "60")
    bare = Thumbnail(**{**thumb.to_dict(), "placeholder_color": "", "thumbhash": ""})
    get_store().set_many([bare])
    for mode in ("color", "thumbhash"):
        html = render(f'{{% thumbnail p "60" placeholder="{mode}" %}}', p=coerce(photo).name)
        assert "style" not in img(html), html


def test_a_falsy_placeholder_has_no_style() -> None:
    from thumbkit.adapters.html import img_tag

    html = img_tag(Placeholder(url="/static/none.png"), {"alt": "x"}, "thumbhash")
    assert html == '<img src="/static/none.png" alt="x">'


def test_a_damaged_record_writes_no_css() -> None:
    from thumbkit.adapters.html import img_tag

    record = Thumbnail.from_dict(
        {**OLD, "placeholder_color": "red;background:url(//evil)", "thumbhash": "!!"}
    )
    with thumbkit_settings():
        html = img_tag(record, None, "thumbhash")
    assert "style" not in html
    assert "evil" not in html


@pytest.mark.django_db
def test_transparent_sources_keep_no_background_behind_transparent_files(
    save_source: Any,
) -> None:
    image = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((20, 10, 100, 70), fill=(0, 120, 0, 255))
    name = save_source(images.encode(image, "PNG"), "photos/clear.png")
    png = render('{% thumbnail p "60" placeholder="color" %}', p=name)
    assert "style" not in img(png)  # the PNG keeps its transparency: the colour would show
    jpeg = render('{% thumbnail p "60" format="jpeg" placeholder="color" %}', p=name)
    assert img(jpeg)["style"] == "background-color:#007800"  # flattened: nothing shows through


def test_bad_placeholder_values_raise() -> None:
    with pytest.raises(TemplateSyntaxError, match='takes "color", "thumbhash" or "none"'):
        Template('{% load thumbkit %}{% thumbnail p "10" placeholder="blur" %}')
    with pytest.raises(TemplateSyntaxError, match="placeholder_color"):
        Template(
            '{% load thumbkit %}{% thumbnail p "10" placeholder="color" as t %}{% endthumbnail %}'
        )
    with pytest.raises(TemplateSyntaxError, match="given twice"):
        Template(
            '{% load thumbkit %}{% thumbnail p "10" placeholder="color" -- placeholder="color" %}'
        )
    template = Template('{% load thumbkit %}{% picture p "10" placeholder=m %}')
    with pytest.raises(TemplateSyntaxError, match="not 'blur'"):
        template.render(Context({"p": "photos/x.jpg", "m": "blur"}))


@pytest.mark.django_db
def test_the_block_form_reads_the_attributes(photo: str) -> None:
    html = render(
        '{% thumbnail p "90" as t %}{{ t.placeholder_color }} {{ t.thumbhash }} '
        "{{ t.placeholder_uri }}{% endthumbnail %}",
        p=photo,
    )
    color, thumbhash, uri = html.split(" ")
    assert HEX.match(color)
    assert decoded(thumbhash).size[0] > decoded(thumbhash).size[1]
    assert uri.startswith("data:image/png;base64,")


@pytest.mark.django_db
def test_the_manifest_column_carries_the_placeholder(tmp_path: Path) -> None:
    (tmp_path / "m.jpg").write_bytes(images.jpeg((300, 200)))
    with only_storage(str(tmp_path), FILESYSTEM):
        profile = ManifestProfile.objects.create(name="m", photo="m.jpg")
        specs = profile._meta.get_field("photo").declared_specs()  # type: ignore[union-attr]
        assert ensure(profile.photo, specs) == 2
        profile.refresh_from_db()
        records = profile.photo_thumbs["records"]
        assert len(records) == 2
        (found,) = {(r["placeholder_color"], r["thumbhash"]) for r in records}
        assert HEX.match(found[0])
        assert decoded(found[1]).width > decoded(found[1]).height
        # Read back from the column: the records a page gets without any store read.
        key = source_key(coerce(profile.photo))
        loaded = from_manifest(profile.photo_thumbs, key)
        assert loaded is not None
        assert {(t.placeholder_color, t.thumbhash) for t in loaded.values()} == {found}


# -- the page budget: a warm 100-row page costs what it cost without -----------------------

ROWS = 100
PAGE = (
    '{% load thumbkit %}{% for m in page %}{% thumbnail m.photo "100x100" crop="center" '
    'MODE-- class="small" %}{% picture m.photo "80x80" crop="center" formats="webp,jpeg" '
    'widths="80" MODE%}{% endfor %}'
)


def page_template(mode: str | None) -> Template:
    return Template(PAGE.replace("MODE", f'placeholder="{mode}" ' if mode else ""))


def render_page(mode: str | None) -> str:
    peers.close_all()  # a new request: no cohort or memo from the last render
    page = Paginator(Member.objects.order_by("pk"), ROWS).page(1)
    return page_template(mode).render(Context({"page": page}))


@dataclass
class PageCorpus:
    media: Path
    names: list[str]
    records: list[Thumbnail]


@pytest.fixture(scope="module")
def page_corpus(tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any) -> PageCorpus:
    """100 real sources (three pictures, so previews differ) and the records of the page's
    thumbnails, made once by rendering the page cold (generation, placeholders included)."""
    media = tmp_path_factory.mktemp("lqip-page")
    (media / "profiles").mkdir()
    colors = [(200, 30, 30), (30, 160, 40), (40, 60, 200)]
    names = []
    for i in range(ROWS):
        names.append(f"profiles/m-{i:03}.jpg")
        image = images.make_image((64 + i % 3 * 8, 48), color=colors[i % 3])
        (media / names[-1]).write_bytes(images.encode(image, "JPEG"))
    # Records into a locmem cache store (no database lock per source, nothing rolled back
    # but the rows); each test puts them in its own store.
    store = {"STORE": "cache", "STORE_OPTIONS": {"cache": "batching", "prefix": "lqip-page:"}}
    with django_db_blocker.unblock(), transaction.atomic():
        with only_storage(str(media), FILESYSTEM, **store), big_cache():
            Member.objects.bulk_create(Member(name=f"m{i}", photo=n) for i, n in enumerate(names))
            render_page(None)
            keys = [source_key(coerce(n)) for n in names]
            found = get_store().get_sources(keys)
        transaction.set_rollback(True)
    records = [r for key in keys for r in found[key].values()]
    assert len(records) == 3 * ROWS  # the 100x100 crop, the picture's WebP and JPEG
    return PageCorpus(media, names, records)


@pytest.mark.django_db
@pytest.mark.parametrize("store", ["db", "redis"])
def test_a_warm_page_with_placeholders_costs_what_it_cost_without(
    store: str, page_corpus: PageCorpus, request: pytest.FixtureRequest
) -> None:
    settings: dict[str, Any] = {}
    if store == "redis":
        settings = redis_store(request.getfixturevalue("redis_prefix"))
        client = request.getfixturevalue("redis_client")
    costs = {}
    pages = {}
    # Any storage call but url() fails.
    with only_storage(str(page_corpus.media), STRICT, **settings):
        Member.objects.bulk_create(
            Member(name=f"m{i}", photo=n) for i, n in enumerate(page_corpus.names)
        )
        get_store().set_many(page_corpus.records)
        get_store().get_many(["warm-up"])  # a Redis connection is made outside the budget
        for mode in (None, "color", "thumbhash"):
            with redis_trips() as trips, CaptureQueriesContext(connection) as sql:
                pages[mode] = render_page(mode)
            costs[mode] = ([q["sql"] for q in sql.captured_queries], trips.calls)
    if store == "redis":
        forget_prefix(client, settings["STORE_OPTIONS"]["prefix"])
    assert costs["color"] == costs[None]
    assert costs["thumbhash"] == costs[None]
    plain_sql, plain_trips = costs[None]
    if store == "db":
        assert len(plain_sql) == 3  # the count, the rows, one store read
        assert plain_trips == []
    else:
        assert len(plain_sql) == 2
        assert plain_trips == [index_read(ROWS)]
    assert "style" not in pages[None]
    assert pages["color"].count('style="background-color:#') == 2 * ROWS
    assert pages["thumbhash"].count("background-image:url(data:image/png;base64,") == 2 * ROWS
    assert len(set(re.findall(r"url\((data:[^)]+)\)", pages["thumbhash"]))) == 3


def test_preview_uri_is_remembered_per_hash() -> None:
    thumbhash = lqip.compute(mostly_red()).thumbhash
    lqip.preview_uri.cache_clear()
    first = lqip.preview_uri(thumbhash)
    assert lqip.preview_uri(thumbhash) is first
    assert lqip.preview_uri.cache_info().hits == 1
    assert lqip.preview_uri("") == ""
    assert lqip.preview_uri("not base64!") == ""

"""Django REST framework: ``thumbkit.drf.ThumbnailField`` through DRF's test client.

A list response of 100 rows costs its rows' query and ONE store read (db store: one SELECT
on the records table naming exactly the rows' sources; redis store: one pipeline), with
no storage call, whatever the list is: a queryset, a paginator's page, instances unpickled
from a cache (which no queryset loaded together), a plain ``models.ImageField``, a
``select_related`` source. Every entry is the real file: its URL, and the width and height
the file on disk has.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from rest_framework import serializers
from rest_framework.test import APIClient

from tests import batching_util as bu
from tests import drf_urls
from tests.api_support import only_storage
from tests.stores_util import index_read, redis_trips
from tests.testapp.models import Member, Membership, Profile
from thumbkit.adapters import peers
from thumbkit.drf import ThumbnailField
from thumbkit.exceptions import InvalidSpec
from thumbkit.lookup.api import get_spec
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.stores.redis import RedisStore
from thumbkit.lookup.thumbnail import Thumbnail

ROWS = 100
SERVER = "http://testserver/media/"
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.drf_urls")]
SMALL = get_spec("100x100", crop="center")
BIG = get_spec("250x250", crop="center")


@pytest.fixture
def corpus(batching_corpus: bu.Corpus) -> bu.Corpus:
    """Real thumbnails of the list-page sources (made once per session)."""
    return batching_corpus


@pytest.fixture(autouse=True)
def _new_request() -> None:
    peers.close_all()


@pytest.fixture(params=["db", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if request.param == "db":
        yield {}
        return
    client = request.getfixturevalue("redis_client")
    prefix = request.getfixturevalue("redis_prefix")
    yield bu.redis_store(prefix)
    bu.forget_prefix(client, prefix)


def connect_first() -> None:
    if isinstance(get_store(), RedisStore):
        get_store().get_many(["warm-up"])  # the connection is made outside the budget


def expect_one_read(q: bu.Queries, trips: Any, names: list[str], *page_sql: str) -> None:
    """The page's own queries, then exactly one store read of exactly these sources."""
    wanted = {n for n in names if n}
    if trips.calls or len(q) == len(page_sql):  # redis: no records query at all
        q.expect(*page_sql)
        assert trips.calls == [index_read(len(wanted))]
        return
    q.expect(*page_sql, bu.STORE_SQL)
    assert bu.keys_in(q.sql[-1]) == bu.source_keys(sorted(wanted))


def check_entry(entry: dict[str, Any], record: Thumbnail, media: Path) -> None:
    """The entry is the record's file, with the size the file really has."""
    assert entry == {"url": SERVER + record.name, "width": record.width, "height": record.height}
    with Image.open(media / record.name) as file:
        assert file.size == (record.width, record.height)


def small_and_card(corpus: bu.Corpus, name: str) -> tuple[Thumbnail, Thumbnail]:
    field = Profile._meta.get_field("photo")
    return (
        corpus.record(name, field.declared_spec("small")),
        corpus.record(name, field.declared_spec("card")),
    )


@pytest.mark.parametrize("url", ["/api/profiles/", "/api/profiles/paged/"])
def test_a_list_of_100_costs_one_store_read(
    url: str, corpus: bu.Corpus, store: dict[str, Any]
) -> None:
    with bu.strict(corpus, **store):  # any storage call but url() raises
        names = bu.install(corpus, "profile", ROWS, empty=[7])
        connect_first()
        with bu.queries() as q, redis_trips() as trips:
            response = APIClient().get(url)
        assert response.status_code == 200, response.content
    rows = response.json() if url.endswith("profiles/") else response.json()["results"]
    page = [bu.ROWS_SQL.format(table="profile", rows=ROWS)]
    if url.endswith("paged/"):
        page = [bu.COUNT_SQL.format(table="profile"), *page]
    else:
        page = [r'^SELECT .* FROM "testapp_profile" ORDER BY']
    expect_one_read(q, trips, names, *page)
    assert len(rows) == ROWS
    assert rows[7]["thumbnails"] is None  # the row without a photo
    for row, name in zip(rows, names, strict=True):
        if name:
            small, card = small_and_card(corpus, name)
            assert list(row["thumbnails"]) == ["small", "card"]
            check_entry(row["thumbnails"]["small"], small, corpus.media)
            check_entry(row["thumbnails"]["card"], card, corpus.media)


def test_a_cached_list_no_queryset_loaded_costs_one_store_read(
    corpus: bu.Corpus, store: dict[str, Any]
) -> None:
    # Unpickled instances have no cohort: only the list serializer's prefetch batches them.
    with bu.strict(corpus, **store):
        names = bu.install(corpus, "profile", ROWS)
        drf_urls.CACHED["profiles"] = pickle.dumps(list(Profile.objects.all()))
        connect_first()
        with bu.queries() as q, redis_trips() as trips:
            response = APIClient().get("/api/profiles/cached/")
        assert response.status_code == 200, response.content
    expect_one_read(q, trips, names)
    for row, name in zip(response.json(), names, strict=True):
        check_entry(row["thumbnails"]["small"], small_and_card(corpus, name)[0], corpus.media)


def test_a_plain_image_field_and_a_related_source_cost_one_store_read(
    corpus: bu.Corpus, store: dict[str, Any]
) -> None:
    with bu.strict(corpus, **store):
        names = bu.install(corpus, "profile", ROWS)  # their records; Members use the files
        members = Member.objects.bulk_create(Member(photo=n) for n in names)
        Membership.objects.bulk_create(Membership(member=m) for m in members)
        connect_first()
        with bu.queries() as q, redis_trips() as trips:
            listed = APIClient().get("/api/members/")
        expect_one_read(q, trips, names, r'^SELECT .* FROM "testapp_member"')
        peers.close_all()
        with bu.queries() as q, redis_trips() as trips:
            related = APIClient().get("/api/memberships/")
        expect_one_read(q, trips, names, r'^SELECT .* FROM "testapp_membership" INNER JOIN')
    for row, name in zip(listed.json(), names, strict=True):
        assert list(row["photo"]) == ["small", "big"]
        check_entry(row["photo"]["small"], corpus.record(name, SMALL), corpus.media)
        check_entry(row["photo"]["big"], corpus.record(name, BIG), corpus.media)
    for row, name in zip(related.json(), names, strict=True):
        check_entry(row["thumb"], corpus.record(name, SMALL), corpus.media)


def test_srcset_files_are_made_once_then_read_with_the_rest_and_the_placeholder(
    corpus: bu.Corpus,
) -> None:
    with only_storage(str(corpus.media), bu.FILESYSTEM):
        names = bu.install(corpus, "profile", 1)
        pk = Profile.objects.get().pk
        cold = APIClient().get(f"/api/profiles/{pk}/")  # lazy: made now, from one read
        assert cold.status_code == 200, cold.content
    with bu.strict(corpus):
        peers.close_all()
        with bu.queries() as q:
            warm = APIClient().get(f"/api/profiles/{pk}/")
    q.expect(r'^SELECT .* FROM "testapp_profile" WHERE', bu.STORE_SQL)
    hero = warm.json()["hero"]
    assert hero == cold.json()["hero"]
    card = small_and_card(corpus, names[0])[1]
    check_entry({k: hero[k] for k in ("url", "width", "height")}, card, corpus.media)
    urls = [item.split(" ") for item in hero["srcset"].split(", ")]
    assert [width for _, width in urls] == ["80w", "160w"]
    for (url, width), height in zip(urls, (60, 120), strict=True):
        with Image.open(corpus.media / url.removeprefix(SERVER)) as file:
            assert (file.size, file.format) == ((int(width[:-1]), height), "WEBP")
    # The source's LQIP, as generation stored it on the record: no file, no extra lookup.
    assert hero["placeholder"] == {
        "color": card.placeholder_color,
        "thumbhash": card.thumbhash,
        "uri": card.placeholder_uri,
    }
    assert hero["placeholder"]["color"].startswith("#")
    assert hero["placeholder"]["uri"].startswith("data:image/png;base64,")


def test_without_a_request_urls_are_relative_and_a_missing_file_is_none(
    corpus: bu.Corpus,
) -> None:
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 3, empty=[1])
        rows = drf_urls.ProfileSerializer(Profile.objects.all(), many=True).data
    small = small_and_card(corpus, names[0])[0]
    assert rows[0]["thumbnails"]["small"]["url"] == "/media/" + small.name
    assert rows[1]["thumbnails"] is None


def test_bad_arguments_raise_typed_errors() -> None:
    with pytest.raises(InvalidSpec, match="srcset is a list of positive widths"):
        ThumbnailField(specs="small", srcset=[0, 100])
    with pytest.raises(InvalidSpec, match="placeholder is True or False"):
        ThumbnailField(specs="small", placeholder=32)
    with pytest.raises(InvalidSpec, match="at least one spec"):
        ThumbnailField(specs=[])


def test_an_invalid_spec_raises_when_serialized(corpus: bu.Corpus) -> None:
    class Broken(serializers.ModelSerializer):
        thumb = ThumbnailField(source="photo", specs="300xfoo")

        class Meta:
            model = Profile
            fields = ["thumb"]

    with bu.strict(corpus):
        bu.install(corpus, "profile", 1)
        with pytest.raises(InvalidSpec):
            _ = Broken(Profile.objects.get()).data


def test_a_thumbnail_not_made_yet_is_its_strategys_stand_in(corpus: bu.Corpus) -> None:
    # optimistic: the name the file will have, its size unknown (null), nothing written;
    # a secure request gets https URLs, and absolute=False keeps them relative.
    class Later(serializers.ModelSerializer):
        soon = ThumbnailField(source="photo", specs="77x77 crop")
        here = ThumbnailField(source="photo", specs="77x77 crop", absolute=False)

        class Meta:
            model = Profile
            fields = ["soon", "here"]

    with bu.strict(corpus, STRATEGY="optimistic"):  # any write would raise
        bu.install(corpus, "profile", 1)
        request = APIClient().get("/api/profiles/").wsgi_request  # a request to hand over
        request.META["wsgi.url_scheme"] = "https"
        data = Later(Profile.objects.get(), context={"request": request}).data
    soon, here = data["soon"], data["here"]
    assert soon["url"].startswith("https://testserver/media/thumbs/")
    assert (soon["width"], soon["height"]) == (None, None)
    assert here["url"] == "/media/" + soon["url"].removeprefix("https://testserver/media/")
    assert not (corpus.media / here["url"].removeprefix("/media/")).exists()

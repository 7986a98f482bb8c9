"""Automatic and explicit batching: a list page costs one store round trip, or none.

The forum case (issue 3): a paginated view over Profile rows whose template asks, for every
row, for a declared thumbnail and for a ``{% thumbnail %}`` of its own, with no prefetch call
anywhere. Thumbnails are real (made once per session by ``batching_util.build_corpus``);
pages are rendered with every storage swapped for ``StrictStorage`` (any call but ``url()``
raises), and the SQL queries and Redis round trips are counted exactly.
"""

from __future__ import annotations

import copy
import gc
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import django
import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import FieldDoesNotExist
from django.core.signals import request_started
from django.db import models
from django.template import Context, Template
from django.urls import reverse

from tests import batching_util as bu
from tests.batching_util import COUNT_SQL, ROWS_SQL, STORE_SQL, Corpus, queries
from tests.stores_util import index_read, locmem_trips, redis_trips
from tests.testapp.models import ManifestProfile, Post, Profile, Team
from thumbkit import prefetch_thumbnails
from thumbkit.adapters import peers
from thumbkit.adapters.query import ThumbnailQuerySet, prefetch_objects
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.stores.redis import RedisStore

HAS_FETCH_MODES = django.VERSION >= (6, 1)
needs_fetch_modes = pytest.mark.skipif(
    not HAS_FETCH_MODES, reason="QuerySet.fetch_mode() arrived in Django 6.1"
)

ROW = (
    '<li id="p{{ p.pk }}"><img class="small" src="{{ p.photo.thumbnails.small.url }}" '
    'width="{{ p.photo.thumbnails.small.width }}" height="{{ p.photo.thumbnails.small.height }}">'
    '{% thumbnail p.photo "250x250" crop="center" -- class="big" %}</li>'
)
PROFILES = Template("{% load thumbkit %}<ol>{% for p in profiles %}" + ROW + "{% endfor %}</ol>")
POSTS = Template(
    "{% load thumbkit %}<ol>{% for post in posts %}{% with p=post.author %}"
    + ROW.replace("p{{ p.pk }}", "p{{ post.pk }}")
    + "{% endwith %}{% endfor %}</ol>"
)
TEAMS = Template(
    "{% load thumbkit %}{% for team in teams %}<ol>{% for p in team.members.all %}"
    + ROW
    + "{% endfor %}</ol>{% endfor %}"
)


@pytest.fixture
def corpus(batching_corpus: Corpus) -> Corpus:
    """Real thumbnails of 1000 Profile and 1000 ManifestProfile rows, made once."""
    return batching_corpus


@pytest.fixture(autouse=True)
def _new_request() -> None:
    """Each test starts as a request does: with no open cohort left by an earlier test."""
    request_started.send(sender=None)


def use_redis(request: pytest.FixtureRequest) -> dict[str, Any]:
    """THUMBKIT settings for the redis store, with a key prefix removed after the test."""
    client = request.getfixturevalue("redis_client")
    prefix = request.getfixturevalue("redis_prefix")
    request.addfinalizer(lambda: bu.forget_prefix(client, prefix))
    return bu.redis_store(prefix)


@pytest.fixture(params=["db", "redis"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    """THUMBKIT settings of the store under test."""
    return {} if request.param == "db" else use_redis(request)


class Budget:
    """What one render cost: SQL queries, Redis round trips (with their commands)."""

    def __init__(self, sql: bu.Queries, redis: Any) -> None:
        self.sql, self.redis = sql, redis

    def check(self, page_sql: list[str], names: list[str], store: dict[str, Any]) -> None:
        """The page's own queries, then exactly one store read for exactly ``names``."""
        if store:
            self.sql.expect(*page_sql)
            assert self.redis.calls == [index_read(len(bu.source_keys(names)))]
            return
        self.sql.expect(*page_sql, STORE_SQL)
        assert bu.keys_in(self.sql.sql[-1]) == bu.source_keys(names)
        assert self.redis.calls == []


@contextmanager
def measure() -> Iterator[Budget]:
    """``with measure() as cost:`` counts what the block costs."""
    if isinstance(get_store(), RedisStore):
        get_store().get_many(["warm-up"])  # connect (and handshake) outside the budget
    with queries() as sql, redis_trips() as trips:
        yield Budget(sql, trips)


def table(key: str) -> str:
    return {"profile": "profile", "manifest": "manifestprofile"}[key]


def pks(model: type[models.Model]) -> list[int]:
    return list(model.objects.order_by("pk").values_list("pk", flat=True))


# -- the forum case ---------------------------------------------------------------------

KINDS = {
    "db": ("profile", False),
    "manifest": ("manifest", False),
    "redis": ("profile", True),
    "manifest-redis": ("manifest", True),
}


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [10, 100, 1000])
@pytest.mark.parametrize("kind", list(KINDS))
def test_forum_page(
    kind: str, rows: int, corpus: Corpus, client: Any, request: pytest.FixtureRequest
) -> None:
    """The page's count and rows, plus at most one store read for every thumbnail on it."""
    key, on_redis = KINDS[kind]
    store: dict[str, Any] = {}
    if on_redis:
        store = use_redis(request)
    url = reverse("profiles", args=[key]) + f"?per_page={rows}"
    with bu.strict(corpus, **store):
        names = bu.install(corpus, key, rows)
        if on_redis:
            get_store().get_many(["warm-up"])
        with queries() as sql, redis_trips() as trips:
            response = client.get(url)
    assert response.status_code == 200
    page_sql = [COUNT_SQL.format(table=table(key)), ROWS_SQL.format(table=table(key), rows=rows)]
    if key == "manifest":
        sql.expect(*page_sql)  # the records ride on the rows: no store read at all
        assert trips.calls == []
    elif on_redis:
        sql.expect(*page_sql)
        assert trips.calls == [index_read(rows)], "one script reading every source's index"
    else:
        sql.expect(*page_sql, STORE_SQL)
        assert bu.keys_in(sql.sql[-1]) == bu.source_keys(names)
        assert trips.calls == []
    bu.check_rows(response.content.decode(), corpus, key, pks(bu.MODELS[key]), names)


@pytest.mark.django_db
def test_template_tag_alone_batches_the_page(corpus: Corpus, client: Any) -> None:
    """The first lookup of a row may be ``{% thumbnail %}``: it resolves the page too."""
    url = reverse("profiles-layout", args=["profile", "tag"]) + "?per_page=100"
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 100)
        with queries() as sql:
            response = client.get(url)
    sql.expect(
        COUNT_SQL.format(table="profile"), ROWS_SQL.format(table="profile", rows=100), STORE_SQL
    )
    assert bu.keys_in(sql.sql[-1]) == bu.source_keys(names)
    bu.check_rows(response.content.decode(), corpus, "profile", pks(Profile), names)


@pytest.mark.django_db
def test_paginator_page_resolves_its_own_rows(corpus: Corpus, client: Any) -> None:
    url = reverse("profiles", args=["profile"]) + "?per_page=10&page=2"
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 30)
        with queries() as sql:
            response = client.get(url)
    sql.expect(
        COUNT_SQL.format(table="profile"),
        ROWS_SQL.format(table="profile", rows=10) + " OFFSET 10",
        STORE_SQL,
    )
    assert bu.keys_in(sql.sql[-1]) == bu.source_keys(names[10:20])
    bu.check_rows(response.content.decode(), corpus, "profile", pks(Profile)[10:20], names[10:20])


# -- relations --------------------------------------------------------------------------


def make_posts(corpus: Corpus, rows: int) -> list[str]:
    """Two posts per profile; returns each post's author photo, in post order."""
    names = bu.install(corpus, "profile", rows)
    authors = dict(zip(pks(Profile), names, strict=True))
    Post.objects.bulk_create(
        Post(author_id=pk, title=f"post {i}") for pk in authors for i in range(2)
    )
    return [authors[a] for a in Post.objects.order_by("pk").values_list("author_id", flat=True)]


def make_teams(corpus: Corpus, teams: int, size: int) -> list[str]:
    names = bu.install(corpus, "profile", teams * size)
    members = pks(Profile)
    for t in range(teams):
        Team.objects.create(name=f"team {t}").members.set(members[t * size : (t + 1) * size])
    return names


@pytest.mark.django_db
def test_select_related(corpus: Corpus, store: dict[str, Any]) -> None:
    with bu.strict(corpus, **store):
        names = make_posts(corpus, 100)
        with measure() as cost:
            html = POSTS.render(Context({"posts": Post.objects.select_related("author")}))
    cost.check([r'^SELECT .* FROM "testapp_post" INNER JOIN "testapp_profile"'], names, store)
    post_pks = list(Post.objects.order_by("pk").values_list("pk", flat=True))
    bu.check_rows(html, corpus, "profile", post_pks, names)


@pytest.mark.django_db
def test_prefetch_related(corpus: Corpus, store: dict[str, Any]) -> None:
    with bu.strict(corpus, **store):
        names = make_teams(corpus, 10, 10)
        with measure() as cost:
            teams = Team.objects.order_by("pk").prefetch_related("members")
            html = TEAMS.render(Context({"teams": teams}))
    member_sql = r'^SELECT .* FROM "testapp_profile" INNER JOIN "testapp_team_members"'
    cost.check([r'^SELECT .* FROM "testapp_team"', member_sql], names, store)
    bu.check_rows(html, corpus, "profile", pks(Profile), names)


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [10, 1000])
def test_list_of_a_queryset(corpus: Corpus, store: dict[str, Any], rows: int) -> None:
    with bu.strict(corpus, **store):
        names = bu.install(corpus, "profile", rows)
        with measure() as cost:
            html = PROFILES.render(Context({"profiles": Profile.objects.all()}))
    cost.check([r'^SELECT .* FROM "testapp_profile"'], names, store)
    bu.check_rows(html, corpus, "profile", pks(Profile), names)


# -- Django 6.1 fetch modes -------------------------------------------------------------


@needs_fetch_modes
@pytest.mark.django_db
@pytest.mark.parametrize("rows", [10, 1000])
def test_fetch_peers_budget(corpus: Corpus, store: dict[str, Any], rows: int) -> None:
    with bu.strict(corpus, **store):
        names = bu.install(corpus, "profile", rows)
        with measure() as cost:
            profiles = Profile.objects.fetch_mode(models.FETCH_PEERS)
            html = PROFILES.render(Context({"profiles": profiles}))
    cost.check([r'^SELECT .* FROM "testapp_profile"'], names, store)
    bu.check_rows(html, corpus, "profile", pks(Profile), names)


@needs_fetch_modes
@pytest.mark.django_db
def test_fetch_peers_select_related(corpus: Corpus, store: dict[str, Any]) -> None:
    with bu.strict(corpus, **store):
        names = make_posts(corpus, 20)
        with measure() as cost:
            posts = Post.objects.fetch_mode(models.FETCH_PEERS).select_related("author")
            html = POSTS.render(Context({"posts": posts}))
    cost.check([r'FROM "testapp_post" INNER JOIN "testapp_profile"'], names, store)
    post_pks = list(Post.objects.order_by("pk").values_list("pk", flat=True))
    bu.check_rows(html, corpus, "profile", post_pks, names)


@needs_fetch_modes
@pytest.mark.django_db
def test_fetch_peers_prefetch_related(corpus: Corpus, store: dict[str, Any]) -> None:
    with bu.strict(corpus, **store):
        names = make_teams(corpus, 5, 4)
        with measure() as cost:
            teams = Team.objects.fetch_mode(models.FETCH_PEERS).prefetch_related("members")
            html = TEAMS.render(Context({"teams": teams.order_by("pk")}))
    cost.check([r'FROM "testapp_team"', r'INNER JOIN "testapp_team_members"'], names, store)
    bu.check_rows(html, corpus, "profile", pks(Profile), names)


@needs_fetch_modes
@pytest.mark.django_db
def test_fetch_peers_uses_djangos_peers_not_cohorts(corpus: Corpus) -> None:
    """Two querysets loaded before any lookup: each resolves its own rows, as Django's
    FETCH_PEERS would load a deferred field (under the default mode they share a cohort)."""
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 10)
        qs = Profile.objects.fetch_mode(models.FETCH_PEERS).order_by("pk")
        first, second = list(qs[:4]), list(qs[4:])
        with queries() as sql:
            first[0].photo.thumbnails.small  # noqa: B018
        assert bu.keys_in(sql.store_reads()[0]) == bu.source_keys(names[:4])
        with queries() as sql:
            [p.photo.thumbnails.card for p in first]
            second[-1].photo.thumbnails.small  # noqa: B018
        sql.expect(STORE_SQL)
        assert bu.keys_in(sql.sql[0]) == bu.source_keys(names[4:])


@needs_fetch_modes
@pytest.mark.django_db
def test_fetch_peers_joins_djangos_deferred_loading(corpus: Corpus) -> None:
    """A deferred photo: Django loads it for every peer in one query, thumbkit the records in
    one more."""
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 50)
        with queries() as sql:
            html = PROFILES.render(
                Context({"profiles": Profile.objects.fetch_mode(models.FETCH_PEERS).only("name")})
            )
    sql.expect(r'^SELECT .* FROM "testapp_profile"', r'"testapp_profile"\."photo"', STORE_SQL)
    bu.check_rows(html, corpus, "profile", pks(Profile), names)


@needs_fetch_modes
@pytest.mark.django_db
def test_fetch_raise_raises_like_django(corpus: Corpus) -> None:
    from django.core.exceptions import FieldFetchBlocked

    with bu.strict(corpus):
        bu.install(corpus, "profile", 5)
        profiles = list(Profile.objects.fetch_mode(models.FETCH_RAISE))
        with queries() as sql:
            with pytest.raises(FieldFetchBlocked, match=r"^Fetching of Profile\.photo blocked\.$"):
                profiles[0].photo.thumbnails.small  # noqa: B018
            with pytest.raises(FieldFetchBlocked, match=r"Profile\.photo"):
                PROFILES.render(Context({"profiles": profiles[1:]}))
        sql.expect()
        # Django's own field fetch raises the same way: thumbkit is not stricter or looser.
        with pytest.raises(FieldFetchBlocked, match=r"^Fetching of Profile\.photo blocked\.$"):
            Profile.objects.fetch_mode(models.FETCH_RAISE).only("name")[0].photo  # noqa: B018


@needs_fetch_modes
@pytest.mark.django_db
@pytest.mark.parametrize("how", ["queryset", "prefetch_objects"])
def test_fetch_raise_after_an_explicit_prefetch(corpus: Corpus, how: str) -> None:
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 20)
        qs = ThumbnailQuerySet(Profile).fetch_mode(models.FETCH_RAISE)
        with queries() as sql:
            if how == "queryset":
                profiles = list(qs.prefetch_thumbnails("photo"))
            else:
                profiles = list(qs)
                prefetch_objects(profiles, "photo")
        sql.expect(r'^SELECT .* FROM "testapp_profile"', STORE_SQL)
        with queries() as sql:
            html = PROFILES.render(Context({"profiles": profiles}))
        sql.expect()
    bu.check_rows(html, corpus, "profile", pks(Profile), names)


@needs_fetch_modes
@pytest.mark.django_db
def test_fetch_raise_after_prefetch_thumbnails(corpus: Corpus) -> None:
    with bu.strict(corpus):
        bu.install(corpus, "profile", 5)
        profiles = list(Profile.objects.fetch_mode(models.FETCH_RAISE))
        prefetch_thumbnails(profiles, "photo", ["small"])
        assert profiles[0].photo.thumbnails.small.width == 100


@needs_fetch_modes
@pytest.mark.django_db
def test_fetch_raise_with_a_manifest_needs_no_fetch(corpus: Corpus) -> None:
    """Records riding on the row are not a fetch: no FieldFetchBlocked under FETCH_RAISE."""
    with bu.strict(corpus):
        names = bu.install(corpus, "manifest", 5)
        rows = ManifestProfile.objects.fetch_mode(models.FETCH_RAISE)
        tag = Template(
            "{% load thumbkit %}{% for p in rows %}"
            '{% thumbnail p.photo "250x250" crop="center" as t %}{{ t.url }} {% endthumbnail %}'
            "{% endfor %}"
        )
        with queries() as sql:
            html = tag.render(Context({"rows": rows}))
        with queries() as accessed:
            smalls = [
                p.photo.thumbnails.small.url
                for p in ManifestProfile.objects.fetch_mode(models.FETCH_RAISE)
            ]
    sql.expect(r'^SELECT .* FROM "testapp_manifestprofile"')
    accessed.expect(r'^SELECT .* FROM "testapp_manifestprofile"')
    assert html.split() == ["/media/" + corpus.record(n, bu.tag_spec()).name for n in names]
    small = ManifestProfile._meta.get_field("photo").declared_spec("small")
    assert smalls == ["/media/" + corpus.record(n, small).name for n in names]


# -- ThumbnailQuerySet ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["profile", "manifest"])
def test_queryset_prefetch_thumbnails(corpus: Corpus, key: str) -> None:
    model = bu.MODELS[key]
    with bu.strict(corpus):
        names = bu.install(corpus, key, 30)
        qs = ThumbnailQuerySet(model).prefetch_thumbnails("photo").filter(pk__in=pks(model)[5:25])
        with queries() as sql:
            rows = list(qs.order_by("-pk")[:10])
        expected = [r'^SELECT .* FROM "testapp_' + table(key) + '"']
        sql.expect(*expected, *([STORE_SQL] if key == "profile" else []))
        if key == "profile":
            # The clone chain kept the prefetch; only the ten rows are read.
            assert bu.keys_in(sql.sql[-1]) == bu.source_keys(names[15:25])
        with queries() as sql:
            html = PROFILES.render(Context({"profiles": rows}))
        sql.expect()
    bu.check_rows(html, corpus, key, pks(model)[15:25][::-1], names[15:25][::-1])


@pytest.mark.django_db
def test_queryset_as_manager_and_default_fields(corpus: Corpus) -> None:
    manager = ThumbnailQuerySet.as_manager()
    manager.model = Profile
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 5)
        with queries() as sql:
            rows = list(manager.prefetch_thumbnails())  # every image field: photo
        sql.expect(r'FROM "testapp_profile"', STORE_SQL)
        assert bu.keys_in(sql.sql[-1]) == bu.source_keys(names)
        with queries() as sql:
            assert [p.photo.thumbnails.small.width for p in rows] == [100] * 5
        sql.expect()


@pytest.mark.django_db
@pytest.mark.parametrize("on_redis", [False, True], ids=["db", "redis"])
def test_iterator_one_round_trip_per_chunk(
    corpus: Corpus, on_redis: bool, request: pytest.FixtureRequest
) -> None:
    store: dict[str, Any] = {}
    if on_redis:
        store = use_redis(request)
    with bu.strict(corpus, **store):
        names = bu.install(corpus, "profile", 25)
        if on_redis:
            get_store().get_many(["warm-up"])
        qs = ThumbnailQuerySet(Profile).order_by("pk").prefetch_thumbnails("photo")
        per_row: list[int] = []  # Redis round trips so far, at each row
        with queries() as sql, redis_trips() as trips:
            for profile in qs.iterator(chunk_size=10):
                assert profile.photo.thumbnails.small.width == 100
                assert str(profile.photo.thumbnails.card).endswith(".webp")
                per_row.append(len(trips))
    reads = [bu.keys_in(q) for q in sql.store_reads()]
    if on_redis:
        assert reads == []
        assert trips.calls == [index_read(10), index_read(10), index_read(5)]
        assert per_row == [1] * 10 + [2] * 10 + [3] * 5
    else:
        assert reads == [bu.source_keys(names[i : i + 10]) for i in (0, 10, 20)]
        assert trips.calls == []


@pytest.mark.django_db
def test_iterator_chunks_are_read_before_their_rows(corpus: Corpus) -> None:
    """Each chunk's records are read before its first row is handed out."""
    with bu.strict(corpus):
        bu.install(corpus, "profile", 25)
        qs = ThumbnailQuerySet(Profile).order_by("pk").prefetch_thumbnails("photo")
        with queries():
            from django.db import connection

            counts = []
            for profile in qs.iterator(chunk_size=10):
                before = len(connection.queries)
                assert profile.photo.thumbnails.small.height == 100
                assert len(connection.queries) == before, "a lookup inside the loop queried"
                counts.append(
                    sum('"thumbkit_thumbnailrecord"' in q["sql"] for q in connection.queries)
                )
    assert counts == [1] * 10 + [2] * 10 + [3] * 5


@pytest.mark.django_db
def test_aiterator_one_round_trip_per_chunk(corpus: Corpus) -> None:
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 7)
        qs = ThumbnailQuerySet(Profile).order_by("pk").prefetch_thumbnails("photo")

        async def collect() -> list[Profile]:
            return [p async for p in qs.aiterator(chunk_size=3)]

        with queries() as sql:
            rows = async_to_sync(collect)()
        assert [bu.keys_in(q) for q in sql.store_reads()] == [
            bu.source_keys(names[i : i + 3]) for i in (0, 3, 6)
        ]
        with queries() as sql:
            assert [p.photo.thumbnails.small.width for p in rows] == [100] * 7
        sql.expect()


@pytest.mark.django_db
def test_queryset_prefetch_through_relations(corpus: Corpus) -> None:
    with bu.strict(corpus):
        post_names = make_posts(corpus, 10)
        with queries() as sql:
            posts = list(
                ThumbnailQuerySet(Post)
                .select_related("author")
                .prefetch_thumbnails("author__photo")
            )
        sql.expect(r'FROM "testapp_post" INNER JOIN "testapp_profile"', STORE_SQL)
        assert bu.keys_in(sql.sql[-1]) == bu.source_keys(post_names)
        with queries() as sql:
            POSTS.render(Context({"posts": posts}))
        sql.expect()
    Post.objects.all().delete()
    Profile.objects.all().delete()
    with bu.strict(corpus):
        names = make_teams(corpus, 3, 4)
        with queries() as sql:
            teams = list(
                ThumbnailQuerySet(Team)
                .prefetch_related("members")
                .prefetch_thumbnails("members__photo")
            )
        sql.expect(r'FROM "testapp_team"', r'INNER JOIN "testapp_team_members"', STORE_SQL)
        assert bu.keys_in(sql.sql[-1]) == bu.source_keys(names)
        with queries() as sql:
            html = TEAMS.render(Context({"teams": teams}))
        sql.expect()
    bu.check_rows(html, corpus, "profile", pks(Profile), names)


@pytest.mark.django_db
def test_queryset_prefetch_checks_its_field_names() -> None:
    qs = ThumbnailQuerySet(Profile)
    with pytest.raises(ValueError, match=r"Profile\.name is not a file field"):
        qs.prefetch_thumbnails("name")
    with pytest.raises(ValueError, match=r"'name' is not a relation"):
        qs.prefetch_thumbnails("name__photo")
    with pytest.raises(FieldDoesNotExist):
        qs.prefetch_thumbnails("nope")
    # Rows that are not instances have nothing to resolve, and cost nothing more.
    Profile.objects.create(name="x", photo="profiles/x.jpg")
    with queries() as sql:
        assert list(qs.prefetch_thumbnails("photo").values_list("name", flat=True)) == ["x"]
    sql.expect(r'FROM "testapp_profile"')


@pytest.mark.django_db
def test_prefetch_thumbnails_on_a_list_built_by_hand(corpus: Corpus) -> None:
    """Instances from several querysets (several cohorts) and an unpickled one: one read."""
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 12)
        first = list(Profile.objects.order_by("pk")[:4])
        first[0].photo.thumbnails.small  # noqa: B018  (closes their cohort)
        second = list(Profile.objects.order_by("pk")[4:8])
        stray = pickle.loads(pickle.dumps(Profile.objects.order_by("pk")[8]))
        extra = list(Profile.objects.order_by("pk")[9:])
        objs = [*second, stray, *extra]
        with queries() as sql:
            found = prefetch_thumbnails(objs, "photo", ["small", "250x250"])
        sql.expect(STORE_SQL)
        assert bu.keys_in(sql.sql[0]) == bu.source_keys(names[4:])
        assert found[(names[8], "small")] == corpus.record(
            names[8], Profile._meta.get_field("photo").declared_spec("small")
        )
        assert found[(names[8], "250x250")] is None  # not generated without crop: a miss
        with queries() as sql:
            assert [p.photo.thumbnails.card.width for p in objs] == [320] * 8
        sql.expect()


# -- edge cases -------------------------------------------------------------------------


@pytest.mark.django_db
def test_rows_loaded_after_a_lookup_start_a_new_cohort(corpus: Corpus) -> None:
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 10)
        gc.collect()
        first = list(Profile.objects.order_by("pk")[:6])
        with queries() as sql:
            first[0].photo.thumbnails.small  # noqa: B018
        assert bu.keys_in(sql.store_reads()[0]) == bu.source_keys(names[:6])
        second = list(Profile.objects.order_by("pk")[6:])
        with queries() as sql:
            second[0].photo.thumbnails.small  # noqa: B018
            [p.photo.thumbnails.card for p in [*first, *second]]
        sql.expect(STORE_SQL)
        assert bu.keys_in(sql.sql[0]) == bu.source_keys(names[6:])


@pytest.mark.django_db
def test_a_request_starts_new_cohorts(corpus: Corpus) -> None:
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 6)
        before = list(Profile.objects.order_by("pk")[:3])
        request_started.send(sender=None)
        after = list(Profile.objects.order_by("pk")[3:])
        with queries() as sql:
            after[0].photo.thumbnails.small  # noqa: B018
        assert bu.keys_in(sql.store_reads()[0]) == bu.source_keys(names[3:])
        assert before[0].photo.thumbnails.small.width == 100


@pytest.mark.django_db
def test_cohorts_are_bounded(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "MAX_COHORT", 4)
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 10)
        gc.collect()
        peers.close_all()
        rows = list(Profile.objects.order_by("pk"))
        cohorts = {id(p.__dict__["_thumbkit_cohort"]): p.__dict__["_thumbkit_cohort"] for p in rows}
        assert sorted(len(c.refs) for c in cohorts.values()) == [2, 4, 4]
        with queries() as sql:
            [p.photo.thumbnails.small for p in rows]
        assert [bu.keys_in(q) for q in sql.store_reads()] == [
            bu.source_keys(names[i : i + 4]) for i in (0, 4, 8)
        ]


@pytest.mark.django_db
def test_a_full_cohort_of_dead_rows_is_pruned_not_split(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows loaded earlier in the thread and gone must not split the next page's cohort."""
    monkeypatch.setattr(peers, "MAX_COHORT", 4)
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 7)
        gc.collect()
        peers.close_all()
        list(Profile.objects.order_by("pk")[:3])  # loaded, never looked at, gone
        page = list(Profile.objects.order_by("pk")[3:])
        assert len({id(p.__dict__["_thumbkit_cohort"]) for p in page}) == 1
        with queries() as sql:
            [p.photo.thumbnails.small for p in page]
        sql.expect(STORE_SQL)
        assert bu.keys_in(sql.sql[0]) == bu.source_keys(names[3:])


@pytest.mark.django_db
@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_pickled_and_copied_instances(corpus: Corpus, clone: Callable[[Any], Any]) -> None:
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 5)
        rows = list(Profile.objects.order_by("pk"))
        copied = clone(pickle.dumps(rows[2]) if clone is pickle.loads else rows[2])
        assert copied.__dict__["_thumbkit_cohort"].refs == []  # an empty cohort of its own
        assert copied.photo.name == names[2]
        with queries() as sql:
            assert copied.photo.thumbnails.small.width == 100
        sql.expect(STORE_SQL)
        assert bu.keys_in(sql.sql[0]) == bu.source_keys(names[2:3])
        with queries() as sql:  # the originals still resolve together
            [p.photo.thumbnails.small for p in rows]
        sql.expect(STORE_SQL)
        assert bu.keys_in(sql.sql[0]) == bu.source_keys(names)
        # A resolved instance pickles too; its copy resolves again (memos are not pickled).
        again = pickle.loads(pickle.dumps(rows[0]))
        assert again.photo.thumbnails.small == rows[0].photo.thumbnails.small
    assert copy.copy(rows[1]).photo.thumbnails.small.height == 100


@pytest.mark.django_db
def test_deferred_photos_cost_no_query_per_row(corpus: Corpus) -> None:
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 10)
        rows = list(Profile.objects.only("name").order_by("pk"))
        with queries() as sql:
            assert rows[3].photo.thumbnails.small.width == 100
        # Django loads the one deferred photo asked for; thumbkit reads that source alone
        # rather than loading nine more photos to batch them.
        sql.expect(r'SELECT .*"testapp_profile"\."photo"', STORE_SQL)
        assert bu.keys_in(sql.sql[1]) == bu.source_keys(names[3:4])
        assert all("photo" not in p.__dict__ for i, p in enumerate(rows) if i != 3)


EMPTY_ROWS = Template(
    "{% load thumbkit %}{% for p in rows %}[{{ p.photo.thumbnails.small.url }}"
    '{% thumbnail p.photo "250x250" crop="center" %}]{% endfor %}'
)


@pytest.mark.django_db
def test_empty_photos_render_nothing_and_cost_nothing(corpus: Corpus) -> None:
    with bu.strict(corpus):
        names = bu.install(corpus, "profile", 6, empty=[1, 2, 4])
        with queries() as sql:
            html = EMPTY_ROWS.render(Context({"rows": Profile.objects.order_by("pk")}))
    sql.expect(r'FROM "testapp_profile"', STORE_SQL)
    assert bu.keys_in(sql.sql[1]) == bu.source_keys(names)
    parts = html.split("][")
    assert [p.strip("[]") == "" for p in parts] == [False, True, True, False, True, False]
    with bu.strict(corpus):
        only_empty = list(Profile.objects.filter(photo=""))
        with queries() as sql:
            assert EMPTY_ROWS.render(Context({"rows": only_empty})) == "[][][]"
        sql.expect()


@pytest.mark.django_db
def test_threads_have_their_own_cohorts(corpus: Corpus, redis_prefix: str) -> None:
    """Built in memory (no database in the thread); the cache store on locmem is shared."""
    store = {"STORE": "cache", "STORE_OPTIONS": {"cache": "batching", "prefix": redis_prefix}}
    names = corpus.names["profile"][:10]
    with bu.big_cache(), bu.strict(corpus, **store):
        get_store().set_many([r for n in names for r in corpus.records[n].values()])
        peers.close_all()
        mine = [Profile(pk=i + 1, photo=n) for i, n in enumerate(names[:5])]
        theirs: list[Profile] = []

        def other_thread() -> None:
            theirs.extend(Profile(pk=i + 6, photo=n) for i, n in enumerate(names[5:]))
            assert theirs[0].photo.thumbnails.small.width == 100

        with locmem_trips() as trips:
            worker = threading.Thread(target=other_thread)
            worker.start()
            worker.join(30)
            assert len(trips) == 1
            assert all(is_resolved(p) for p in theirs)
            assert not any(is_resolved(p) for p in mine)
            assert mine[0].photo.thumbnails.small.width == 100
            assert len(trips) == 2
            assert all(is_resolved(p) for p in mine)


def is_resolved(profile: Profile) -> bool:
    from thumbkit.lookup import batch
    from thumbkit.lookup.source import coerce

    return batch.is_complete(coerce(profile.photo))


@pytest.mark.django_db
def test_records_missing_from_a_manifest_fall_back_to_the_store(corpus: Corpus) -> None:
    """A row whose manifest does not describe its file (never written, or for another file)
    is read from the store, together with the rest of the page in one read."""
    with bu.strict(corpus):
        names = bu.install(corpus, "manifest", 6)
        ManifestProfile.objects.filter(pk__in=pks(ManifestProfile)[:2]).update(photo_thumbs={})
        stale = corpus.manifests[names[5]]
        ManifestProfile.objects.filter(pk=pks(ManifestProfile)[4]).update(photo_thumbs=stale)
        with queries() as sql:
            html = PROFILES.render(Context({"profiles": ManifestProfile.objects.all()}))
    sql.expect(r'FROM "testapp_manifestprofile"', STORE_SQL)
    assert bu.keys_in(sql.sql[1]) == bu.source_keys([names[0], names[1], names[4]])
    bu.check_rows(html, corpus, "manifest", pks(ManifestProfile), names)


@pytest.mark.django_db
def test_corpus_is_real(corpus: Corpus) -> None:
    """The session's thumbnails exist on disk with the recorded sizes."""
    from PIL import Image

    sizes = set()
    for name in corpus.names["profile"]:
        records = corpus.records[name]
        assert len(records) == 4  # small, 250x250 crop, WebP card, JPEG card
        for record in records.values():
            with Image.open(corpus.media / record.name) as file:
                assert file.size == (record.width, record.height)
                sizes.add((file.format, file.size))
    assert sizes == {
        ("JPEG", (100, 100)),
        ("JPEG", (250, 250)),
        ("WEBP", (320, 240)),
        ("JPEG", (320, 240)),
    }

"""Automatic batching for any file field: the seed's forum page as its poster wrote it.

``Member`` keeps a plain ``models.ImageField`` (and a third-party ImageField subclass and a
``models.FileField``) and takes its thumbnails in model methods with ``get_thumbnail``, sorl's
way. A paginated page of members must cost the paginator's COUNT, the rows and one store
read for every thumbnail on it (db store), or no SQL beyond the page and one Redis round
trip (redis store), with no storage call: on SQLite and on PostgreSQL, at 10, 100 and 1000
rows, through the methods, both forms of ``{% thumbnail %}``, ``thumbnail_url`` and
``{% picture %}``. The thumbnails are real (``batching_util``'s corpus, plus the picture's
variants made once here).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import django
import pytest
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.db.models.signals import post_init
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from tests import batching_util as bu
from tests.api_support import only_storage
from tests.stores_util import index_read, redis_trips
from tests.testapp.models import Member, Membership, Photo, Profile
from thumbkit import get_thumbnail
from thumbkit.adapters import peers
from thumbkit.exceptions import SourceMissing
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.stores.redis import RedisStore

HAS_FETCH_MODES = django.VERSION >= (6, 1)

PICTURE = '{% picture p.photo "100x100" crop="center" formats="webp,jpeg" widths="100,50" %}'
ROWS = {
    "method": '<img class="small" src="{{ p.thumbnail_photo }}">'
    '<img class="big" src="{{ p.detail_photo }}">',
    "block": '{% thumbnail p.photo "100x100" crop="center" as t %}<img class="small" '
    'src="{{ t.url }}" width="{{ t.width }}" height="{{ t.height }}">{% endthumbnail %}'
    '{% thumbnail p.photo "250x250" crop="center" as t %}<img class="big" src="{{ t.url }}">'
    "{% endthumbnail %}",
    "inline": '{% thumbnail p.photo "100x100" crop="center" -- class="small" %}'
    '{% thumbnail p.photo "250x250" crop="center" -- class="big" %}',
    "thumbnail_url": '<img class="small" src="{{ p.photo|thumbnail_url:"100x100 crop" }}">'
    '<img class="big" src="{% thumbnail_url p.photo "250x250" crop="center" %}">',
    "picture": PICTURE,
}
PAGE = (
    '{{% load thumbkit %}}<ol>{{% for p in page %}}<li id="p{{{{ p.pk }}}}">{row}</li>'
    "{{% endfor %}}</ol>"
)
TEMPLATES = {entry: Template(PAGE.format(row=row)) for entry, row in ROWS.items()}
SMALL, BIG = ("100x100", {"crop": "center"}), ("250x250", {"crop": "center"})
MEMBERS_SQL = r'^SELECT .* FROM "testapp_member"'
COUNT_SQL = r'^SELECT COUNT\(\*\) AS "__count" FROM "testapp_member"'
PG = pytest.mark.django_db(transaction=True, databases=["default", "pg"])


@pytest.fixture(scope="session")
def plain_corpus(batching_corpus: bu.Corpus, django_db_blocker: Any) -> bu.Corpus:
    """batching_util's corpus (1000 sources with real thumbnails), plus the records of the
    picture's variants of each source, made once by rendering the picture over them."""
    made = copy.deepcopy(batching_corpus)
    names = made.names["profile"]
    with django_db_blocker.unblock(), transaction.atomic():
        with only_storage(str(made.media), bu.FILESYSTEM, **bu.CORPUS_STORE), bu.big_cache():
            Member.objects.bulk_create(Member(photo=n) for n in names)
            TEMPLATES["picture"].render(Context({"page": Member.objects.all()}))
            keys = {source_key(coerce(n)): n for n in names}
            for key, records in get_store().get_sources(list(keys)).items():
                made.records[keys[key]].update({r.spec: r for r in records.values()})
        transaction.set_rollback(True)
    # the corpus' four (small, 250x250, both cards), the picture's WebP and JPEG at 100 and 50
    assert {len(r) for r in made.records.values()} == {8}
    return made


@pytest.fixture
def corpus(plain_corpus: bu.Corpus) -> bu.Corpus:
    return plain_corpus


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


def install(corpus: bu.Corpus, rows: int, using: str = "default", **extra: Any) -> list[str]:
    """``rows`` Member rows on ``using`` with the corpus' photos; their records in the store."""
    names = corpus.names["profile"][:rows]
    Member.objects.using(using).bulk_create(
        Member(name=f"m{i}", photo=n, **extra) for i, n in enumerate(names)
    )
    get_store().set_many([r for n in names for r in corpus.records[n].values()])
    if isinstance(get_store(), RedisStore):
        get_store().get_many(["warm-up"])  # connect outside the budget
    return names


@contextmanager
def counted(using: str) -> Iterator[tuple[list[str], Any, list[str]]]:
    """(SQL on ``using``, Redis round trips, SQL on ``default`` when ``using`` is another)."""
    other = connections["default"] if using != "default" else None
    found: list[str] = []
    elsewhere: list[str] = []
    with CaptureQueriesContext(connections[using]) as sql, redis_trips() as trips:
        if other is None:
            yield found, trips, elsewhere
        else:
            with CaptureQueriesContext(other) as more:
                yield found, trips, elsewhere
            elsewhere.extend(q["sql"] for q in more.captured_queries)
    found.extend(q["sql"] for q in sql.captured_queries)


def expect_budget(
    sql: list[str], trips: Any, elsewhere: list[str], names: list[str], on_redis: bool
) -> None:
    """COUNT, rows and exactly one store read for exactly these sources."""
    assert elsewhere == []
    page = [COUNT_SQL, MEMBERS_SQL]
    if on_redis:
        assert len(sql) == 2, sql
        assert all(re.search(p, q) for p, q in zip(page, sql, strict=True)), sql
        assert trips.calls == [index_read(len(names))]
        return
    assert len(sql) == 3, "\n".join(sql)
    assert all(re.search(p, q) for p, q in zip([*page, bu.STORE_SQL], sql, strict=True)), sql
    assert bu.keys_in(sql[-1]) == bu.source_keys(names)
    assert trips.calls == []


def render_page(entry: str, rows: int, using: str = "default") -> str:
    page = Paginator(Member.objects.using(using).order_by("pk"), rows).page(1)
    return TEMPLATES[entry].render(Context({"page": page}))


def check_page(html: str, corpus: bu.Corpus, entry: str, names: list[str]) -> None:
    """Every row shows its own thumbnails' files (real ones, of the right size)."""
    found = re.findall(r'<li id="p\d+">(.*?)</li>', html)
    assert len(found) == len(names)
    for row, name in zip(found, names, strict=True):
        srcs = re.findall(r'(?:src|srcset)="([^" ]+)', row)
        assert srcs, row
        known = {"/media/" + r.name for r in corpus.records[name].values()}
        assert set(srcs) <= known, (set(srcs) - known, row)
        if entry != "picture":
            small = get_thumbnail(coerce(name), *SMALL[:1], **SMALL[1])
            assert f'src="/media/{small.name}"' in row


# -- the forum page, every entry point, both stores, SQLite and PostgreSQL ------------------


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [10, 100, 1000])
@pytest.mark.parametrize("entry", list(ROWS))
def test_forum_page_sqlite(entry: str, rows: int, corpus: bu.Corpus, store: dict[str, Any]) -> None:
    with bu.strict(corpus, **store):
        names = install(corpus, rows)
        with counted("default") as (sql, trips, elsewhere):
            html = render_page(entry, rows)
        expect_budget(sql, trips, elsewhere, names, bool(store))
        check_page(html, corpus, entry, names)


@PG
@pytest.mark.parametrize("rows", [10, 100, 1000])
@pytest.mark.parametrize("entry", list(ROWS))
def test_forum_page_postgresql(
    entry: str, rows: int, corpus: bu.Corpus, store: dict[str, Any]
) -> None:
    settings = store or {"STORE": "db", "STORE_OPTIONS": {"using": "pg"}}
    with bu.strict(corpus, **settings):
        names = install(corpus, rows, using="pg")
        with counted("pg") as (sql, trips, elsewhere):
            html = render_page(entry, rows, using="pg")
        expect_budget(sql, trips, elsewhere, names, bool(store))
        check_page(html, corpus, entry, names)


# -- other ways of loading rows together ------------------------------------------------


@pytest.mark.django_db
def test_list_of_a_queryset_and_plain_iteration(corpus: bu.Corpus) -> None:
    with bu.strict(corpus):
        names = install(corpus, 50)
        with counted("default") as (sql, _trips, _):
            urls = [m.thumbnail_photo() for m in Member.objects.all()]
        assert len(sql) == 2
        assert re.search(bu.STORE_SQL, sql[1])
        assert bu.keys_in(sql[1]) == bu.source_keys(names)
        assert len(set(urls)) == 50


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["select_related", "prefetch_related"])
def test_related_rows_batch(corpus: bu.Corpus, how: str) -> None:
    with bu.strict(corpus):
        names = install(corpus, 30)
        Membership.objects.bulk_create(Membership(member=m) for m in Member.objects.all())
        with counted("default") as (sql, _, _):
            if how == "select_related":
                urls = [
                    ms.member.thumbnail_photo()
                    for ms in Membership.objects.select_related("member")
                ]
            else:
                query = Member.objects.prefetch_related("memberships")
                urls = [m.thumbnail_photo() for m in query if m.memberships.all()]
        page_queries = 1 if how == "select_related" else 2
        assert len(sql) == page_queries + 1, sql
        assert bu.keys_in(sql[-1]) == bu.source_keys(names)
        assert len(set(urls)) == 30


@pytest.mark.django_db
def test_every_image_field_of_the_rows_is_read_with_the_first(corpus: bu.Corpus) -> None:
    """A third-party ImageField subclass batches too, read with the photo (one read); a plain
    FileField joins when it is the field asked for."""
    names = corpus.names["profile"]
    with bu.strict(corpus):
        install(corpus, 0)
        Member.objects.bulk_create(
            Member(photo=names[i], cover=names[i + 20], attachment=names[i + 40]) for i in range(20)
        )
        get_store().set_many([r for n in names[:60] for r in corpus.records[n].values()])
        with counted("default") as (sql, _, _):
            members = list(Member.objects.all())
            covers = [get_thumbnail(m.cover, "100x100", crop="center").url for m in members]
            photos = [m.thumbnail_photo() for m in members]
        assert len(sql) == 2, "\n".join(sql)
        assert bu.keys_in(sql[1]) == bu.source_keys(names[:40])
        assert len(set(covers) | set(photos)) == 40
        peers.close_all()
        with counted("default") as (sql, _, _):
            members = list(Member.objects.all())
            files = [get_thumbnail(m.attachment, "100x100", crop="center").url for m in members]
        assert len(sql) == 2
        assert bu.keys_in(sql[1]) == bu.source_keys(names[:60])
        assert len(set(files)) == 20


@pytest.mark.django_db
def test_a_peer_with_an_unusable_name_does_not_fail_its_rows_lookup(corpus: bu.Corpus) -> None:
    """A row whose file name no storage can hold (a NUL byte) is left out of its peers' read:
    the good rows' lookups make one read, and only the bad row's own lookup fails."""
    with bu.strict(corpus):
        names = install(corpus, 5)
        Member.objects.create(name="bad", photo="profiles/a\x00b.jpg")
        with counted("default") as (sql, _, _):
            members = list(Member.objects.all())
            urls = [m.thumbnail_photo() for m in members[:5]]
        assert len(sql) == 2
        assert bu.keys_in(sql[1]) == bu.source_keys(names)
        assert len(set(urls)) == 5
        with pytest.raises(SourceMissing, match="NUL"):
            members[5].thumbnail_photo()
        html = TEMPLATES["block"].render(Context({"page": members}))
        assert html.count("<li ") == 6
        assert html.count("<img ") == 10  # the bad row degrades to nothing


@pytest.mark.django_db
def test_iterator_chunks_batch_with_an_explicit_prefetch(corpus: bu.Corpus) -> None:
    """``.iterator()`` creates its rows one at a time, so no cohort spans a chunk; the
    explicit ``prefetch_thumbnails`` on the queryset reads once per chunk, plain field or not."""
    from thumbkit.adapters.query import ThumbnailQuerySet

    with bu.strict(corpus):
        names = install(corpus, 100)
        query = ThumbnailQuerySet(Member).order_by("pk").prefetch_thumbnails("photo")
        with counted("default") as (sql, _, _):
            urls = [m.thumbnail_photo() for m in query.iterator(chunk_size=25)]
        reads = [q for q in sql if re.search(bu.STORE_SQL, q)]
        assert len(reads) == 4
        assert set().union(*(bu.keys_in(q) for q in reads)) == bu.source_keys(names)
        assert len(set(urls)) == 100


@pytest.mark.django_db
@pytest.mark.skipif(not HAS_FETCH_MODES, reason="QuerySet.fetch_mode() arrived in Django 6.1")
def test_fetch_peers_uses_djangos_peers(corpus: bu.Corpus) -> None:
    from django.core.exceptions import FieldFetchBlocked
    from django.db.models import FETCH_PEERS, FETCH_RAISE

    with bu.strict(corpus):
        names = install(corpus, 40)
        with counted("default") as (sql, _, _):
            members = list(Member.objects.fetch_mode(FETCH_PEERS))
            for member in members:  # no cohort: Django's peers are the batch
                member.__dict__.pop("_thumbkit_cohort", None)
            urls = [m.thumbnail_photo() for m in members]
        assert len(sql) == 2
        assert bu.keys_in(sql[1]) == bu.source_keys(names)
        assert len(set(urls)) == 40
        member = Member.objects.fetch_mode(FETCH_RAISE).first()
        assert member is not None
        with pytest.raises(FieldFetchBlocked):
            member.thumbnail_photo()


# -- what it costs a model that never asks for a thumbnail ----------------------------------


def test_models_without_file_fields_get_no_receiver() -> None:
    """Only models with a file field are followed; Membership pays nothing per row."""
    assert post_init.has_listeners(Member)
    assert post_init.has_listeners(Photo)
    assert post_init.has_listeners(Profile)
    assert not post_init.has_listeners(Membership)


def test_a_model_created_after_ready_is_followed() -> None:
    class Late(models.Model):
        photo = models.ImageField()

        class Meta:
            app_label = "testapp"

        def __str__(self) -> str:
            return str(self.pk)

    class LateNoFile(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"

        def __str__(self) -> str:
            return str(self.pk)

    late = Late(pk=1, photo="profiles/p-0000.jpg")
    assert post_init.has_listeners(Late)
    assert not post_init.has_listeners(LateNoFile)
    assert peers.peers_of(late) == [late]

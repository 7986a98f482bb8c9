"""Helpers for the batching tests: a corpus of real thumbnails made once, rows, counters.

Generating 2 x 1000 sources x 3 specs takes a while, so :func:`build_corpus` does it once per
session, for real (``thumbkit.lookup.api.ensure`` on every row, the manifest column written by
thumbkit), and keeps the files, the store records and the manifests it produced. Each test
then creates its own rows with the same file names and puts the same records back in its
own store (a bulk insert), so every test starts from exactly what generation left behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Model
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from PIL import Image

from tests import images
from tests.api_support import only_storage
from tests.testapp.models import ManifestProfile, Profile
from thumbkit.core.spec import Spec
from thumbkit.lookup.api import ensure, get_spec
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.thumbnail import Thumbnail

FILESYSTEM = "django.core.files.storage.FileSystemStorage"
STRICT = "tests.api_support.StrictStorage"
MAX_ROWS = 1000
SOURCE_SIZE = (320, 256)  # small enough to make 2000 sources' thumbnails quickly
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "batching"}
CORPUS_STORE = {"STORE": "cache", "STORE_OPTIONS": {"cache": "batching", "prefix": "corpus:"}}
MODELS: dict[str, type[Profile] | type[ManifestProfile]] = {
    "profile": Profile,
    "manifest": ManifestProfile,
}


def tag_spec() -> Spec:
    """The spec of ``{% thumbnail profile.photo "250x250" crop="center" %}``."""
    return get_spec("250x250", crop="center")


def page_specs(model: type[Model]) -> list[Spec]:
    """Every spec a list page asks for: the declared ones and the template tag's."""
    return [*model._meta.get_field("photo").declared_specs(), tag_spec()]


@dataclass
class Corpus:
    media: Path
    names: dict[str, list[str]] = field(default_factory=dict)  # model key -> source names
    records: dict[str, dict[str, Thumbnail]] = field(default_factory=dict)  # name -> spec -> rec
    manifests: dict[str, Any] = field(default_factory=dict)  # ManifestProfile name -> column

    def record(self, name: str, spec: Spec) -> Thumbnail:
        return self.records[name][spec.canonical]


def build_corpus(media: Path, rows: int = MAX_ROWS) -> Corpus:
    """Make the thumbnails of ``rows`` Profile rows, and of ManifestProfile rows on the same
    files (their manifests written by thumbkit). Call it in a transaction that is rolled
    back: only the files and the values captured here remain.

    Generation records into a locmem cache store (no database lock per source); the records
    are the same values whichever store keeps them, and each test puts them in its own.
    """
    corpus = Corpus(media)
    data = images.jpeg(SOURCE_SIZE)
    (media / "profiles").mkdir(parents=True)
    names = [f"profiles/p-{i:04}.jpg" for i in range(rows)]
    for name in names:
        (media / name).write_bytes(data)
    with only_storage(str(media), FILESYSTEM, **CORPUS_STORE), big_cache():
        for key, model in MODELS.items():
            corpus.names[key] = names
            model.objects.bulk_create(
                model(name=f"{key} {i}", photo=n) for i, n in enumerate(names)
            )
            specs = page_specs(model)
            # The ManifestProfile rows find the thumbnails their specs share with Profile's.
            made = [ensure(obj.photo, specs) for obj in model.objects.all()]
            assert made == [3 if key == "profile" else 1] * rows
        _capture(corpus, names)
    return corpus


@contextmanager
def big_cache() -> Iterator[None]:
    """A locmem cache that holds thousands of entries (the default culls at 300)."""
    caches = {**settings.CACHES, "batching": {**LOCMEM, "OPTIONS": {"MAX_ENTRIES": 100_000}}}
    with override_settings(CACHES=caches):
        yield


def _capture(corpus: Corpus, names: list[str]) -> None:
    sources = {source_key(coerce(n)): n for n in names}
    found = get_store().get_sources(list(sources))
    assert len(found) == len(sources)
    for src_key, records in found.items():
        corpus.records[sources[src_key]] = {r.spec: r for r in records.values()}
    corpus.manifests = dict(ManifestProfile.objects.values_list("photo", "photo_thumbs"))
    # small, 250x250 and both cards (Profile's WebP, ManifestProfile's JPEG)
    assert {len(m["records"]) for m in corpus.manifests.values()} == {4}


def install(corpus: Corpus, key: str, rows: int, empty: Sequence[int] = ()) -> list[str]:
    """Create ``rows`` rows of the model (rows in ``empty`` without a photo) and put their
    records in the configured store; return the source names, in row order."""
    model = MODELS[key]
    names = ["" if i in empty else n for i, n in enumerate(corpus.names[key][:rows])]
    extra = (
        (lambda n: {"photo_thumbs": corpus.manifests.get(n, {})})
        if key == "manifest"
        else (lambda n: {})
    )
    model.objects.bulk_create(
        model(name=f"{key} {i}", photo=n, **extra(n)) for i, n in enumerate(names)
    )
    get_store().set_many([r for n in names if n for r in corpus.records[n].values()])
    return names


@contextmanager
def strict(corpus: Corpus, **store: Any) -> Iterator[None]:
    """Every storage (sources and thumbnails) refuses any call but ``url()``."""
    with only_storage(str(corpus.media), STRICT, **store):
        yield


def redis_store(prefix: str) -> dict[str, Any]:
    return {"STORE": "redis", "STORE_OPTIONS": {"url": settings.REDIS_URL, "prefix": prefix}}


def forget_prefix(client: Any, prefix: str) -> None:
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


# -- queries ----------------------------------------------------------------------------


@dataclass
class Queries:
    sql: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sql)

    def show(self) -> str:
        return "\n".join(f"  {i + 1}. {q[:240]}" for i, q in enumerate(self.sql)) or "  (none)"

    def store_reads(self) -> list[str]:
        return [q for q in self.sql if '"thumbkit_thumbnailrecord"' in q]

    def expect(self, *patterns: str) -> None:
        """Exactly these queries, in this order (each a regex searched in the SQL)."""
        ok = len(self.sql) == len(patterns) and all(
            re.search(p, q) for p, q in zip(patterns, self.sql, strict=False)
        )
        assert ok, f"expected {len(patterns)} queries {list(patterns)}, got:\n{self.show()}"


@contextmanager
def queries() -> Iterator[Queries]:
    found = Queries()
    with CaptureQueriesContext(connection) as captured:
        yield found
    found.sql.extend(q["sql"] for q in captured.captured_queries)


def keys_in(sql: str) -> set[str]:
    """The source keys a store read asked for (quoted one by one, or in PostgreSQL's
    array literal: ``= ANY('{k1,k2}')``)."""
    return set(re.findall(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", sql))


def source_keys(names: Sequence[str]) -> set[str]:
    return {source_key(coerce(n)) for n in names if n}


COUNT_SQL = r'^SELECT COUNT\(\*\) AS "__count" FROM "testapp_{table}"'
ROWS_SQL = r'^SELECT .* FROM "testapp_{table}" ORDER BY .* LIMIT {rows}'
STORE_SQL = (
    r'^SELECT .* FROM "thumbkit_thumbnailrecord" '
    r'WHERE "thumbkit_thumbnailrecord"\."source_key" (IN \(|= ANY\()'
)


# -- HTML -------------------------------------------------------------------------------


class Imgs(HTMLParser):
    """The <img> tags of a page, grouped by the id of the <li> they are in."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, list[dict[str, str | None]]] = {}
        self._row = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "li":
            self._row = str(dict(attrs)["id"])
            self.rows[self._row] = []
        elif tag == "img":
            self.rows[self._row].append(dict(attrs))


def check_img(img: dict[str, str | None], record: Thumbnail, media: Path) -> None:
    """The tag points at the record's file and states the size the file really has."""
    assert img["src"] == settings.MEDIA_URL + record.name
    assert (img["width"], img["height"]) == (str(record.width), str(record.height))
    with Image.open(media / record.name) as file:
        assert file.size == (record.width, record.height)


def check_rows(
    html: str, corpus: Corpus, key: str, pks: Sequence[int], names: Sequence[str]
) -> None:
    """Each row shows its own small thumbnail and its 250x250 crop; empty rows show none."""
    model = MODELS[key]
    small = model._meta.get_field("photo").declared_spec("small")
    found = Imgs(html).rows
    assert list(found) == [f"p{pk}" for pk in pks]
    sizes = set()
    for pk, name in zip(pks, names, strict=True):
        imgs = found[f"p{pk}"]
        if not name:
            assert imgs == []
            continue
        assert sorted(str(img["class"]) for img in imgs) == ["big", "small"]
        for img in imgs:
            spec = small if img["class"] == "small" else tag_spec()
            check_img(img, corpus.record(name, spec), corpus.media)
        sizes.update((img["width"], img["height"]) for img in imgs)
    if any(names):
        assert sizes == {("100", "100"), ("250", "250")}

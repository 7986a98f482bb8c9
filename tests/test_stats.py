"""``manage.py thumbkit_stats``: what the store holds, one timed read, this process's counters."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from tests import images
from tests.conftest import thumbkit_settings
from tests.testapp.models import Photo
from thumbkit import get_thumbnail
from thumbkit.adapters import peers
from thumbkit.exceptions import SourceUnreadable
from thumbkit.lookup import metrics

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    peers.close_all()
    metrics.counters.reset()
    yield
    metrics.configure()


@pytest.fixture
def made(fs_media: Any) -> list[Any]:
    """Two sources with two thumbnails each (JPEG and WebP), and a corrupt third source
    whose failure the store remembers."""
    thumbs = []
    for i in range(2):
        photo = Photo.objects.create(title=f"p{i}")
        photo.image.save(f"s{i}.jpg", ContentFile(images.jpeg((300, 200))))
        thumbs.append(get_thumbnail(photo.image, "60x40", crop="center"))
        thumbs.append(get_thumbnail(photo.image, "card"))  # the test settings' WebP spec
    bad = Photo.objects.create(title="bad")
    bad.image.save("bad.jpg", ContentFile(b"no image"))
    with pytest.raises(SourceUnreadable):
        get_thumbnail(bad.image, "60x40")
    return thumbs


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("thumbkit_stats", *args, stdout=out)
    return out.getvalue()


def test_the_store_summary_and_a_timed_read(made: list[Any]) -> None:
    report = json.loads(run("--json", "--probe", "10", "--repeat", "3"))
    assert report["store"] == "db"
    assert report["store_class"] == "thumbkit.lookup.stores.db.DatabaseStore"
    assert report["records"] == {
        "records": 5,
        "thumbnails": 4,
        "sources": 3,
        "versions": 0,
        "failures": 1,
        "formats": {"JPEG": 2, "WEBP": 2},
        "storages": {"default": 4},
    }
    read = report["read"]
    assert (read["sources"], read["stored"], read["reads"]) == (10, 3, 3)
    assert 0 < read["best_ms"] <= read["median_ms"]
    assert report["counters"] is None  # THUMBKIT["METRICS"] is not set
    text = run("--probe", "5")
    assert "Records: 5 (4 thumbnails of 3 sources, 0 versions, 1 failures)" in text
    assert "  by format: JPEG 2, WEBP 2" in text
    assert "Store read: 5 sources (3 stored) in " in text
    assert "Counters: off" in text


def test_the_counters_of_this_process(made: list[Any]) -> None:
    with thumbkit_settings(METRICS="counters"):
        peers.close_all()
        for photo in Photo.objects.exclude(title="bad"):
            get_thumbnail(photo.image, "60x40", crop="center")
        text = run("--probe", "0")
        report = json.loads(run("--json", "--probe", "0", "--no-scan"))
    assert report["counters"]["hits"] == 2
    assert report["counters"]["store_reads"] == 1
    assert report["read"] is None
    assert report["records"] is None
    assert "Counters of this process (THUMBKIT['METRICS'] = ['counters']):" in text
    assert "  hits                 2" in text
    assert "Store read" not in text


def test_a_store_that_cannot_list_is_still_timed(made: list[Any]) -> None:
    with thumbkit_settings(STORE="cache"):
        report = json.loads(run("--json", "--probe", "4"))
    assert report["records"] is None
    assert "cannot list" in report["records_note"]
    assert (report["read"]["sources"], report["read"]["stored"]) == (4, 0)


def test_bad_arguments() -> None:
    with pytest.raises(CommandError, match="--repeat"):
        run("--repeat", "0")

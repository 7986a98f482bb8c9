"""Replay a corpus of broken and unusual images through both engines.

Every file of the generated corpus (``tests/corpus.py``: a few hundred files, made in code)
goes through ``thumbkit.get_thumbnail`` with three specs (a crop, a WebP output, a plain
width) in a worker process per engine, capped at 1.5 GiB of address space and 15 s of CPU
per file, 60 s wall clock (``tests/corpus_runner.py``, ``tests/corpus_worker.py``). Each
file must give real thumbnails or raise a ``SourceError``; a crash, a timeout, an untyped or
wrongly typed error, a lock, record or file left behind, or a change to Pillow's global
state is a finding, and the test lists every finding with the file's recipe.

``THUMBKIT_CORPUS=/path/to/folder`` replays every file under that folder too (for example
Pillow's ``Tests/images``), with the same assertions; see docs/security.md.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests import corpus_runner, images
from tests.conftest import IN_CI
from tests.corpus_runner import Item, Result

ENGINES = ("pillow", "vips")
# Valid bases that are refused on purpose: more frames than MAX_FRAMES (300), and a zTXt
# chunk that inflates to 20 MB (Pillow refuses text chunks above 1 MB, a decompression bomb).
REFUSED_BASES = {"tiff-1000-pages": {"SourceTooLarge"}, "png-ztxt-bomb": {"SourceUnreadable"}}
# What one engine cannot read: libvips 8.18 refuses the 8-bit CIELab TIFF Pillow writes
# ("bad labq format", in new_from_buffer already); Pillow renders it.
ENGINE_REFUSES = {"vips": {"tiff-lab": {"SourceUnreadable"}}, "pillow": {}}
# Findings reported and not fixed yet, by (engine, recipe): each must still be a finding
# (so that a fix removes its entry here), and no other file may be one.
KNOWN: dict[tuple[str, str], str] = {
    ("vips", "jpeg-cmyk/sof-65500x65500"): (
        "a 2.6 KB CMYK JPEG whose header claims 65500x65500 is counted at its draft size "
        "(8188x8188 = 67 MP, under the 100 MP cap) and each of the three thumbnails decodes "
        "and colour-converts it again: about 16 s of CPU on vips (7 s on Pillow)"
    ),
}


def engines() -> list[str]:
    if find_spec("pyvips") is not None:
        return list(ENGINES)
    if IN_CI:
        pytest.fail("pyvips is not installed; CI replays the corpus on both engines.")
    return ["pillow"]


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Result]]:
    """The generated corpus replayed on every engine, the engines side by side."""
    items = corpus_runner.generated_items(tmp_path_factory.mktemp("corpus"))
    return corpus_runner.replay_engines(items, engines())


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    if request.param not in engines():
        pytest.skip("pyvips is not installed")
    name: str = request.param
    return name


def results_of(replayed: dict[str, list[Result]], engine: str) -> list[Result]:
    print(corpus_runner.summary(replayed))  # shown with -s, and on failure
    return replayed[engine]


def assert_no_findings(results: list[Result], known: dict[tuple[str, str], str]) -> None:
    found = corpus_runner.findings(r for r in results if (r.engine, r.item.label) not in known)
    assert not found, f"{len(found)} findings:\n" + "\n".join(found)
    # A known entry is not asserted to fail: the one there is a CPU-time cap that a quiet
    # machine meets (16 s of CPU against a 15 s cap), so it passes on some runs.


def outcomes(result: Result) -> list[str]:
    return [o["result"] for o in result.answer.get("outcomes", [])]


def test_generated_corpus(generated: dict[str, list[Result]], engine: str) -> None:
    results = results_of(generated, engine)
    assert len(results) > 300
    assert_no_findings(results, KNOWN)


def test_valid_bases_give_thumbnails(generated: dict[str, list[Result]], engine: str) -> None:
    bases = [r for r in generated[engine] if "/" not in r.item.label and r.item.fmt != "OTHER"]
    refused = {**REFUSED_BASES, **ENGINE_REFUSES[engine]}
    failed = {
        r.item.label: r.answer["outcomes"]
        for r in bases
        if r.item.label not in refused and outcomes(r) != ["ok"] * 3
    }
    assert not failed, failed
    errors = {
        r.item.label: {o["error"] for o in r.answer["outcomes"]}
        for r in bases
        if r.item.label in refused
    }
    assert errors == refused


def test_what_is_no_image_is_a_source_error(
    generated: dict[str, list[Result]], engine: str
) -> None:
    others = [r for r in generated[engine] if r.item.fmt == "OTHER"]
    assert len(others) >= 10
    for r in others:
        assert outcomes(r) == ["source-error"] * 3, (r.item.label, r.answer)


def test_huge_headers_are_refused(generated: dict[str, list[Result]], engine: str) -> None:
    """100000 px a side in a header cannot be under the 100 MP cap, whatever the format."""
    huge = [r for r in generated[engine] if "100000x" in r.item.label]
    assert len(huge) >= 8
    for r in huge:
        assert outcomes(r) == ["source-error"] * 3, (r.item.label, r.answer)


def test_the_replay_reports_each_kind_of_finding(tmp_path: Path) -> None:
    """The harness itself: findings planted in the worker, each reported with its file."""
    jpeg = tmp_path / "plain.jpg"
    jpeg.write_bytes(images.jpeg((64, 48)))
    plants = ["", "untyped", "stray-file", "crash", "spin", "", "memory", "global"]
    items = [Item(jpeg, f"planted-{plant or 'nothing'}", "JPEG", plant) for plant in plants]
    results = corpus_runner.replay(items, "pillow", cpu=2.0)
    by_plant = {r.item.plant: r for r in results}
    assert [r.category for r in results] == [
        "ok", "untyped", "ok", "crash", "timeout", "ok", "untyped", "ok"
    ]  # fmt: skip
    assert not by_plant[""].problems
    assert "TypeError: planted" in by_plant["untyped"].problems[0]
    assert "stray.jpg" in by_plant["stray-file"].problems[0]
    assert "SIGABRT" in by_plant["crash"].problems[0]
    assert by_plant["spin"].problems == ["timeout: over 2 s of CPU"]
    assert "builtins.MemoryError" in by_plant["memory"].problems[0]
    assert by_plant["global"].problems == ["changed Pillow's global state: Image.MAX_IMAGE_PIXELS"]
    found = corpus_runner.findings(results)
    assert len(found) == 10  # an untyped error once per spec
    assert all(line.startswith("[pillow] planted-") for line in found)


@pytest.fixture(scope="session")
def external() -> dict[str, list[Result]]:
    folder = os.environ.get("THUMBKIT_CORPUS")
    if not folder:
        pytest.skip("set THUMBKIT_CORPUS to a folder of images to replay it (docs/security.md)")
    items = corpus_runner.folder_items(Path(folder))
    assert items, f"THUMBKIT_CORPUS={folder} holds no files"
    return corpus_runner.replay_engines(items, engines())


def test_external_corpus(external: dict[str, list[Result]], engine: str) -> None:
    assert_no_findings(results_of(external, engine), {})

"""``generateimages``: every registered generator's images for its source groups.

Generators are registered when this module is imported, so the spawned worker processes
(which import it by the generators' module) know them too; source groups are registered
per test, in this process only (the command lists sources here and ships addresses).
Runs on two real worker processes use the redis store, which they share with this process;
runs in this process (``--workers 1``) use the db store on the SQLite test database.
Assertions are on the files under MEDIA_ROOT, their pixel sizes, and the store's records.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from PIL import Image

from tests import images
from tests.testapp.models import Photo
from thumbkit import ImageSpec, register
from thumbkit.lookup.batch import FAILED_SPEC, VERSION_SPEC
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.source import coerce
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.thumbnail import Thumbnail
from thumbkit.processors import ResizeToFill, ResizeToFit
from thumbkit.signals import thumbnails_generated

ROOT = Path(__file__).resolve().parent.parent
SOURCE_SIZE = (80, 40)


class Small(ImageSpec):
    processors = [ResizeToFill(40, 30)]
    format = "JPEG"


class Wide(ImageSpec):
    processors = [ResizeToFit(60, 60)]  # 80x40 -> 60x30
    format = "PNG"


class Other(ImageSpec):
    processors = [ResizeToFill(10, 10)]


class Interrupt:
    """A processor that interrupts the run (Ctrl-C) when asked for image number ``at``."""

    calls = 0
    at = -1

    def process(self, image: Image.Image) -> Image.Image:
        Interrupt.calls += 1
        if Interrupt.calls == Interrupt.at:
            raise KeyboardInterrupt
        return image


class Fragile(ImageSpec):
    processors = [ResizeToFill(20, 20), Interrupt()]


class Slow:
    """A processor slow enough that a run can be killed half-way through."""

    def process(self, image: Image.Image) -> Image.Image:
        time.sleep(0.15)
        return image


class Sleepy(ImageSpec):
    processors = [ResizeToFill(30, 30), Slow()]


GENERATORS = {
    "gi-test:small": Small,
    "gi-test:wide": Wide,
    "gi-other:tiny": Other,
    "gi-fragile:x": Fragile,
    "gi-slow:x": Sleepy,
}
for _id, _cls in GENERATORS.items():
    register.generator(_id, _cls)

SIZES = {"gi-test:small": (40, 30), "gi-test:wide": (60, 30), "gi-other:tiny": (10, 10)}


class Names:
    """A source group of storage names on the default storage."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def files(self) -> Iterator[str]:
        yield from self.names


class OpenFiles:
    """imagekit's example group: open files from a directory (not addressable elsewhere)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def files(self) -> Iterator[File]:  # type: ignore[type-arg]
        for path in sorted(self.directory.glob("*.jpg")):
            yield File(open(path, "rb"), name=f"loose/{path.name}")  # noqa: SIM115


class Rows:
    """The files of a model's image field (imagekit's ImageFieldSourceGroup)."""

    def __init__(self, model: Any, field: str) -> None:
        self.model, self.field = model, field

    def files(self) -> Iterator[Any]:
        for row in self.model.objects.order_by("pk"):
            yield getattr(row, self.field)


def add_group(ids: list[str], group: Any) -> None:
    for id in ids:
        register.source_group(id, group)


@pytest.fixture(autouse=True)
def _groups() -> Iterator[None]:
    yield
    for id, cls in GENERATORS.items():  # drop this test's groups, keep the generators
        register.unregister(id)
        register.generator(id, cls)


def save_sources(count: int, prefix: str = "gi") -> list[str]:
    data = images.jpeg(SOURCE_SIZE)
    return [default_storage.save(f"{prefix}/s{n:02d}.jpg", ContentFile(data)) for n in range(count)]


def recorded(name: str) -> dict[str, Thumbnail]:
    key = source_key(coerce(name))
    records = get_store().get_sources([key]).get(key, {})
    return {r.spec: r for r in records.values() if r.spec != VERSION_SPEC}


def spec_of(id: str) -> str:
    return register.make(id).spec.canonical  # type: ignore[no-any-return]


def size_on_disk(root: Path, name: str) -> tuple[int, int]:
    with Image.open(root / name) as image:
        return image.size


def assert_made(root: Path, names: list[str], ids: list[str]) -> None:
    for name in names:
        records = recorded(name)
        assert set(records) == {spec_of(id) for id in ids}, name
        for id in ids:
            record = records[spec_of(id)]
            assert size_on_disk(root, record.name) == SIZES[id]
            assert (record.width, record.height) == SIZES[id]


def generateimages(*args: str, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("generateimages", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Path]:
    """In this process: the db store on the SQLite test database."""
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        yield tmp_path


def redis_thumbkit(prefix: str, **extra: Any) -> dict[str, Any]:
    store = {"url": settings.REDIS_URL, "prefix": prefix}
    return {**settings.THUMBKIT, "STORE": "redis", "STORE_OPTIONS": store, "UPLOAD": "off", **extra}


@pytest.fixture
def shared(tmp_path: Path, need_redis: None, redis_prefix: str) -> Iterator[Path]:
    """For worker processes: the redis store, which they share with this process."""
    with override_settings(MEDIA_ROOT=str(tmp_path), THUMBKIT=redis_thumbkit(redis_prefix)):
        yield tmp_path


MADE = re.compile(r"Made (\d+) image\(s\) for (\d+) source\(s\) .*\((\d+) source\(s\) already")


def made(out: str) -> tuple[int, int, int]:
    found = MADE.search(out)
    assert found, out
    images_made, sources, skipped = found.groups()
    return int(images_made), int(sources), int(skipped)


# --- on two worker processes -------------------------------------------------------------


def test_two_workers_make_every_image_of_30_sources(shared: Path) -> None:
    names = save_sources(30)
    add_group(["gi-test:small", "gi-test:wide"], Names(names))
    here: list[Any] = []
    thumbnails_generated.connect(lambda **kw: here.append(kw), weak=False, dispatch_uid="gi")
    try:
        out, err = generateimages("gi-test:*", "--workers", "2")
    finally:
        thumbnails_generated.disconnect(dispatch_uid="gi")
    assert here == []  # made in the worker processes
    assert made(out) == (60, 30, 0)
    assert "with 2 worker(s) x 2 thread(s)" in out
    assert re.search(r"\[#{24}\] 30/30 100%", err), err
    assert_made(shared, names, ["gi-test:small", "gi-test:wide"])
    assert len(list((shared / "thumbs").rglob("*.*"))) == 60


def test_a_corrupt_source_is_listed_and_the_others_are_made(shared: Path) -> None:
    names = save_sources(29)
    broken = default_storage.save("gi/broken.jpg", ContentFile(b"not an image at all"))
    add_group(["gi-test:small"], Names([*names[:10], broken, *names[10:]]))
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"^1 of 30 source\(s\) failed\.$"):
        call_command(
            "generateimages", "gi-test:small", "--workers", "2", stdout=io.StringIO(), stderr=err
        )
    lines = [line for line in err.getvalue().splitlines() if line.startswith("  ")]
    assert lines == [
        f"  storage 'default' '{broken}' [gi-test:small]: SourceUnreadable: "
        + lines[0].split(": SourceUnreadable: ", 1)[1]
    ]
    assert set(recorded(broken)) == {FAILED_SPEC}  # its failure, remembered
    assert_made(shared, names, ["gi-test:small"])


def test_force_tries_a_remembered_failure_again(shared: Path) -> None:
    broken = default_storage.save("gi/mended.jpg", ContentFile(b"not an image at all"))
    add_group(["gi-test:small"], Names([broken]))
    args = ("generateimages", "gi-test:small", "--workers", "1")
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    with pytest.raises(CommandError, match=r"^1 of 1 source\(s\) failed\.$"):
        call_command(*args, **quiet)
    (shared / broken).write_bytes(images.jpeg((400, 300)))  # mended in place: no new version
    with pytest.raises(CommandError, match=r"^1 of 1 source\(s\) failed\.$"):
        call_command(*args, **quiet)
    call_command(*args, "--force", **quiet)
    assert FAILED_SPEC not in set(recorded(broken))
    assert_made(shared, [broken], ["gi-test:small"])


def test_killed_mid_way_a_rerun_makes_exactly_the_missing_ones(
    shared: Path, redis_prefix: str
) -> None:
    """SIGKILL the command (and its workers) half-way; the store is the checkpoint.

    A killed worker's Redis generation lock stays until it expires (LOCK_TIMEOUT, short
    here): the rerun waits for it, then makes that image.
    """
    names = save_sources(30, prefix="slow")
    config = redis_thumbkit(redis_prefix, LOCK_TIMEOUT=2.0)
    script = textwrap.dedent(
        f"""
        import os, sys, django
        from django.conf import settings
        settings.MEDIA_ROOT = {str(shared)!r}
        settings.THUMBKIT = {config!r}
        django.setup()
        from tests.test_generateimages import Names, add_group
        add_group(["gi-slow:x"], Names({names!r}))
        from django.core.management import call_command
        call_command("generateimages", "gi-slow:*", "--workers", "2", "--chunk-size", "1")
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    log = shared.parent / "generateimages.log"
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            start_new_session=True,  # its own process group: the workers die with it
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while sum(1 for n in names if recorded(n)) < 6:
                assert child.poll() is None, log.read_text()
                assert time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    time.sleep(0.3)  # the killed workers' sockets close
    before = {n: recorded(n) for n in names}
    done = {n for n, r in before.items() if r}
    assert 6 <= len(done) < 30
    kept = {n: (shared / next(iter(before[n].values())).name).stat().st_mtime_ns for n in done}
    add_group(["gi-slow:x"], Names(names))
    with override_settings(THUMBKIT=config):
        out, _ = generateimages("gi-slow:x", "--workers", "2")
    assert made(out) == (30 - len(done), 30 - len(done), len(done))
    for name in names:
        (record,) = recorded(name).values()
        assert size_on_disk(shared, record.name) == (30, 30)
    for name, mtime in kept.items():  # what was made before the kill was not made again
        assert (shared / next(iter(recorded(name).values())).name).stat().st_mtime_ns == mtime


# --- in this process -----------------------------------------------------------------------


@pytest.mark.django_db
def test_patterns_filter_the_ids(media: Path) -> None:
    names = save_sources(3)
    add_group(["gi-test:small", "gi-test:wide", "gi-other:tiny"], Names(names))
    out, _ = generateimages("gi-other:*", "--workers", "1")
    assert made(out) == (3, 3, 0)
    assert_made(media, names, ["gi-other:tiny"])
    out, _ = generateimages("gi-test:sm*", "gi-test:wide", "--workers", "1")
    assert made(out) == (6, 3, 0)
    assert_made(media, names, ["gi-other:tiny", "gi-test:small", "gi-test:wide"])
    with pytest.raises(CommandError, match=r"^No generator id matches nope:\*\.$"):
        generateimages("nope:*")


@pytest.mark.django_db
def test_interrupted_then_rerun_makes_only_the_missing_ones(media: Path) -> None:
    names = save_sources(12)
    add_group(["gi-fragile:x"], Names(names))
    counted: list[str] = []

    def count(source: Any, thumbnails: list[Thumbnail], **kwargs: Any) -> None:
        counted.extend(t.name for t in thumbnails)

    thumbnails_generated.connect(count, weak=False, dispatch_uid="gi")
    Interrupt.calls, Interrupt.at = 0, 6
    try:
        with pytest.raises(CommandError, match=r"^Interrupted\. What was made is recorded"):
            generateimages("gi-fragile:x", "--workers", "1")
        assert len(counted) == 5
        assert sum(1 for n in names if recorded(n)) == 5
        out, _ = generateimages("gi-fragile:x", "--workers", "1")
        assert made(out) == (7, 7, 5)
        assert len(counted) == 12
        assert len(set(counted)) == 12  # no image made twice
        out, _ = generateimages("gi-fragile:x", "--workers", "1")
        assert made(out) == (0, 0, 12)
    finally:
        thumbnails_generated.disconnect(dispatch_uid="gi")
        Interrupt.at = -1
    assert all(len(recorded(n)) == 1 for n in names)


@pytest.mark.django_db
def test_the_skip_check_is_one_store_round_trip_per_batch(
    media: Path, django_assert_num_queries: Any
) -> None:
    names = save_sources(5)
    add_group(["gi-test:small", "gi-test:wide"], Names(names))
    generateimages("--workers", "1")
    # 5 sources x 2 ids all recorded: one read of the store for the batch, nothing else.
    with django_assert_num_queries(1):
        out, _ = generateimages("gi-test:*", "--workers", "1")
    assert made(out) == (0, 0, 5)


@pytest.mark.django_db
def test_one_group_for_several_ids_reads_each_source_once(media: Path) -> None:
    names = save_sources(4)
    add_group(["gi-test:small", "gi-test:wide"], Names(names))
    generations: list[tuple[str, int]] = []

    def count(source: Any, thumbnails: list[Thumbnail], **kwargs: Any) -> None:
        generations.append((source.name, len(thumbnails)))

    thumbnails_generated.connect(count, weak=False, dispatch_uid="gi")
    try:
        generateimages("gi-test:*", "--workers", "1")
    finally:
        thumbnails_generated.disconnect(dispatch_uid="gi")
    assert sorted(generations) == [(n, 2) for n in sorted(names)]  # one read, both images


@pytest.mark.django_db
def test_dry_run_lists_and_makes_nothing_then_force_remakes(media: Path) -> None:
    names = save_sources(3)
    add_group(["gi-test:small"], Names(names))
    out, _ = generateimages("gi-test:small", "--dry-run")
    assert out.splitlines() == [
        *(f"would make storage 'default' '{n}' [gi-test:small]" for n in names),
        "Would make 3 image(s) for 3 source(s); 0 source(s) already have theirs.",
    ]
    assert all(recorded(n) == {} for n in names)
    generateimages("gi-test:small", "--workers", "1")
    first = {n: recorded(n)[spec_of("gi-test:small")] for n in names}
    mtimes = {n: (media / r.name).stat().st_mtime_ns for n, r in first.items()}
    out, _ = generateimages("gi-test:small", "--dry-run")
    assert out.splitlines() == [
        "Would make 0 image(s) for 0 source(s); 3 source(s) already have theirs."
    ]
    time.sleep(0.01)
    out, _ = generateimages("gi-test:small", "--workers", "1", "--force")
    assert made(out) == (3, 3, 0)
    for name in names:
        assert (media / first[name].name).stat().st_mtime_ns != mtimes[name]
    assert_made(media, names, ["gi-test:small"])


@pytest.mark.django_db
def test_open_files_of_a_custom_group_are_made_in_this_process(media: Path) -> None:
    loose = media / "loose-in"
    loose.mkdir()
    for n in range(3):
        (loose / f"f{n}.jpg").write_bytes(images.jpeg(SOURCE_SIZE))
    add_group(["gi-test:small"], OpenFiles(loose))
    here: list[int] = []
    thumbnails_generated.connect(
        lambda **kw: here.append(os.getpid()), weak=False, dispatch_uid="gi"
    )
    try:
        out, _ = generateimages("gi-test:small", "--workers", "2")
    finally:
        thumbnails_generated.disconnect(dispatch_uid="gi")
    assert made(out) == (3, 3, 0)
    assert here == [os.getpid()] * 3
    out, _ = generateimages("gi-test:small", "--workers", "2")
    assert made(out) == (0, 0, 3)  # checked against the store like any other source


@pytest.mark.django_db
def test_row_files_are_addressed_by_row(media: Path) -> None:
    names = save_sources(3, prefix="photos")
    rows = [Photo.objects.create(image=name) for name in names]
    add_group(["gi-test:small"], Rows(Photo, "image"))
    out, _ = generateimages("gi-test:small", "--workers", "1", "--dry-run")
    assert out.splitlines()[0] == (
        f"would make testapp.Photo pk={rows[0].pk} image '{names[0]}' [gi-test:small]"
    )
    out, _ = generateimages("gi-test:small", "--workers", "1")
    assert made(out) == (3, 3, 0)
    assert_made(media, names, ["gi-test:small"])


@pytest.mark.django_db
def test_refuses_bad_arguments(media: Path) -> None:
    for option in ("--threads", "--workers", "--chunk-size"):
        with pytest.raises(CommandError, match="must be at least 1"):
            generateimages(option, "0")
        with pytest.raises(CommandError, match="must be at least 1"):
            call_command("thumbkit_regenerate", "testapp.Profile", "photo", option, "0")


@pytest.mark.django_db
def test_two_groups_listing_the_same_sources_read_each_once(media: Path) -> None:
    names = save_sources(3)
    register.source_group("gi-test:small", Names(names))
    register.source_group("gi-test:wide", Names(list(reversed(names))))
    generations: list[tuple[str, int]] = []

    def count(source: Any, thumbnails: list[Thumbnail], **kwargs: Any) -> None:
        generations.append((source.name, len(thumbnails)))

    thumbnails_generated.connect(count, weak=False, dispatch_uid="gi")
    try:
        out, _ = generateimages("gi-test:*", "--workers", "1")
    finally:
        thumbnails_generated.disconnect(dispatch_uid="gi")
    assert made(out) == (6, 3, 0)
    assert sorted(generations) == [(n, 2) for n in sorted(names)]
    assert_made(media, names, ["gi-test:small", "gi-test:wide"])

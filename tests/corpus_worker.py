"""The corpus replay's worker: ``python -m tests.corpus_worker ENGINE MEMORY_BYTES CPU_SECONDS``.

It sets Django up on the test settings (SQLite and the media folder in the fresh directory
``THUMBKIT_TEST_MEDIA`` names), migrates, selects ``ENGINE``, caps its own address space
with ``RLIMIT_AS`` and its CPU time per file with ``RLIMIT_CPU``, and then reads one JSON
request a line on stdin (``{"path": ...}``) and answers one JSON line on its protocol
channel (the original stdout; fd 1 is pointed at stderr so that no C library's print can
garble the protocol).

Per file: save it on the default storage, ``thumbkit.get_thumbnail`` it with each of
``SPECS``, check each result (a real file on storage of the reported size and format), or
its error (a ``ThumbkitError``, else "untyped" with the traceback's innermost frames); then
check what it left: a generation lock, a thumbnail record that is not one of the results,
and, after ``thumbkit.delete``, any file on storage or in ``TMPDIR``, any record, and any
change to Pillow's process-wide state. Leftovers are reported and then cleaned, so the
next file starts from nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

# (label, geometry, options): a crop, a WebP output, and a plain width in the source's format.
SPECS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("64x64-crop", "64x64", {"crop": "center"}),
    ("48x36-webp", "48x36", {"format": "webp", "quality": 70}),
    ("120w", "120", {}),
)
DB_FILES = ("db.sqlite3", "db.sqlite3-journal", "db.sqlite3-wal", "db.sqlite3-shm")


def pillow_state() -> dict[str, str]:
    """Pillow's process-wide state that thumbkit must never change, as comparable text."""
    from PIL import Image, ImageFile

    return {
        "Image.MAX_IMAGE_PIXELS": repr(Image.MAX_IMAGE_PIXELS),
        "ImageFile.LOAD_TRUNCATED_IMAGES": repr(ImageFile.LOAD_TRUNCATED_IMAGES),
        "Image.OPEN": repr(sorted(Image.OPEN)),
        "Image.ID": repr(list(Image.ID)),
        "Image.SAVE": repr(sorted(Image.SAVE)),
        "Image.MIME": repr(sorted(Image.MIME.items())),
        "warnings.filters": repr(warnings.filters),
    }


def where(exc: BaseException, frames: int = 3) -> str:
    """The innermost frames of a traceback and the last one in thumbkit, innermost first,
    e.g. ``PIL/TiffImagePlugin.py:1190 _seek <- ... <- thumbkit/core/engines/pillow.py:148
    _frames``."""
    stack = traceback.extract_tb(exc.__traceback__)
    shown = stack[-frames:]
    ours = [f for f in stack if "thumbkit/" in f.filename]
    if ours and ours[-1] not in shown:
        shown = [ours[-1], *shown]
    return " <- ".join(f"{_short(f.filename)}:{f.lineno} {f.name}" for f in reversed(shown))


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/", "/tests/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


class Worker:
    def __init__(self, engine: str) -> None:
        from django.conf import settings
        from django.core.management import call_command
        from django.test import override_settings

        call_command("migrate", verbosity=0)
        override_settings(THUMBKIT={**settings.THUMBKIT, "ENGINE": engine}).enable()
        self.media = Path(settings.MEDIA_ROOT)
        self.tmp = Path(os.environ["TMPDIR"])
        self.count = 0
        self.state = pillow_state()
        self._warm_up()
        self.state = pillow_state()

    def _warm_up(self) -> None:
        """Load every lazy import and plugin once, before the snapshot and the memory cap."""
        from PIL import Image

        from tests import images

        Image.init()  # what any Image.open does first; it fills Image.OPEN and Image.ID
        answer = self.replay(images.jpeg((64, 48)))
        if any(o["result"] != "ok" for o in answer["outcomes"]) or answer["leftovers"]:
            raise RuntimeError(f"the worker cannot render a plain JPEG: {answer}")

    def replay(self, data: bytes, suffix: str = ".bin") -> dict[str, Any]:
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        self.count += 1
        started = time.perf_counter()
        name = default_storage.save(f"corpus/f{self.count:05d}{suffix}", ContentFile(data))
        outcomes = [self._one(name, *spec) for spec in SPECS]
        made = {o["thumbnail"] for o in outcomes if o["result"] == "ok"}
        leftovers = self._leftovers(name, made)
        changed = [key for key, value in pillow_state().items() if self.state.get(key) != value]
        if changed:  # name this file only, not every file after it too
            self.state = pillow_state()
        seconds = round(time.perf_counter() - started, 4)
        return {
            "outcomes": outcomes,
            "leftovers": leftovers,
            "globals": changed,
            "seconds": seconds,
        }

    def _one(self, name: str, label: str, geometry: str, options: dict[str, Any]) -> dict[str, Any]:
        from thumbkit import get_thumbnail
        from thumbkit.exceptions import SourceError, ThumbkitError

        outcome: dict[str, Any] = {"spec": label}
        try:
            thumbnail = get_thumbnail(name, geometry, **options)
        except ThumbkitError as exc:
            kind = "source-error" if isinstance(exc, SourceError) else "typed"
            return {**outcome, "result": kind, "error": type(exc).__name__, "message": str(exc)}
        except Exception as exc:  # the finding this replay exists for: report it whole
            return {
                **outcome,
                "result": "untyped",
                "error": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "message": str(exc)[:300],
                "where": where(exc),
            }
        problem = self._check_output(thumbnail)
        if problem:
            return {**outcome, "result": "bad-output", "error": "bad-output", "message": problem}
        return {**outcome, "result": "ok", "thumbnail": thumbnail.name}

    def _check_output(self, thumbnail: Any) -> str:
        from django.core.files.storage import default_storage
        from PIL import Image

        from thumbkit.lookup.thumbnail import Thumbnail

        if not isinstance(thumbnail, Thumbnail) or not thumbnail:
            return f"not a stored thumbnail: {thumbnail!r}"
        if not default_storage.exists(thumbnail.name):
            return f"{thumbnail.name} is not on the storage"
        try:
            with default_storage.open(thumbnail.name) as handle, Image.open(handle) as image:
                image.load()
                found = (image.size, str(image.format))
        except Exception as exc:
            return f"{thumbnail.name} does not decode: {exc!r}"
        reported = ((thumbnail.width, thumbnail.height), thumbnail.format.upper())
        return "" if found == reported else f"the file is {found}, the record says {reported}"

    def _leftovers(self, name: str, made: set[str]) -> list[str]:
        import thumbkit
        from thumbkit.models import GenerationLock, ThumbnailRecord

        found = []
        if GenerationLock.objects.exists():
            found.append(f"generation locks: {list(GenerationLock.objects.values_list('key'))}")
        stray = [n for n in self._thumbnail_records(name) if n not in made]
        if stray:
            found.append(f"records of no thumbnail made: {stray}")
        try:
            thumbkit.delete(name)
        except Exception as exc:
            found.append(f"thumbkit.delete raised {type(exc).__name__}: {exc} ({where(exc)})")
        files = [str(p.relative_to(self.media)) for p in self._files(self.media)]
        files += [f"$TMPDIR/{p.relative_to(self.tmp)}" for p in self._files(self.tmp)]
        if files:
            found.append(f"files after thumbkit.delete: {files}")
        if ThumbnailRecord.objects.exists():
            found.append(f"records after thumbkit.delete: {ThumbnailRecord.objects.count()}")
        if found:
            self._clean()
        return found

    def _thumbnail_records(self, name: str) -> list[str]:
        from thumbkit.lookup import batch
        from thumbkit.models import ThumbnailRecord

        pseudo = getattr(batch, "PSEUDO_SPECS", {batch.VERSION_SPEC})
        records = ThumbnailRecord.objects.filter(source_name=name).exclude(spec__in=pseudo)
        return list(records.values_list("name", flat=True))

    def _files(self, root: Path) -> list[Path]:
        return sorted(
            p for p in root.rglob("*") if p.is_file() and str(p.relative_to(root)) not in DB_FILES
        )

    def _clean(self) -> None:
        from thumbkit.models import GenerationLock, ThumbnailRecord

        for path in self._files(self.media) + self._files(self.tmp):
            path.unlink()
        ThumbnailRecord.objects.all().delete()
        GenerationLock.objects.all().delete()


@contextlib.contextmanager
def planted(kind: str, media: Path) -> Iterator[None]:
    """A finding planted on purpose, so that tests/test_corpus.py can check that the replay
    reports each kind: a crash, a CPU hog, an untyped error, a stray file, a changed global,
    an allocation above the address-space cap."""
    from PIL import Image

    from thumbkit.core.engines.pillow import PillowEngine

    if kind == "crash":
        os.abort()
    while kind == "spin":
        pass
    if kind == "stray-file":
        (media / "thumbs").mkdir(exist_ok=True)
        (media / "thumbs" / "stray.jpg").write_bytes(b"left behind")
    if kind == "global":
        Image.MAX_IMAGE_PIXELS = (Image.MAX_IMAGE_PIXELS or 0) * 2 + 1
    effects = {
        "untyped": TypeError("planted"),
        # 4 GiB at once: a MemoryError only because RLIMIT_AS is in force.
        "memory": lambda *args, **kwargs: bytearray(4 << 30),
    }
    if kind not in effects:
        yield
        return
    with mock.patch.object(PillowEngine, "render", side_effect=effects[kind]):
        yield


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cap_cpu(seconds: float) -> float:
    """Let the next file use ``seconds`` of CPU (all threads) at most: past that the kernel
    sends SIGXCPU, which ends the process, and the runner reports a timeout. CPU time, not
    wall-clock time, so a busy machine does not turn a slow file into a finding."""
    used = cpu_seconds()
    if seconds:
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(used + seconds), hard))
    return used


def main() -> None:
    engine, memory, cpu = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not leave a core file
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings

    # The worker's own throwaway database: no fsync per commit (that was half the time).
    options = settings.DATABASES["default"].setdefault("OPTIONS", {})
    options["init_command"] = "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY"
    worker = Worker(engine)
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    channel.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        data = Path(request["path"]).read_bytes()
        before = cap_cpu(cpu)
        with planted(request.get("plant", ""), worker.media):
            answer = worker.replay(data, request.get("suffix", ".bin"))
        answer["cpu"] = round(cpu_seconds() - before, 4)
        # Peak RSS of this worker so far (Linux counts KiB): what the costliest file took.
        answer["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        channel.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()

"""Drive the corpus replay: one worker process per engine, a time cap per file, a summary.

``replay(items, engine)`` sends every file to a ``tests.corpus_worker`` process (which caps
its own memory with ``RLIMIT_AS`` and its CPU time per file with ``RLIMIT_CPU``) and waits
at most ``timeout`` wall-clock seconds for each answer. A worker that dies (a segfault, an
abort, the kernel's OOM killer), runs out of CPU time or does not answer in time is a
finding naming the file; the worker is then killed and restarted for the next file.
``summary()`` prints the table (format x engine) and ``findings()`` lists every file that
raised an untyped exception, crashed, timed out, left something behind or changed Pillow's
global state.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MEMORY = 3 * 1024**3 // 2  # 1.5 GiB of address space per worker
CPU = 15.0  # CPU seconds per file, its three specs included (the worker's RLIMIT_CPU)
TIMEOUT = 60.0  # wall-clock seconds per file: the backstop for a hang that uses no CPU
START_TIMEOUT = 120.0  # Django setup and migrate, on two busy cores


@dataclass(frozen=True)
class Item:
    path: Path
    label: str  # the recipe (generated corpus) or the path relative to the corpus folder
    fmt: str  # the row it is counted under
    plant: str = ""  # a finding to plant (tests.corpus_worker.planted), for the self-test


@dataclass
class Result:
    item: Item
    engine: str
    kind: str  # "answer", "crash" or "timeout"
    answer: dict[str, Any] = field(default_factory=dict)
    detail: str = ""

    @property
    def category(self) -> str:
        """ok, a typed error class, untyped, bad-output, crash or timeout: one per file.

        ``typed`` outcomes are thumbkit errors that are not a ``SourceError``: every file of
        a corpus is a source problem or fine (the specs are valid), so they are findings
        too (the wrong type: a template would raise instead of degrading)."""
        if self.kind != "answer":
            return self.kind
        results = [o["result"] for o in self.answer["outcomes"]]
        for worst in ("untyped", "bad-output"):
            if worst in results:
                return worst
        wrong = [o for o in self.answer["outcomes"] if o["result"] == "typed"]
        if wrong:
            return f"{wrong[0]['error']} (not a SourceError)"
        failed = [o for o in self.answer["outcomes"] if o["result"] != "ok"]
        return str(failed[0]["error"]) if failed else "ok"

    @property
    def problems(self) -> list[str]:
        """Everything that makes this file a finding (empty for a clean file)."""
        if self.kind != "answer":
            return [f"{self.kind}: {self.detail}"]
        found = [
            f"{o['spec']}: {o['result']} {o['error']}: {o['message']}"
            + (f" at {o['where']}" if o.get("where") else "")
            for o in self.answer["outcomes"]
            if o["result"] in ("untyped", "bad-output", "typed")
        ]
        found += [f"leftover: {text}" for text in self.answer["leftovers"]]
        found += [f"changed Pillow's global state: {name}" for name in self.answer["globals"]]
        return found


class WorkerProcess:
    """One ``tests.corpus_worker`` process, restarted after a crash or a timeout."""

    def __init__(
        self, engine: str, base: Path, memory: int, cpu: float, python: str = sys.executable
    ) -> None:
        self.engine, self.base, self.memory, self.cpu, self.python = (
            engine,
            base,
            memory,
            cpu,
            python,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.buffer = b""

    def start(self) -> None:
        self.starts += 1
        home = self.base / f"{self.engine}-{self.starts}"
        (home / "media").mkdir(parents=True)
        (home / "tmp").mkdir()
        self.log = home / "stderr.log"
        env = {
            **os.environ,
            "THUMBKIT_TEST_MEDIA": str(home / "media"),
            "TMPDIR": str(home / "tmp"),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            # This checkout's thumbkit and tests, whatever the interpreter has installed.
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MiB of address space per arena
            "VIPS_CONCURRENCY": "1",  # one core per engine: the two run side by side
            "PYTHONFAULTHANDLER": "1",  # a segfault prints the Python stack to the log
        }
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "tests.corpus_worker",
                    self.engine,
                    str(self.memory),
                    str(self.cpu),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=ROOT,
                env=env,
                bufsize=0,
            )
        self.buffer = b""
        ready = self._read(time.monotonic() + START_TIMEOUT)
        if ready is None or "ready" not in ready:
            raise RuntimeError(f"the {self.engine} worker did not start: {self._log_tail(0)}")

    def ask(self, item: Item, timeout: float) -> Result:
        if self.proc is None:
            self.start()
        assert self.proc is not None
        assert self.proc.stdin is not None
        offset = self.log.stat().st_size
        request = {"path": str(item.path), "suffix": _suffix(item.path), "plant": item.plant}
        with contextlib.suppress(BrokenPipeError):  # it died already: _read says how
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
        answer = self._read(time.monotonic() + timeout)
        if answer is not None:
            return Result(item, self.engine, "answer", answer)
        if self.proc.poll() is None:
            self.stop()
            return Result(item, self.engine, "timeout", detail=f"no answer in {timeout:g} s")
        code = self.proc.returncode
        detail = f"{_exit(code)}; stderr: {self._log_tail(offset)}"
        self.stop()
        if code == -signal.SIGXCPU:
            return Result(item, self.engine, "timeout", detail=f"over {self.cpu:g} s of CPU")
        return Result(item, self.engine, "crash", detail=detail)

    def _read(self, deadline: float) -> dict[str, Any] | None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self.buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    self.proc.wait()
                    return None
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _log_tail(self, offset: int, lines: int = 12) -> str:
        with self.log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
        return " | ".join(text.strip().splitlines()[-lines:]) or "(nothing)"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.proc = None


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ".bin"


def _exit(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def replay(
    items: Sequence[Item],
    engine: str,
    memory: int = MEMORY,
    cpu: float = CPU,
    timeout: float = TIMEOUT,
    python: str = sys.executable,
) -> list[Result]:
    base = Path(tempfile.mkdtemp(prefix=f"thumbkit-corpus-{engine}-"))
    worker = WorkerProcess(engine, base, memory, cpu, python)
    try:
        return [worker.ask(item, timeout) for item in items]
    finally:
        worker.stop()
        shutil.rmtree(base, ignore_errors=True)


def replay_engines(
    items: Sequence[Item], engines: Iterable[str], **options: Any
) -> dict[str, list[Result]]:
    """Every engine's replay at once: one worker process each, side by side."""
    names = list(engines)
    with ThreadPoolExecutor(len(names)) as pool:
        futures = {name: pool.submit(replay, items, name, **options) for name in names}
        return {name: future.result() for name, future in futures.items()}


# --- the corpus folders ----------------------------------------------------------------


def generated_items(directory: Path) -> list[Item]:
    from tests import corpus

    return [Item(path, entry.recipe, entry.fmt) for path, entry in corpus.write(directory)]


def folder_items(directory: Path) -> list[Item]:
    """Every file under ``directory``, counted by its extension (as Pillow names its tests)."""
    paths = sorted(p for p in directory.rglob("*") if p.is_file())
    return [Item(p, str(p.relative_to(directory)), p.suffix.lower() or "(none)") for p in paths]


# --- reports ------------------------------------------------------------------------------


def findings(results: Iterable[Result]) -> list[str]:
    return [
        f"[{r.engine}] {r.item.label} ({r.item.path.name}): {problem}"
        for r in results
        for problem in r.problems
    ]


def summary(results_by_engine: dict[str, list[Result]]) -> str:
    """The table: one row per format and engine; typed errors counted by class."""
    rows = [("format", "engine", "files", "ok", "typed errors", "untyped", "crash", "timeout",
             "leftovers", "globals")]  # fmt: skip
    formats = sorted({r.item.fmt for results in results_by_engine.values() for r in results})
    for fmt in [*formats, "all"]:
        for engine, results in results_by_engine.items():
            mine = [r for r in results if fmt in ("all", r.item.fmt)]
            if mine:
                rows.append(_row(fmt, engine, mine))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    for engine, results in results_by_engine.items():
        timed = [r for r in results if r.kind == "answer"]
        if timed:
            slowest = max(timed, key=lambda r: r.answer["cpu"])
            wall = sum(r.answer["seconds"] for r in timed)
            cpu = sum(r.answer["cpu"] for r in timed)
            peak = max(r.answer["peak_mib"] for r in timed)
            lines.append(
                f"{engine}: {cpu:.1f} s of CPU ({wall:.1f} s wall) in the answered files; "
                f"the most CPU: {slowest.answer['cpu']:.2f} s ({slowest.item.label}); "
                f"peak RSS of a worker: {peak} MiB"
            )
    return "\n".join(line.rstrip() for line in lines)


def _row(fmt: str, engine: str, results: list[Result]) -> tuple[str, ...]:
    counts = Counter(r.category for r in results)
    special = ("ok", "untyped", "bad-output", "crash", "timeout")
    typed = sorted((n, c) for c, n in counts.items() if c not in special)
    typed_text = ", ".join(f"{c} {n}" for n, c in sorted(typed, reverse=True)) or "-"
    leftovers = sum(1 for r in results if r.kind == "answer" and r.answer["leftovers"])
    changed = sum(1 for r in results if r.kind == "answer" and r.answer["globals"])
    untyped = counts["untyped"] + counts["bad-output"]
    return (fmt, engine, str(len(results)), str(counts["ok"]), typed_text, str(untyped),
            str(counts["crash"]), str(counts["timeout"]), str(leftovers), str(changed))  # fmt: skip

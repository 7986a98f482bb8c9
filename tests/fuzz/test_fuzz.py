"""Run the atheris decode fuzzer (tests/fuzz/fuzz_decode.py) for a bounded time.

The fuzzer runs in a subprocess for ``THUMBKIT_FUZZ_SECONDS`` (20 by default) from a fixed
libFuzzer seed, its corpus seeded with the valid images of tests/corpus.py; any input that
makes an engine raise anything but a thumbkit error, crash, hang for 10 s or use more than
1.5 GiB fails the test, which names the reproducer file. Longer runs: docs/security.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pytest

FUZZER = Path(__file__).with_name("fuzz_decode.py")
ROOT = FUZZER.parents[2]
SECONDS = int(os.environ.get("THUMBKIT_FUZZ_SECONDS", "20"))

pytestmark = pytest.mark.skipif(
    sys.version_info[:2] == (3, 11),
    reason="atheris 3.1.0 has no wheel for Python 3.11; the Python 3.12 run fuzzes",
)


@dataclass
class FuzzRun:
    returncode: int
    output: str
    artifacts: list[Path]

    def report(self) -> str:
        tail = "\n".join(self.output.splitlines()[-40:])
        found = "\n".join(f"  reproducer: {path}" for path in self.artifacts) or "  (none)"
        replay = f"{sys.executable} {FUZZER} <reproducer>"
        return f"exit {self.returncode}\n{found}\nreplay one with: {replay}\n{tail}"


def run_fuzzer(tmp_path: Path, *args: str, **env: str) -> FuzzRun:
    if find_spec("atheris") is None:
        pytest.fail("atheris is not installed: requirements/py312-dj61.txt pins it")
    corpus, out = tmp_path / "corpus", tmp_path / "artifacts"
    out.mkdir()
    command = [
        sys.executable,
        str(FUZZER),
        "-rss_limit_mb=1536",
        "-timeout=10",
        "-max_len=65536",
        f"-artifact_prefix={out}/",
        *args,
        str(corpus),
    ]
    environ = {
        **os.environ,
        "THUMBKIT_FUZZ_SEED": str(corpus),
        # This checkout's thumbkit, whatever the interpreter has installed.
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        **env,
    }
    proc = subprocess.run(
        command, capture_output=True, text=True, env=environ, timeout=SECONDS * 5 + 180
    )
    return FuzzRun(proc.returncode, proc.stdout + proc.stderr, sorted(out.iterdir()))


def test_decode_fuzzer_finds_nothing(tmp_path: Path) -> None:
    run = run_fuzzer(tmp_path, f"-max_total_time={SECONDS}", "-seed=1")
    assert run.returncode == 0, run.report()
    assert not run.artifacts, run.report()
    # It ran, from the seeded corpus.
    assert re.search(r"Done \d+ runs", run.output), run.report()
    assert len(list((tmp_path / "corpus").iterdir())) >= 60, run.report()


def test_fuzzer_reports_a_finding(tmp_path: Path) -> None:
    """The harness itself: a planted untyped exception becomes a failure with a reproducer."""
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "planted").write_bytes(b"SELFTEST not an image")
    run = run_fuzzer(tmp_path, "-runs=10", THUMBKIT_FUZZ_SELFTEST="1")
    assert run.returncode != 0, run.report()
    assert [path.name[:6] for path in run.artifacts] == ["crash-"], run.report()
    assert run.artifacts[0].read_bytes() == b"SELFTEST not an image"
    assert "self-test: a planted untyped exception" in run.output

"""Replay a folder of images (or the generated corpus) through both engines; print the table.

::

    python benchmarks/corpus_replay.py                       # the generated corpus
    python benchmarks/corpus_replay.py /tmp/pillow-sdist/pillow-13.0.0/Tests/images
    python benchmarks/corpus_replay.py DIR --engines pillow --cpu 20 --memory-mib 2048

Each file goes through ``thumbkit.get_thumbnail`` with the specs of
``tests.corpus_worker.SPECS`` in a worker process per engine (memory capped with
``RLIMIT_AS``, CPU time per file with ``RLIMIT_CPU``, plus a wall-clock backstop), exactly
as ``tests/test_corpus.py`` does. The table has one row per format (the corpus family, or
a folder's file extensions) and engine: files, ok, typed errors by class, untyped (and bad
outputs), crashes, timeouts, files that left something behind, files after which Pillow's
global state differed. Every finding follows, one line each, with the file, the spec, the
exception and the traceback's top. The exit status is 1 when there is a finding.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files

from tests import corpus_runner  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, help="default: the generated corpus")
    parser.add_argument("--engines", default="pillow,vips")
    parser.add_argument("--cpu", type=float, default=corpus_runner.CPU, help="CPU s a file")
    parser.add_argument("--timeout", type=float, default=corpus_runner.TIMEOUT, help="wall s")
    parser.add_argument("--memory-mib", type=int, default=corpus_runner.MEMORY // 2**20)
    parser.add_argument("--python", default=sys.executable, help="the workers' interpreter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="thumbkit-corpus-") as scratch:
        if args.folder is None:
            items = corpus_runner.generated_items(Path(scratch))
            source = "the generated corpus (tests/corpus.py)"
        else:
            items = corpus_runner.folder_items(args.folder)
            source = str(args.folder)
        started = time.monotonic()
        results = corpus_runner.replay_engines(
            items,
            args.engines.split(","),
            memory=args.memory_mib * 2**20,
            cpu=args.cpu,
            timeout=args.timeout,
            python=args.python,
        )
        took = time.monotonic() - started
    print(f"{len(items)} files from {source}; engines side by side in {took:.1f} s")
    caps = f"{args.cpu:g} s of CPU, {args.timeout:g} s wall clock, {args.memory_mib} MiB"
    print(f"caps per file: {caps} of address space\n")
    print(corpus_runner.summary(results))
    found = corpus_runner.findings(r for rs in results.values() for r in rs)
    print(f"\nfindings: {len(found)}")
    for line in found:
        print(" ", line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

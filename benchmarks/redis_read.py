"""What the redis store's list-page read costs: one script against a pipeline of HGETALLs.

A warm list page reads every record of its rows' sources in one round trip
(``RedisStore.get_sources``). This writes ``--sources`` source indexes of two records each into
a scratch Redis database, then times, alternating, in one process:

- ``pipeline``: one non-transactional pipeline of one ``HGETALL`` per source, every record
  decoded from JSON (what the store did before it read with a script);
- ``script``: ``get_sources`` itself, one ``EVAL`` running ``HGETALL`` on every index, with
  the decoded-record memory cleared before each read (a cold process);
- ``script, warm``: ``get_sources`` again without clearing it (a warm page: the same stored
  records answer with the records already decoded).

Medians of client CPU time (the process's own) and wall time (the server's work included),
and the ratios to the pipeline. Needs a Redis server (``--url``, default 127.0.0.1:6379/15;
the database is flushed first). Run:
``.venvs/py312-dj61/bin/python benchmarks/redis_read.py [--sources 1000] [--repeat 31]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=31)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/15")
    return parser.parse_args()


def timed(read: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    read()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def main() -> None:
    args = arguments()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from tests.stores_util import record

    from thumbkit.lookup import thumbnail
    from thumbkit.lookup.stores.redis import RedisStore

    store = RedisStore(url=args.url, prefix="bench:")
    store.client.flushdb()
    sources = [f"{i:040d}" for i in range(args.sources)]
    store.set_many(
        [
            record(f"{i:031d}{n}", s, spec=f"{n}00x{n}00")
            for i, s in enumerate(sources)
            for n in "12"
        ]
    )

    def pipeline() -> dict[str, dict[str, Any]]:
        pipe = store.client.pipeline(transaction=False)
        for key in sources:
            pipe.hgetall(store._index(key))
        return {
            key: {k.decode(): thumbnail.Thumbnail.from_dict(json.loads(v)) for k, v in h.items()}
            for key, h in zip(sources, pipe.execute(), strict=True)
        }

    def script_cold() -> dict[str, Any]:
        thumbnail._decoded.clear()
        return store.get_sources(sources)

    def script_warm() -> dict[str, Any]:
        return store.get_sources(sources)

    reads = {"pipeline": pipeline, "script": script_cold, "script, warm": script_warm}
    assert pipeline() == script_cold() == script_warm()  # the same records every way
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in reads}
    for _ in range(args.repeat):
        for name, read in reads.items():
            times[name].append(timed(read))
    store.client.flushdb()
    base_wall = statistics.median(t[0] for t in times["pipeline"])
    base_cpu = statistics.median(t[1] for t in times["pipeline"])
    print(f"# {args.sources} sources, 2 records each; medians of {args.repeat} reads\n")
    print("| read | wall ms | x pipeline | client CPU ms | x pipeline |")
    print("|---|--:|--:|--:|--:|")
    for name, found in times.items():
        wall = statistics.median(t[0] for t in found)
        cpu = statistics.median(t[1] for t in found)
        print(
            f"| {name} | {wall:.2f} | {wall / base_wall:.2f} | {cpu:.2f} | {cpu / base_cpu:.2f} |"
        )


if __name__ == "__main__":
    main()

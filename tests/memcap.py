"""Render a source in a child process under an address-space cap, and report its peak RSS.

The child sets ``RLIMIT_AS`` before importing anything heavy, renders with the engine asked
for, and prints one JSON line: the outcome (``"ok"`` or the exception's class), its message,
the sizes made, the seconds spent and its own peak RSS (``VmHWM``, or ``ru_maxrss``
where there is no /proc). Used by the decode
bound tests and by ``benchmarks/memory.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024**3

CHILD = r"""
import json, resource, sys, time

def high_water_kib():
    # VmHWM belongs to this process image; ru_maxrss would carry over the parent's RSS
    # at fork, which Linux keeps across exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

data_path, engine, specs, limits, cap = sys.argv[1:6]
cap = int(cap)
if cap:
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "thumbkit"],
    DATABASES={},
    THUMBKIT={"ENGINE": engine, "LIMITS": json.loads(limits)},
)
django.setup()
from thumbkit.conf import get_settings
from thumbkit.core.engines import engine_class
from thumbkit.core.spec import parse

data = open(data_path, "rb").read()
before = high_water_kib()
started = time.perf_counter()
outcome, message, sizes = "ok", "", []
try:
    parsed = [parse(s) for s in json.loads(specs)]
    rendered = engine_class(engine)().render(data, parsed, get_settings())
    sizes = [[r.width, r.height] for r in rendered]
except BaseException as exc:
    outcome, message = type(exc).__name__, str(exc)[:500]
seconds = time.perf_counter() - started
peak = high_water_kib()
print(json.dumps({"outcome": outcome, "message": message, "sizes": sizes,
                  "seconds": seconds, "rss_kib": peak, "start_kib": before}))
"""


@dataclass(frozen=True)
class Outcome:
    outcome: str  # "ok", or the class name of what the render raised
    message: str
    sizes: list[list[int]]
    seconds: float  # the render alone
    peak_mib: float  # the child's peak RSS, imports included
    start_mib: float  # its RSS before the render (interpreter, Django, engine imports)

    @property
    def render_mib(self) -> float:
        """What the render added to the peak."""
        return self.peak_mib - self.start_mib


def run_capped(
    data: bytes,
    specs: list[str],
    *,
    engine: str = "pillow",
    limits: dict[str, Any] | None = None,
    address_space: int = 3 * GIB // 2,
    timeout: float = 120.0,
    src: Path = ROOT / "src",
) -> Outcome:
    """Render ``data`` for ``specs`` in a child capped at ``address_space`` bytes (0: no cap).

    ``src`` is where the child imports thumbkit from (another checkout, to compare). A child
    that overruns ``timeout`` is killed and reported as ``"timeout"``."""
    with tempfile.NamedTemporaryFile(suffix=".img") as source:
        source.write(data)
        source.flush()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)]),
            # glibc reserves 64 MiB of address space per thread arena; libvips starts threads.
            "MALLOC_ARENA_MAX": "2",
        }
        args = [
            source.name,
            engine,
            json.dumps(specs),
            json.dumps(limits or {}),
            str(address_space),
        ]
        try:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                cwd=str(ROOT),
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Outcome("timeout", f"over {timeout} s", [], timeout, 0.0, 0.0)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return Outcome(f"exit {done.returncode}", done.stderr[-2000:], [], 0.0, 0.0, 0.0)
    result = json.loads(lines[-1])
    return Outcome(
        result["outcome"],
        result["message"],
        result["sizes"],
        result["seconds"],
        result["rss_kib"] / 1024,
        result["start_kib"] / 1024,
    )

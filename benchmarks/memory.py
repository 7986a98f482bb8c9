"""Peak memory of one render at the LIMITS cap, per source format and engine.

    .venvs/py312-dj61/bin/python benchmarks/memory.py                 # 100 MP, both engines
    .venvs/py312-dj61/bin/python benchmarks/memory.py --side 5000     # 25 MP: quicker
    .venvs/py312-dj61/bin/python benchmarks/memory.py --only png-rgba --engines pillow

Each case renders a ``side`` x ``side`` source for ``"300x300"`` in a fresh child process
(tests/memcap.py) and reports the child's peak RSS, what the render added to it, and that
increase per megapixel of the source. Sources are made once and kept in
``$TMPDIR/thumbkit-memory-<side>`` (a 100 MP set takes a few minutes to encode).
``--src`` measures another checkout's ``src`` directory, to compare.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files

from PIL import Image  # noqa: E402
from tests.bombs import picture  # noqa: E402
from tests.memcap import run_capped  # noqa: E402


def _save(image: Image.Image, path: Path, fmt: str, **options: object) -> None:
    image.save(path, fmt, **options)


CASES: dict[str, tuple[str, Callable[[int, Path], None]]] = {
    "jpeg-baseline": ("JPEG", lambda s, p: _save(picture(s, "RGB"), p, "JPEG", quality=85)),
    "jpeg-progressive": (
        "JPEG",
        lambda s, p: _save(picture(s, "RGB"), p, "JPEG", quality=85, progressive=True),
    ),
    "png-rgb": ("PNG", lambda s, p: _save(picture(s, "RGB"), p, "PNG", compress_level=1)),
    "png-rgba": ("PNG", lambda s, p: _save(picture(s, "RGBA"), p, "PNG", compress_level=1)),
    "png-grey16": ("PNG", lambda s, p: _save(picture(s, "I;16"), p, "PNG", compress_level=1)),
    "webp": ("WEBP", lambda s, p: _save(picture(s, "RGB"), p, "WEBP", quality=80, method=0)),
    "gif": ("GIF", lambda s, p: _save(picture(s, "P"), p, "GIF")),
    "tiff-rgb": ("TIFF", lambda s, p: _save(picture(s, "RGB"), p, "TIFF", compression="tiff_lzw")),
}


def source(name: str, side: int) -> bytes:
    cache = Path(tempfile.gettempdir()) / f"thumbkit-memory-{side}"
    cache.mkdir(exist_ok=True)
    path = cache / f"{name}.img"
    if not path.exists():
        partial = path.with_suffix(".part")
        CASES[name][1](side, partial)
        partial.rename(path)
    return path.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=10_000)
    parser.add_argument("--engines", default="pillow,vips")
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    args = parser.parse_args()
    names = [n for n in CASES if not args.only or n in args.only.split(",")]
    megapixels = args.side * args.side / 1e6
    print(f'{args.side}x{args.side} sources ({megapixels:g} MP), spec "300x300", {args.src}')
    print()
    print("| source | engine | file MiB | outcome | peak RSS MiB | render MiB | MiB per MP |")
    print("|---|---|---:|---|---:|---:|---:|")
    for name in names:
        data = source(name, args.side)
        for engine in args.engines.split(","):
            result = run_capped(data, ["300x300"], engine=engine, address_space=0, src=args.src)
            outcome = result.outcome if result.outcome != "ok" else "ok"
            print(
                f"| {name} | {engine} | {len(data) / 2**20:.1f} | {outcome} "
                f"| {result.peak_mib:.0f} | {result.render_mib:.0f} "
                f"| {result.render_mib / megapixels:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""An atheris fuzz target for the decode path: bytes in, only thumbkit errors out.

Each input goes through ``render()`` of the Pillow engine and of the vips engine (when pyvips
is installed) with two specs, a centre crop and a WebP output, and Django settings made
here (no database, no storage: the engines are the target). Any exception that is not a
``thumbkit.exceptions.ThumbkitError`` is a finding: libFuzzer prints its traceback and
writes the input to ``-artifact_prefix`` as ``crash-<sha1>``. A hang beyond ``-timeout``
or memory beyond ``-rss_limit_mb`` is a finding too.

Run it (Python 3.12 venv; atheris has no 3.11 wheel)::

    python tests/fuzz/fuzz_decode.py -max_total_time=600 -rss_limit_mb=1536 -timeout=10 \\
        -artifact_prefix=/tmp/fuzz-out/ /tmp/fuzz-corpus
    python tests/fuzz/fuzz_decode.py /tmp/fuzz-out/crash-...   # replay one reproducer

``THUMBKIT_FUZZ_SEED=DIR`` first fills an empty folder with the valid images of the
generated corpus (tests/corpus.py); pass the same folder as the corpus.
``THUMBKIT_FUZZ_ENGINES=pillow`` fuzzes one engine only.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import atheris

ROOT = Path(__file__).resolve().parents[2]
# Smaller than the defaults (100 MP), so that each input costs milliseconds, not seconds:
# the fuzzer looks for wrong exceptions and crashes, the replay test covers the real caps.
LIMITS = {"MAX_SOURCE_PIXELS": 4_000_000, "MAX_FRAMES": 50, "MAX_OUTPUT_SIDE": 512}


def configure() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(THUMBKIT={"LIMITS": LIMITS}, INSTALLED_APPS=[], USE_TZ=True)
    import django

    django.setup()
    warnings.simplefilter("ignore")  # Pillow warns on odd EXIF and the like: not findings


def engines() -> list[Any]:
    from thumbkit.core.engines.pillow import PillowEngine

    wanted = os.environ.get("THUMBKIT_FUZZ_ENGINES", "pillow,vips").split(",")
    found: list[Any] = [PillowEngine()] if "pillow" in wanted else []
    if "vips" in wanted:
        try:
            from thumbkit.core.engines.vips import VipsEngine

            found.append(VipsEngine())
        except Exception as exc:  # no pyvips: fuzz Pillow alone, and say so
            print(f"fuzz_decode: vips engine unavailable ({exc}); Pillow only", file=sys.stderr)
    return found


def seed(folder: Path) -> None:
    """Fill an empty folder with the generated corpus's valid bases (its mutations are what
    the fuzzer makes itself), the small ones."""
    if folder.is_dir() and any(folder.iterdir()):
        return
    sys.path.insert(0, str(ROOT))
    from tests import corpus

    folder.mkdir(parents=True, exist_ok=True)
    for index, entry in enumerate(corpus.build()):
        if "/" not in entry.recipe and len(entry.data) <= 65536:
            (folder / corpus.file_name(index, entry.recipe)).write_bytes(entry.data)


with atheris.instrument_imports(include=["thumbkit", "PIL"]):
    configure()
    from PIL import Image

    Image.init()  # imports every format plugin now, so that they are instrumented too
    from thumbkit.conf import get_settings
    from thumbkit.core.spec import parse
    from thumbkit.exceptions import ThumbkitError

ENGINES = engines()
SPECS = [parse("64x64", crop="center"), parse("48x36", format="webp")]


SELFTEST = os.environ.get("THUMBKIT_FUZZ_SELFTEST") == "1"


def test_one_input(data: bytes) -> None:
    if SELFTEST and data.startswith(b"SELFTEST"):
        raise TypeError("self-test: a planted untyped exception")  # tests/fuzz/test_fuzz.py
    settings = get_settings()
    for engine in ENGINES:
        try:
            rendered = engine.render(data, SPECS, settings)
        except ThumbkitError:
            continue
        for spec, out in zip(SPECS, rendered, strict=True):
            if not out.data or out.width < 1 or out.height < 1:
                raise AssertionError(f"{type(engine).__name__} made {out!r} for {spec}")


def main() -> None:
    folder = os.environ.get("THUMBKIT_FUZZ_SEED")
    if folder:
        seed(Path(folder))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

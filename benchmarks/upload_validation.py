"""What upload validation costs: ``ImageLimitsValidator`` on hostile and ordinary uploads.

::

    .venvs/py312-dj61/bin/python benchmarks/upload_validation.py

One child process per file (the test settings, default LIMITS). Each file is checked as an
upload on disk (a ``File`` over an open file, as Django's ``TemporaryUploadedFile``), five
times: the table gives the time of the first (untraced) check, the peak of memory allocated
through Python during the traced ones (``tracemalloc``: the bytes read; nothing is decoded)
and the verdict (the error code, or "accepted").
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its files
sys.path.insert(1, str(ROOT / "src"))

CHILD = r"""
import os, sys, time, tracemalloc
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
sys.path[:0] = [".", "src"]
import django
django.setup()
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile
from tests import images
from thumbkit.validators import ImageLimitsValidator

validator = ImageLimitsValidator()
validator(SimpleUploadedFile("warm.jpg", images.jpeg((40, 30))))  # imports, Pillow plugins
best, peak = float("inf"), 0
for _ in range(5):
    with open(sys.argv[1], "rb") as handle:
        upload = File(handle, name="upload")
        traced = _ > 0  # the first run is timed untraced (tracemalloc slows allocations)
        if traced:
            tracemalloc.start()
        start = time.perf_counter()
        try:
            validator(upload)
            verdict = "accepted"
        except ValidationError as exc:
            verdict = str(exc.code)
        elapsed = time.perf_counter() - start
        if traced:
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        else:
            best = elapsed
print(f"{best * 1000:.1f} ms | {peak / 2**20:.1f} MiB | {verdict}")
"""


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    from PIL import Image

    Image.new("P", size, 0).save(buffer, "PNG")
    return buffer.getvalue()


def cases() -> dict[str, bytes]:
    from tests import bombs, images

    return {
        "PNG 12000×12000, one colour": png((12000, 12000)),  # noqa: RUF001
        "progressive JPEG 65500×65500": bombs.progressive_jpeg((65500, 65500)),  # noqa: RUF001
        "baseline JPEG 65500×65500": bombs.baseline_jpeg((65500, 65500)),  # noqa: RUF001
        "TIFF, 100,000 pages": bombs.tiff_pages(100_000),
        "GIF, 1,000 frames": bombs.animated("GIF", 1000),
        "JPEG 4000×3000 photo": images.jpeg((4000, 3000)),  # noqa: RUF001
    }


def main() -> None:
    print("| upload | bytes | time | peak allocated | verdict |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, data in cases().items():
            path = Path(folder) / "upload.bin"
            path.write_bytes(data)
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=False,
            )
            answer = done.stdout.strip() or done.stderr.strip().splitlines()[-1]
            print(f"| {name} | {len(data):,} | {answer} |")


if __name__ == "__main__":
    main()

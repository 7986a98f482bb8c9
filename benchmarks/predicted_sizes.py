"""What predicted sizes cost: ``sourcesize.measure`` at upload, ``fallback.predicted`` per lookup.

::

    .venvs/py312-dj61/bin/python benchmarks/predicted_sizes.py

``measure`` reads an upload's header (size and EXIF orientation) once, when a thumbkit
ImageField with a manifest column saves a file. ``predicted`` builds the stand-in a lookup
renders while the store is down (or under the optimistic strategy): without a known source
size it only names the file; with one it also plans the spec (geometry and LIMITS).

``--sample ENGINE SEED`` instead compares predictions with what the engine makes, for 120
random JPEG sources under 8 specs each: mismatches (must be 0) and sizes left unknown.
"""

from __future__ import annotations

import io
import os
import random
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from PIL import Image  # noqa: E402
from tests import images  # noqa: E402

from thumbkit.lookup import api, fallback  # noqa: E402
from thumbkit.lookup.keys import thumbnail_key  # noqa: E402
from thumbkit.lookup.source import coerce  # noqa: E402
from thumbkit.lookup.sourcesize import Known, measure  # noqa: E402


def per_call(func: object, number: int) -> float:
    return timeit.timeit(func, number=number) / number  # type: ignore[arg-type]


def sample(engine_name: str, seed: int) -> None:
    from django.test import override_settings

    from thumbkit.conf import get_settings
    from thumbkit.core.engines import get_engine
    from thumbkit.core.spec import parse
    from thumbkit.exceptions import ThumbkitError
    from thumbkit.lookup.registry import register

    rng = random.Random(seed)
    checked = unknown = wrong = 0
    with override_settings(THUMBKIT={"ENGINE": engine_name}):
        for _ in range(120):
            size = (rng.randint(50, 3000), rng.randint(50, 3000))
            data = images.encode(Image.new("RGB", size, (100, 150, 200)), "JPEG")
            w, h = rng.randint(10, 600), rng.randint(10, 600)
            crop = rng.choice(["center", "top", "10% 80%", "smart"])
            specs = [
                parse(f"{w}x{h}"),
                parse(f"{w}x{h}", crop=crop),
                parse(f"{w}", upscale=rng.random() < 0.3),
                parse(f"x{h}"),
                parse(f"{w}x{h}", padding=True),
                *(
                    register.make("thumbkit:thumbnail", source="x.jpg", width=a, height=b).spec
                    for a, b in ((w, h), (w, None), (None, h))
                ),
            ]
            for spec in specs:
                predicted = fallback.planned_output(spec, size)
                try:
                    out = get_engine().render(data, [spec], get_settings())[0]
                except ThumbkitError:
                    wrong += predicted is not None
                    continue
                checked += 1
                unknown += predicted is None
                wrong += predicted not in (None, (out.width, out.height))
    print(f"{engine_name}: {checked} made, {unknown} left unknown, {wrong} wrong")


def main() -> None:
    for size in ((4000, 3000), (12000, 9000)):
        exif = Image.Exif()
        exif[0x0112] = 6
        data = images.encode(Image.new("RGB", size, (90, 120, 200)), "JPEG", exif=exif.tobytes())
        upload = io.BytesIO(data)
        took = per_call(lambda upload=upload: measure(upload), 200)
        print(f"measure, {size[0]}x{size[1]} JPEG ({len(data) // 1024} KiB): {took * 1e6:.0f} µs")
    spec = api.get_spec("300x200", crop="center")
    src = coerce("photos/p.jpg")
    key = thumbnail_key(src, spec)
    took = per_call(lambda: fallback.predicted(src, spec, key), 20000)
    print(f"predicted, size unknown: {took * 1e6:.1f} µs")
    fallback.known_size = lambda source: Known((4000, 3000), oriented=True)  # type: ignore[assignment]
    took = per_call(lambda: fallback.predicted(src, spec, key), 20000)
    print(f"predicted, size known: {took * 1e6:.1f} µs")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sample"]:
        sample(sys.argv[2], int(sys.argv[3]))
    else:
        main()

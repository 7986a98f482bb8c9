"""Quality defaults per format, measured: file size and SSIM against JPEG q85.

::

    .venvs/py312-dj61/bin/python benchmarks/formats.py            # the table in the docs
    .venvs/py312-dj61/bin/python benchmarks/formats.py --quick    # 2 images, fewer qualities

The images are the benchmarks' photo-like sources (``benchmarks/images.py``: gradients,
shapes, grain) made at 3200x2400 and resized with LANCZOS to 800x600 thumbnails, plus two
RGBA graphics flattened onto white: what an encoder sees in a thumbnail. Each is encoded
as JPEG q85 (Pillow, optimize: thumbkit's default JPEG) and as WebP and AVIF at several
qualities, and each encoding is decoded again and compared with the original by SSIM on
luma (Wang et al. 2004: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03).

The chosen default of a format is the lowest quality whose mean SSIM reaches JPEG q85's
(so a thumbnail looks at least as close to its source as the JPEG did), and the table
gives its mean size as a share of the JPEG's, with the photos' and graphics' SSIM apart.
AVIF speeds 4 to 10 are then timed at the chosen AVIF quality (the median of ``--repeat``
encodes per image, one process), and the chosen speed is the one with the smallest files
among those that encode within ``--slowdown`` times the fastest speed's time: AVIF stays
close to its cheapest, and the rule holds on a loaded machine, where absolute times do not.
The qualities are measured at speed 8.

SSIM is computed with Pillow only (no numpy in the project's environments): a separable
Gaussian blur as a sum of shifted copies (``ImageChops.offset``) weighted in ``ImageMath``
on float images, and the mean of the SSIM map from a BOX resize to 1x1. The shifts wrap
around at the edges, so a 5-pixel border (the window's radius) is left out of the mean.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageMath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import images

THUMB = (800, 600)
WEBP_QUALITIES = (50, 55, 60, 65, 70, 75, 80, 85, 90)
AVIF_QUALITIES = (40, 45, 50, 55, 60, 65, 70, 75, 80)
AVIF_SPEEDS = (4, 5, 6, 7, 8, 9, 10)
# thumbkit's encoders, as the Pillow engine calls them (thumbkit.core.engines.pillow).
WEBP_METHOD = 4
MEASURE_SPEED = 8  # the qualities are measured at thumbkit's AVIF speed before this change

RADIUS = 5
SIGMA = 1.5
C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def kind(name: str) -> str:
    return name.split("-")[0]


def sources(quick: bool) -> list[tuple[str, Image.Image]]:
    photos = 2 if quick else 4
    out = []
    for seed in range(photos):
        big = images.photo((3200, 2400), seed=seed)
        out.append((f"photo-{seed}", big.resize(THUMB, Image.Resampling.LANCZOS)))
    for seed in range(0 if quick else 2):
        graphic = images.graphic_rgba((1600, 1200), seed=seed)
        flat = Image.new("RGB", graphic.size, "white")
        flat.paste(graphic, mask=graphic.getchannel("A"))
        out.append((f"graphic-{seed}", flat.resize(THUMB, Image.Resampling.LANCZOS)))
    return out


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


# --- SSIM with Pillow only ------------------------------------------------------------------


def _kernel() -> list[float]:
    weights = [math.exp(-(i * i) / (2 * SIGMA * SIGMA)) for i in range(-RADIUS, RADIUS + 1)]
    total = sum(weights)
    return [w / total for w in weights]


KERNEL = _kernel()


def _blur(image: Image.Image) -> Image.Image:
    """A separable Gaussian blur of a mode "F" image (wrapping at the edges)."""
    for axis in (0, 1):
        total: Image.Image | None = None
        for offset, weight in zip(range(-RADIUS, RADIUS + 1), KERNEL, strict=True):
            dx, dy = (offset, 0) if axis == 0 else (0, offset)
            shifted = ImageChops.offset(image, dx, dy)
            if total is None:
                total = ImageMath.lambda_eval(lambda a, w=weight: a["s"] * w, s=shifted)
            else:
                total = ImageMath.lambda_eval(
                    lambda a, w=weight: a["t"] + a["s"] * w, t=total, s=shifted
                )
        assert total is not None
        image = total
    return image


def _mean(image: Image.Image) -> float:
    inner = image.crop((RADIUS, RADIUS, image.width - RADIUS, image.height - RADIUS))
    return float(inner.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0)))  # type: ignore[arg-type]


def _luma(image: Image.Image) -> Image.Image:
    return image.convert("L").convert("F")


def ssim(reference: Image.Image, other: Image.Image) -> float:
    """Mean SSIM of the two images' luma (1.0 for identical images)."""
    x, y = _luma(reference), _luma(other)
    mx, my = _blur(x), _blur(y)
    xx = _blur(ImageMath.lambda_eval(lambda a: a["x"] * a["x"], x=x))
    yy = _blur(ImageMath.lambda_eval(lambda a: a["y"] * a["y"], y=y))
    xy = _blur(ImageMath.lambda_eval(lambda a: a["x"] * a["y"], x=x, y=y))

    def index(a: dict[str, Any]) -> Any:
        mx2, my2, mxy = a["mx"] * a["mx"], a["my"] * a["my"], a["mx"] * a["my"]
        vx, vy, cov = a["xx"] - mx2, a["yy"] - my2, a["xy"] - mxy
        return ((mxy * 2 + C1) * (cov * 2 + C2)) / ((mx2 + my2 + C1) * (vx + vy + C2))

    return _mean(ImageMath.lambda_eval(index, mx=mx, my=my, xx=xx, yy=yy, xy=xy))


# --- the measurements -----------------------------------------------------------------------

# format, quality, mean bytes, mean SSIM, mean SSIM per kind of image
Row = tuple[str, int, float, float, dict[str, float]]


def measure(
    imgs: Sequence[tuple[str, Image.Image]], fmt: str, qualities: Sequence[int]
) -> list[Row]:
    rows = []
    for quality in qualities:
        sizes, scores = [], []
        kinds: dict[str, list[float]] = {}
        for name, image in imgs:
            data = encode(image, fmt, **_options(fmt, quality))
            sizes.append(len(data))
            scores.append(ssim(image, decode(data)))
            kinds.setdefault(kind(name), []).append(scores[-1])
        per_kind = {k: statistics.mean(v) for k, v in kinds.items()}
        rows.append((fmt, quality, statistics.mean(sizes), statistics.mean(scores), per_kind))
    return rows


def _options(fmt: str, quality: int, speed: int = MEASURE_SPEED) -> dict[str, Any]:
    if fmt == "JPEG":
        return {"quality": quality, "optimize": True, "progressive": True}
    if fmt == "WEBP":
        return {"quality": quality, "method": WEBP_METHOD}
    return {"quality": quality, "speed": speed}


def chosen(rows: Sequence[Row], target: float) -> Row:
    """The lowest quality whose mean SSIM reaches ``target``; else the best measured."""
    for row in rows:
        if row[3] >= target:
            return row
    return max(rows, key=lambda row: row[3])


def speeds(
    imgs: Sequence[tuple[str, Image.Image]], quality: int, repeat: int
) -> list[tuple[int, float, float, float]]:
    """(speed, median ms per encode, mean bytes, mean SSIM) for each AVIF speed."""
    out = []
    for speed in AVIF_SPEEDS:
        times, sizes, scores = [], [], []
        for _, image in imgs:
            options = _options("AVIF", quality, speed)
            runs = [_timed(image, options) for _ in range(repeat)]
            times.append(statistics.median(t for t, _ in runs))
            data = runs[0][1]
            sizes.append(len(data))
            scores.append(ssim(image, decode(data)))
        ms = statistics.mean(times) * 1000
        out.append((speed, ms, statistics.mean(sizes), statistics.mean(scores)))
    return out


def _timed(image: Image.Image, options: dict[str, Any]) -> tuple[float, bytes]:
    start = time.perf_counter()
    data = encode(image, "AVIF", **options)
    return time.perf_counter() - start, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 images, 3 qualities each")
    parser.add_argument("--repeat", type=int, default=3, help="timed encodes per AVIF speed")
    parser.add_argument("--slowdown", type=float, default=3.0, help="x the fastest AVIF speed")
    args = parser.parse_args()
    imgs = sources(args.quick)
    webp_q = WEBP_QUALITIES[2::3] if args.quick else WEBP_QUALITIES
    avif_q = AVIF_QUALITIES[2::3] if args.quick else AVIF_QUALITIES
    [jpeg] = measure(imgs, "JPEG", [85])
    print(f"{len(imgs)} images of {THUMB[0]}x{THUMB[1]}; JPEG q85 is the reference.\n")
    kinds = list(jpeg[4])
    print(
        "| format | quality | mean size | size vs JPEG q85 | mean SSIM (luma) | "
        + " | ".join(f"SSIM, {k}s" for k in kinds)
        + " |"
    )
    print("|---|---|---|---|---|" + "---|" * len(kinds))
    table = [jpeg, *measure(imgs, "WEBP", webp_q), *measure(imgs, "AVIF", avif_q)]
    for fmt, quality, size, score, per_kind in table:
        cells = " | ".join(f"{per_kind[k]:.4f}" for k in kinds)
        print(
            f"| {fmt} | {quality} | {size / 1024:.1f} KiB | {size / jpeg[2]:.0%} "
            f"| {score:.4f} | {cells} |"
        )
    picks = {
        fmt: chosen([row for row in table if row[0] == fmt], jpeg[3]) for fmt in ("WEBP", "AVIF")
    }
    print()
    for fmt, (_, quality, size, score, _kinds) in picks.items():
        print(
            f"{fmt}: the lowest quality reaching JPEG q85's SSIM {jpeg[3]:.4f} is {quality} "
            f"(SSIM {score:.4f}, {size / jpeg[2]:.0%} of the JPEG's bytes)"
        )
    avif_quality = picks["AVIF"][1]
    print(f"\nAVIF speeds at quality {avif_quality} (median of {args.repeat} encodes per image):\n")
    print("| speed | ms per 800x600 encode | mean size | mean SSIM (luma) |")
    print("|---|---|---|---|")
    timed = speeds(imgs, avif_quality, args.repeat)
    for speed, ms, size, score in timed:
        print(f"| {speed} | {ms:.0f} | {size / 1024:.1f} KiB | {score:.4f} |")
    fastest = min(row[1] for row in timed)
    within = [row for row in timed if row[1] <= fastest * args.slowdown]
    best = min(within, key=lambda row: (row[2], -row[0]))
    print(
        f"\nAVIF speed: {best[0]}, the smallest files ({best[2] / 1024:.1f} KiB) among the "
        f"speeds within {args.slowdown:g}x the fastest's time ({best[1]:.0f} ms vs {fastest:.0f})"
    )


if __name__ == "__main__":
    main()

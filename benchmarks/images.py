"""Benchmark source images, made in code (no image is checked in).

Photo-like means what a JPEG encoder and a resampler see in a real photo: smooth gradients,
hard-edged shapes and a little sensor noise, so file sizes and decode times are realistic
(a flat test card would compress to almost nothing and decode faster than any photo).
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

Size = tuple[int, int]


def _gradient(size: Size, seed: int) -> Image.Image:
    # Three differently oriented linear gradients, one per channel.
    base = Image.linear_gradient("L").resize(size)
    flipped = base.transpose(Image.Transpose.ROTATE_180)
    side = Image.linear_gradient("L").rotate(90 + seed % 90).resize(size)
    channels = [base, side, flipped]
    rotation = seed % 3
    return Image.merge("RGB", channels[rotation:] + channels[:rotation])


def _shapes(image: Image.Image, seed: int, count: int) -> None:
    rng = random.Random(seed)
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(count):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = x0 + rng.randrange(width // 20, width // 3)
        y1 = y0 + rng.randrange(height // 20, height // 3)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)


def photo(size: Size, seed: int = 0, noise: float = 10.0) -> Image.Image:
    """An RGB photo-like image: gradients, soft-edged shapes, gaussian noise."""
    image = _gradient(size, seed)
    _shapes(image, seed, count=12)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    grain = Image.effect_noise(size, noise).convert("RGB")
    # ImageChops.add with offset -128: noise centred on zero.
    return ImageChops.add(image, grain, scale=1.0, offset=-128)


def graphic_rgba(size: Size, seed: int = 0) -> Image.Image:
    """An RGBA image with shapes and a radial alpha ramp (a logo or cut-out on transparency)."""
    image = _gradient(size, seed)
    _shapes(image, seed, count=20)
    alpha = Image.radial_gradient("L").resize(size).point(lambda v: 255 - v)
    image.putalpha(alpha)
    return image


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def write_photos(directory: Path, count: int, size: Size = (800, 600)) -> list[str]:
    """``count`` distinct JPEGs ``0001.jpg`` ... in ``directory``; returns the file names.

    Eight base images are drawn once; each file gets its own shapes on top of one of them,
    so the files differ (distinct names, bytes and thumbnails) without drawing 1000 photos.
    """
    directory.mkdir(parents=True, exist_ok=True)
    bases = [photo(size, seed) for seed in range(8)]
    names = []
    for number in range(1, count + 1):
        image = bases[number % len(bases)].copy()
        _shapes(image, 1000 + number, count=3)
        name = f"{number:04d}.jpg"
        (directory / name).write_bytes(jpeg_bytes(image))
        names.append(name)
    return names


def link_tree(source: Path, target: Path) -> None:
    """Hard-link every file of ``source`` into ``target`` (same bytes, other names)."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(source):
        os.link(entry.path, target / entry.name)


def write_generation_sources(directory: Path) -> dict[str, Path]:
    """The generation benchmark's sources: a 4000x3000 JPEG (q85) and a 2000x1500 RGBA PNG."""
    directory.mkdir(parents=True, exist_ok=True)
    big = directory / "photo-4000x3000.jpg"
    big.write_bytes(jpeg_bytes(photo((4000, 3000), seed=42)))
    alpha = directory / "graphic-2000x1500.png"
    alpha.write_bytes(png_bytes(graphic_rgba((2000, 1500), seed=7)))
    small = directory / "warmup.jpg"
    small.write_bytes(jpeg_bytes(photo((64, 48), seed=1)))
    small_png = directory / "warmup.png"
    small_png.write_bytes(png_bytes(graphic_rgba((64, 48), seed=1)))
    return {"jpeg": big, "png": alpha, "warmup-jpeg": small, "warmup-png": small_png}


ANIMATION_FRAMES = 60


def write_animation_sources(directory: Path) -> dict[str, Path]:
    """The animated cases' sources: a 60-frame 480x360 GIF and the same as a WebP."""
    directory.mkdir(parents=True, exist_ok=True)
    made = {}
    for fmt, suffix in (("GIF", "gif"), ("WEBP", "webp")):
        made[suffix] = directory / f"anim-480x360.{suffix}"
        made[suffix].write_bytes(animation_bytes((480, 360), ANIMATION_FRAMES, fmt))
        made[f"warmup-{suffix}"] = directory / f"warmup.{suffix}"
        made[f"warmup-{suffix}"].write_bytes(animation_bytes((64, 48), 3, fmt))
    return made


def animation_bytes(size: Size, frames: int, fmt: str) -> bytes:
    """``frames`` distinct frames (one photo-like picture panning by 8 px a frame), 40 ms
    each, looping forever."""
    base = photo(size, seed=100, noise=0.0)
    shots = [ImageChops.offset(base, 8 * i, 0) for i in range(frames)]
    buffer = io.BytesIO()
    options: dict[str, object] = {"duration": 40, "loop": 0}
    if fmt == "WEBP":
        options["quality"] = 80
    shots[0].save(buffer, fmt, save_all=True, append_images=shots[1:], **options)
    return buffer.getvalue()

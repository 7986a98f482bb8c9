"""Sample pictures drawn in code: colourful, of several sizes, orientations and formats."""

from __future__ import annotations

import colorsys
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Sample:
    title: str
    size: tuple[int, int]
    format: str  # "JPEG" or "PNG"; PNG samples are drawn with transparency

    @property
    def filename(self) -> str:
        slug = self.title.lower().replace(" ", "-")
        return f"{slug}.{'png' if self.format == 'PNG' else 'jpg'}"


SAMPLES = [
    Sample("Sunset landscape", (1600, 1000), "JPEG"),
    Sample("Tall tower", (900, 1400), "JPEG"),
    Sample("Square tiles", (1000, 1000), "JPEG"),
    Sample("Wide panorama", (2400, 800), "JPEG"),
    Sample("Transparent badge", (800, 800), "PNG"),
    Sample("Narrow portrait", (600, 1500), "JPEG"),
    Sample("Tiny postcard", (240, 160), "JPEG"),
    Sample("Ocean landscape", (1280, 720), "JPEG"),
]


def sample(index: int) -> Sample:
    """The ``index``-th sample; past the list, the list again with numbered titles."""
    base = SAMPLES[index % len(SAMPLES)]
    if index < len(SAMPLES):
        return base
    return Sample(f"{base.title} {index // len(SAMPLES) + 1}", base.size, base.format)


def palette(rng: random.Random, count: int) -> list[tuple[int, int, int]]:
    start = rng.random()
    colours = []
    for i in range(count):
        r, g, b = colorsys.hsv_to_rgb((start + i / count) % 1.0, 0.75, 0.95)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def draw(index: int, size: tuple[int, int], transparent: bool) -> Image.Image:
    """A gradient sky with circles and stripes; the same index always draws the same picture."""
    rng = random.Random(index)
    colours = palette(rng, 6)
    width, height = size
    top, bottom = colours[0], colours[3]
    image = Image.linear_gradient("L").resize(size)
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), image)
    if transparent:
        image = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas = ImageDraw.Draw(image)
    for i in range(12):
        radius = rng.randint(min(size) // 12, min(size) // 4)
        x, y = rng.randint(0, width), rng.randint(0, height)
        colour = (*colours[i % len(colours)], 230)
        canvas.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    stripe = max(4, height // 40)
    for y in range(height * 2 // 3, height, stripe * 3):
        canvas.rectangle((0, y, width, y + stripe), fill=(*colours[5], 200))
    return image


def render(index: int) -> bytes:
    """The ``index``-th sample's file, encoded."""
    item = sample(index)
    image = draw(index, item.size, transparent=item.format == "PNG")
    buffer = io.BytesIO()
    if item.format == "PNG":
        image.save(buffer, "PNG")
    else:
        image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()

"""Made-up people for the directory: names, organisations, places and a photo each."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from .samples import draw

FIRST = ["Ada", "Bram", "Chidi", "Dana", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas"]
LAST = [
    "Achebe",
    "Berg",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fujita",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
]
ORGS = ["Climate Action Tech", "Open Maps", "River Trust", "Solar Coop", "Bike Kitchen"]
PLACES = ["Lisbon", "Nairobi", "Oslo", "Recife", "Seoul", "Toronto", "Utrecht", "Vilnius"]
# Portrait, square and landscape photos, small enough that seeding 100 takes seconds.
SIZES = [(320, 400), (360, 360), (400, 300), (300, 400), (480, 360)]


@dataclass(frozen=True)
class Person:
    index: int
    name: str
    organisation: str
    location: str

    @property
    def filename(self) -> str:
        return f"person-{self.index:03}.jpg"

    @property
    def bio(self) -> str:
        return f"{self.name.split()[0]} works with {self.organisation} in {self.location}."


def person(index: int) -> Person:
    """The ``index``-th person (0 to 99 give 100 distinct names)."""
    name = f"{FIRST[index % len(FIRST)]} {LAST[index // len(FIRST) % len(LAST)]}"
    rng = random.Random(1000 + index)
    return Person(index, name, rng.choice(ORGS), rng.choice(PLACES))


def photo(index: int) -> bytes:
    """The person's photo: drawn in code, the same every time for one index."""
    image = draw(1000 + index, SIZES[index % len(SIZES)], transparent=False)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()

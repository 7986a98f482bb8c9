"""``make_sample_photos [--count N]``: add sample photos drawn in code; safe to run again."""

from __future__ import annotations

from typing import Any

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandParser

import thumbkit
from gallery.models import Photo
from gallery.samples import render, sample


class Command(BaseCommand):
    help = "Create sample photos (drawn with Pillow). Existing samples are kept, missing ones made."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=8, help="How many samples (default 8).")

    def handle(self, *args: Any, count: int, **options: Any) -> None:
        made = sum(self.ensure(index) for index in range(count))
        self.stdout.write(f"{made} sample photo(s) made, {count - made} already there.")

    def ensure(self, index: int) -> bool:
        """Make sample ``index`` unless a photo of that title with its file exists."""
        item = sample(index)
        photo = Photo.objects.filter(title=item.title).first()
        if photo is not None and photo.image and photo.image.storage.exists(photo.image.name):
            return False
        if photo is None:
            photo = Photo(title=item.title)
        elif photo.image:
            # The file is gone: forget its thumbnails, or the new file would inherit them.
            thumbkit.delete(photo.image, delete_file=False)
        photo.image.save(item.filename, ContentFile(render(index)), save=True)
        return True

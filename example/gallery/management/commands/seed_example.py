"""``seed_example``: the directory's profiles, the gallery's photos and an admin account.

Safe to run again: what exists is kept, what is missing (a row, or its file) is made.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.test import Client
from django.urls import reverse

import thumbkit
from gallery import people
from gallery.models import Photo, Profile
from gallery.samples import render, sample


class Command(BaseCommand):
    help = "Create sample profiles and photos (drawn with Pillow) and the admin account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profiles", type=int, default=100, help="default 100")
        parser.add_argument("--photos", type=int, default=8, help="default 8")
        parser.add_argument(
            "--no-warm",
            dest="warm",
            action="store_false",
            help="do not render the pages once (their thumbnails are then made on first view)",
        )

    def handle(self, *args: Any, profiles: int, photos: int, warm: bool, **options: Any) -> None:
        # One transaction: one commit instead of one per row. The photos' declared
        # thumbnails are made when it commits.
        with transaction.atomic():
            made_profiles = sum(self.ensure_profile(i) for i in range(profiles))
            made_photos = sum(self.ensure_photo(i) for i in range(photos))
        self.ensure_admin()
        if warm:
            self.warm()
        self.stdout.write(
            f"{made_profiles} profile(s) and {made_photos} photo(s) made; "
            f"{profiles - made_profiles} and {photos - made_photos} were already there."
        )

    def ensure_profile(self, index: int) -> bool:
        who = people.person(index)
        profile = Profile.objects.filter(name=who.name).first()
        if profile is not None and present(profile.photo):
            return False
        profile = profile or Profile(
            name=who.name, organisation=who.organisation, location=who.location, bio=who.bio
        )
        forget(profile.photo)
        profile.photo.save(who.filename, ContentFile(people.photo(index)), save=True)
        return True

    def ensure_photo(self, index: int) -> bool:
        item = sample(index)
        photo = Photo.objects.filter(title=item.title).first()
        if photo is not None and present(photo.image):
            return False
        photo = photo or Photo(title=item.title)
        forget(photo.image)
        photo.image.save(item.filename, ContentFile(render(index)), save=True)
        return True

    def ensure_admin(self) -> None:
        username, password = settings.EXAMPLE_ADMIN
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()

    def warm(self) -> None:
        """Render the directory and the gallery once, so their first view is a warm one
        (the thumbnails the templates ask for are made by the templates themselves)."""
        client = Client(HTTP_HOST="127.0.0.1")
        for url in (reverse("directory"), reverse("gallery")):
            response = client.get(url)
            if response.status_code != 200:
                raise CommandError(f"GET {url} answered {response.status_code}")


def present(file: FieldFile) -> bool:
    return bool(file) and file.storage.exists(file.name)


def forget(file: FieldFile) -> None:
    # The file is gone: forget its thumbnails, or the new file would inherit them.
    if file:
        thumbkit.delete(file, delete_file=False)

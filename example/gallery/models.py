from __future__ import annotations

from django.db import models

from thumbkit import get_thumbnail
from thumbkit.fields import ImageField
from thumbkit.lookup.api import Result


class Profile(models.Model):
    """The Django forum's address-book profile (the N+1 thread), abridged.

    The photo is a plain ``models.ImageField`` and the thumbnails are taken in properties
    with ``get_thumbnail``, as the poster wrote them with sorl-thumbnail: only the import
    changed. Rows loaded together batch by themselves, so a page of 100 costs one store read.
    """

    name = models.CharField(max_length=100)
    organisation = models.CharField(max_length=254, blank=True)
    location = models.CharField(max_length=254, blank=True)
    bio = models.TextField(blank=True)
    photo = models.ImageField(blank=True, null=True, max_length=200, upload_to="photos")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def thumbnail_photo(self) -> Result | None:
        # The forum's returned ``.url``; the thumbnail itself renders as its URL too, and also
        # gives the template its width and height.
        if not self.photo:
            return None
        return get_thumbnail(self.photo, "100x100", crop="center", quality=99)

    @property
    def detail_photo(self) -> Result | None:
        if not self.photo:
            return None
        return get_thumbnail(self.photo, "250x250", crop="center", quality=99)


class Photo(models.Model):
    title = models.CharField(max_length=100)
    # thumbkit's ImageField: the declared thumbnails are made when a file is saved, and go
    # with it when it is replaced or deleted.
    image = ImageField(upload_to="gallery", thumbnails={"small": "small", "card": "card"})
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.title

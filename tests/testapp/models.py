from __future__ import annotations

from django.db import models

from thumbkit.fields import ImageField


class Photo(models.Model):
    title = models.CharField(max_length=100, blank=True)
    image = models.ImageField(upload_to="photos", blank=True)

    def __str__(self) -> str:
        return self.title


class Profile(models.Model):
    """The forum case: a list of profiles, each with declared photo thumbnails."""

    name = models.CharField(max_length=100, blank=True)
    photo = ImageField(
        upload_to="profiles",
        blank=True,
        thumbnails={"small": "100x100 crop", "card": "card"},
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class ManifestProfile(models.Model):
    """The same, keeping its thumbnails' metadata on its own row."""

    name = models.CharField(max_length=100, blank=True)
    photo = ImageField(
        upload_to="mprofiles",
        blank=True,
        thumbnails={"small": "100x100 crop", "card": {"size": "320x240", "crop": "center"}},
        manifest_field="photo_thumbs",
    )
    photo_thumbs = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class Post(models.Model):
    """Reaches profiles through a foreign key (select_related) ..."""

    author = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="posts")
    title = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return self.title


class Team(models.Model):
    """... and through a many-to-many relation (prefetch_related)."""

    name = models.CharField(max_length=100, blank=True)
    members = models.ManyToManyField(Profile, related_name="teams")

    def __str__(self) -> str:
        return self.name

from __future__ import annotations

from django.core.files.storage import FileSystemStorage
from django.db import models

from thumbkit import get_thumbnail
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


class StyledPhoto(models.Model):
    """Declared thumbnails in every style: geometry string, named spec, dict of options."""

    image = ImageField(
        upload_to="styled",
        blank=True,
        thumbnails={
            "thumb": "80x60 crop",
            "card": "card",
            "wide": {"size": "200", "format": "png"},
            "square": {"size": "50x50", "crop": "center", "quality": 70},
        },
    )

    def __str__(self) -> str:
        return self.image.name or ""


class OnDemandPhoto(models.Model):
    """Declared thumbnails that are not made at upload (``generate_on_save=False``)."""

    image = ImageField(
        upload_to="ondemand",
        blank=True,
        thumbnails={"small": "100x100 crop"},
        generate_on_save=False,
    )

    def __str__(self) -> str:
        return self.image.name or ""


class OverwritePhoto(models.Model):
    """A file field on a storage that overwrites: a new upload may keep the old name."""

    image = ImageField(
        upload_to="overwrite",
        blank=True,
        storage=FileSystemStorage(allow_overwrite=True),
        thumbnails={"small": "100x100 crop", "card": "card"},
    )

    def __str__(self) -> str:
        return self.image.name or ""


class OverwriteManifestPhoto(models.Model):
    """An overwriting storage and a manifest column declared before the file field."""

    thumbs = models.JSONField(default=dict, blank=True, editable=False)
    image = ImageField(
        upload_to="owmanifest",
        blank=True,
        storage=FileSystemStorage(allow_overwrite=True),
        thumbnails={"small": "100x100 crop"},
        manifest_field="thumbs",
    )

    def __str__(self) -> str:
        return self.image.name or ""


# -- imagekit's fields (issue 4) --------------------------------------------------------

from thumbkit.fields import ImageSpecField, ProcessedImageField  # noqa: E402
from thumbkit.processors import ResizeToFill, ResizeToFit  # noqa: E402


class IKProfile(models.Model):
    """imagekit's README model: a plain ImageField and spec fields reading it."""

    name = models.CharField(max_length=100, blank=True)
    avatar = models.ImageField(upload_to="ikavatars", blank=True)
    avatar_thumbnail = ImageSpecField(
        source="avatar", processors=[ResizeToFill(100, 50)], format="JPEG", options={"quality": 60}
    )
    # Registered in tests/testapp/imagegenerators.py (found by autodiscovery).
    avatar_small = ImageSpecField(source="avatar", id="testapp:ikprofile:avatar_small")
    avatar_sized = ImageSpecField(source="avatar", id="testapp:avatar_sized")
    thumbnail_width = models.PositiveIntegerField(default=40)
    thumbnail_height = models.PositiveIntegerField(default=30)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class IKOptimistic(models.Model):
    """Spec fields whose strategies act when the source is saved."""

    avatar = models.ImageField(upload_to="ikoptimistic", blank=True)
    made = ImageSpecField(
        source="avatar", processors=[ResizeToFill(60, 60)], format="PNG", strategy="optimistic"
    )
    later = ImageSpecField(
        source="avatar", processors=[ResizeToFill(30, 30)], format="JPEG", strategy="deferred"
    )
    lazy = ImageSpecField(source="avatar", processors=[ResizeToFill(20, 20)], format="JPEG")

    def __str__(self) -> str:
        return self.avatar.name or ""


class IKBanner(models.Model):
    """A ProcessedImageField: the stored file is the processed upload."""

    banner = ProcessedImageField(
        upload_to="ikbanners",
        processors=[ResizeToFit(160, 60)],
        format="JPEG",
        options={"quality": 80},
        width_field="banner_width",
        height_field="banner_height",
        blank=True,
    )
    banner_width = models.PositiveIntegerField(null=True, blank=True)
    banner_height = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return self.banner.name or ""


class VendorImageField(models.ImageField):
    """A third-party ImageField subclass (as a vendor app would ship one)."""


class Member(models.Model):
    """The seed's forum case as its poster wrote it: a plain ``models.ImageField`` and
    sorl-style thumbnails taken in model methods with ``get_thumbnail``."""

    name = models.CharField(max_length=100, blank=True)
    photo = models.ImageField(upload_to="profiles", blank=True, null=True, max_length=200)
    cover = VendorImageField(upload_to="profiles", blank=True, null=True)
    attachment = models.FileField(upload_to="profiles", blank=True, null=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name

    def thumbnail_photo(self) -> str | None:
        if not self.photo:
            return None
        return get_thumbnail(self.photo, "100x100", crop="center").url

    def detail_photo(self) -> str | None:
        if not self.photo:
            return None
        return get_thumbnail(self.photo, "250x250", crop="center").url


class Membership(models.Model):
    """A row pointing at a Member, for select_related / prefetch_related pages."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="memberships")
    title = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.title


# -- focal points (issue 11) ------------------------------------------------------------


class FocalPhoto(models.Model):
    """A focal point per source: a JSON column for the image, a text column for the cover."""

    title = models.CharField(max_length=100, blank=True)
    image = ImageField(
        upload_to="focal",
        blank=True,
        thumbnails={"square": "100x100 crop", "wide": "200x100 crop", "fit": "120x120"},
        focal_point_field="focus",
    )
    focus = models.JSONField(null=True, blank=True)
    cover = ImageField(
        upload_to="focalcover",
        blank=True,
        thumbnails={"square": "60x60 crop"},
        focal_point_field="cover_focus",
    )
    cover_focus = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.title

"""The test models in the admin, imagekit style (tests/test_admin.py, the browser test)."""

from __future__ import annotations

from django.contrib import admin

from tests.testapp.models import FocalPhoto, IKProfile, Photo, Profile, StyledPhoto
from thumbkit.admin import AdminThumbnail, ThumbnailAdminMixin


@admin.register(Photo)
class PhotoAdmin(ThumbnailAdminMixin, admin.ModelAdmin[Photo]):
    """A plain Django ImageField: the mixin batches the column."""

    list_display = ("__str__", "admin_thumbnail")
    admin_thumbnail = AdminThumbnail(image_field="image")


@admin.register(Profile)
class ProfileAdmin(ThumbnailAdminMixin, admin.ModelAdmin[Profile]):
    """A thumbkit ImageField, with a declared thumbnail and a spec string side by side."""

    list_display = ("__str__", "admin_thumbnail", "card")
    admin_thumbnail = AdminThumbnail(image_field="photo", spec="small")
    card = AdminThumbnail(image_field="photo", spec="160x120", short_description="Card")
    thumbnail_preview_spec = "150x150"


@admin.register(StyledPhoto)
class StyledPhotoAdmin(admin.ModelAdmin[StyledPhoto]):
    """No mixin: thumbkit rows batch on their own; a callable column; a custom template."""

    list_display = ("__str__", "admin_thumbnail")
    admin_thumbnail = AdminThumbnail(
        image_field=lambda obj: obj.image.thumbnails.thumb,
        template="testapp/admin_thumbnail.html",
    )


@admin.register(IKProfile)
class IKProfileAdmin(admin.ModelAdmin[IKProfile]):
    """The seed's example, names changed: an ImageSpecField column on a plain ModelAdmin."""

    list_display = ("__str__", "admin_thumbnail")
    admin_thumbnail = AdminThumbnail(image_field="avatar_thumbnail")


@admin.register(FocalPhoto)
class FocalPhotoAdmin(ThumbnailAdminMixin, admin.ModelAdmin[FocalPhoto]):
    """Focal points: the mixin gives both focal columns the click-to-set widget."""

    list_display = ("__str__", "admin_thumbnail")
    admin_thumbnail = AdminThumbnail(image_field="image", spec="square")

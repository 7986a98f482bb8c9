from __future__ import annotations

from django.contrib import admin

from thumbkit.admin import AdminThumbnail, ThumbnailAdminMixin

from .models import Photo, Profile


@admin.register(Profile)
class ProfileAdmin(ThumbnailAdminMixin, admin.ModelAdmin):
    list_display = ("name", "admin_thumbnail", "organisation", "location")
    list_per_page = 100
    search_fields = ("name", "organisation", "location")
    # A plain models.ImageField: the column and the change form's preview work on it too.
    # The directory's spec (Profile.thumbnail_photo), so the column shows the same files.
    admin_thumbnail = AdminThumbnail(image_field="photo", spec="100x100 crop=center quality=99")
    thumbnail_preview_spec = "250x250"


@admin.register(Photo)
class PhotoAdmin(ThumbnailAdminMixin, admin.ModelAdmin):
    list_display = ("title", "admin_thumbnail", "created")
    # "card" is declared on Photo.image: the column shows that declared thumbnail.
    admin_thumbnail = AdminThumbnail(image_field="image", spec="card")

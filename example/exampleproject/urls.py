from __future__ import annotations

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path

from gallery import views

urlpatterns = [
    path("", views.directory, name="directory"),
    path("people/<int:pk>/", views.profile_detail, name="profile-detail"),
    path("gallery/", views.gallery, name="gallery"),
    path("gallery/<int:pk>/", views.photo_detail, name="photo-detail"),
    path("upload/", views.PhotoUpload.as_view(), name="photo-upload"),
    path("admin/", admin.site.urls),
    # Serves uploads and thumbnails while DEBUG is on (and nothing otherwise).
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
]

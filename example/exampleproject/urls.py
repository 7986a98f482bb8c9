from __future__ import annotations

from django.conf import settings
from django.conf.urls.static import static
from django.urls import path

from gallery import views

urlpatterns = [
    path("", views.photo_list, name="photo-list"),
    path("upload/", views.PhotoUpload.as_view(), name="photo-upload"),
    # Serves uploads and thumbnails while DEBUG is on (and nothing otherwise).
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
]

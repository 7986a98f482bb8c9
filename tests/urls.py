from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tests.testapp import views

urlpatterns: list[object] = [
    path("admin/", admin.site.urls),
    path("thumbs/", include("thumbkit.urls")),
    path("profiles/<str:model>/", views.profile_page, name="profiles"),
    path("profiles/<str:model>/<str:layout>/", views.profile_page, name="profiles-layout"),
]

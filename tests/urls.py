from __future__ import annotations

from django.urls import path

from tests.testapp import views

urlpatterns: list[object] = [
    path("profiles/<str:model>/", views.profile_page, name="profiles"),
    path("profiles/<str:model>/<str:layout>/", views.profile_page, name="profiles-layout"),
]

"""``path("thumbs/", include("thumbkit.urls"))``: the on-demand endpoint (see ``endpoint``)."""

from __future__ import annotations

from django.urls import path, re_path

from .adapters.endpoint import refused_view, thumbnail_view

app_name = "thumbkit"

urlpatterns = [
    path("<str:signature>/<str:payload>", thumbnail_view, name="thumbnail"),
    # Anything else below the prefix (no signature, extra segments): a plain 403, never
    # Django's 404 page, which lists the URLconf when DEBUG is on.
    re_path(r"", refused_view),
]

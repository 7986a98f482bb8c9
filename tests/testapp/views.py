"""Views for the batching tests: list pages with no thumbnail code in them at all."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tests.testapp.models import ManifestProfile, Profile

MODELS = {"profile": Profile, "manifest": ManifestProfile}
TEMPLATES = {"accessor": "testapp/profiles.html", "tag": "testapp/profiles_tag_first.html"}


def profile_page(request: HttpRequest, model: str, layout: str = "accessor") -> HttpResponse:
    """A plain paginated list, as a forum's member directory would write it."""
    paginator = Paginator(MODELS[model].objects.all(), int(request.GET.get("per_page", "25")))
    page = paginator.get_page(request.GET.get("page"))
    return render(request, TEMPLATES[layout], {"page": page})

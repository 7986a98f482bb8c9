from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.generic import CreateView

from thumbkit.conf import get_settings

from .forms import PhotoForm
from .models import Photo, Profile

PROFILES_PER_PAGE = 100


def directory(request: HttpRequest) -> HttpResponse:
    """The forum's profile list: a paginator over plain rows, no prefetch call anywhere."""
    page = Paginator(Profile.objects.all(), PROFILES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "gallery/directory.html", {"page": page})


def profile_detail(request: HttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    return render(request, "gallery/profile_detail.html", {"profile": profile})


def gallery(request: HttpRequest) -> HttpResponse:
    return render(request, "gallery/gallery.html", {"photos": Photo.objects.all()})


def photo_detail(request: HttpRequest, pk: int) -> HttpResponse:
    photo = get_object_or_404(Photo, pk=pk)
    return render(request, "gallery/photo_detail.html", {"photo": photo})


class PhotoUpload(CreateView):
    model = Photo
    form_class = PhotoForm
    template_name = "gallery/photo_form.html"

    def get_success_url(self) -> str:
        assert self.object is not None
        return reverse("photo-detail", args=[self.object.pk])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["limits"] = limit_rows()
        return context


def limit_rows() -> list[tuple[str, str]]:
    """THUMBKIT["LIMITS"] as they apply to an upload, in words."""
    limits = get_settings().limits
    rows = []
    if limits.max_source_pixels:
        rows.append(("Pixels", f"{limits.max_source_pixels:,} at most (width times height)"))
    if limits.max_source_bytes:
        rows.append(("File size", f"{limits.max_source_bytes / 1024 / 1024:g} MiB at most"))
    if limits.max_frames:
        rows.append(("Animation", f"{limits.max_frames} frames at most"))
    rows.append(("Formats", ", ".join(limits.formats)))
    return rows

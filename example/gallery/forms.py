from __future__ import annotations

from django import forms

from .models import Photo


class PhotoForm(forms.ModelForm):
    class Meta:
        model = Photo
        fields = ["title", "image"]
        # Photo.image is thumbkit's ImageField, whose form field is thumbkit.forms.ImageField:
        # an image above THUMBKIT["LIMITS"] (pixels, frames, bytes, formats) is refused from
        # its header, with a message saying by how much, before it is stored or decoded; every
        # page that shows it would otherwise fail to make its thumbnails.

from __future__ import annotations

from django import forms

import thumbkit.forms

from .models import Photo


class PhotoForm(forms.ModelForm):
    class Meta:
        model = Photo
        fields = ["title", "image"]
        # thumbkit's upload field: an image above THUMBKIT["LIMITS"] (pixels, frames, bytes,
        # formats) is refused from its header, with a message saying by how much, before it
        # is stored; every page that shows it would otherwise fail to make its thumbnails.
        field_classes = {"image": thumbkit.forms.ImageField}

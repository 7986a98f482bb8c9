from __future__ import annotations

from django.db import models


class Photo(models.Model):
    title = models.CharField(max_length=100)
    # A plain Django ImageField: thumbkit works on any FieldFile.
    image = models.ImageField(upload_to="photos")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.title

from __future__ import annotations

from django.db import models


class Photo(models.Model):
    title = models.CharField(max_length=100, blank=True)
    image = models.ImageField(upload_to="photos", blank=True)

    def __str__(self) -> str:
        return self.title

"""Tables of the ``db`` metadata store."""

from __future__ import annotations

from django.db import models


class ThumbnailRecord(models.Model):
    """One generated thumbnail: where it is and how big it is."""

    key = models.CharField(max_length=64, primary_key=True)
    source_key = models.CharField(max_length=64, db_index=True)
    source_name = models.CharField(max_length=1024)
    spec = models.TextField()
    name = models.CharField(max_length=1024)
    storage_alias = models.CharField(max_length=100)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=8)
    # The source's placeholder (thumbkit.core.lqip), the same on each of its records.
    placeholder_color = models.CharField(max_length=9, blank=True, default="")
    thumbhash = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "thumbnail record"

    def __str__(self) -> str:
        return self.name


class GenerationLock(models.Model):
    """A generation lock on databases without session-level advisory locks.

    ``host``, ``pid``, ``started`` and ``heartbeat`` say who holds it, so a lock whose holder
    was killed is taken over at once (``thumbkit.lookup.stores.locks``), not at ``expires``.
    """

    key = models.CharField(max_length=64, primary_key=True)
    token = models.CharField(max_length=32)
    expires = models.DateTimeField()
    host = models.CharField(max_length=255, default="")
    pid = models.BigIntegerField(default=0)
    started = models.CharField(max_length=32, default="")
    heartbeat = models.FloatField(default=0.0)  # time.time() of the holder's last heartbeat

    def __str__(self) -> str:
        return self.key

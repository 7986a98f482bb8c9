"""thumbkit: thumbnails for Django with batched metadata, safe generation and any storage."""

from __future__ import annotations

from .api import (
    adelete,
    aget_thumbnail,
    aprefetch_thumbnails,
    delete,
    fetch_thumbnails,
    get_thumbnail,
    prefetch_thumbnails,
)
from .generators import ImageSpec
from .query import ThumbnailQuerySet
from .registry import register
from .spec import Spec
from .thumbnail import Thumbnail

__all__ = [
    "ImageSpec",
    "Spec",
    "Thumbnail",
    "ThumbnailQuerySet",
    "adelete",
    "aget_thumbnail",
    "aprefetch_thumbnails",
    "delete",
    "fetch_thumbnails",
    "get_thumbnail",
    "prefetch_thumbnails",
    "register",
]

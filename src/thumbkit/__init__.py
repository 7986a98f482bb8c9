"""thumbkit: thumbnails for Django with batched metadata, safe generation and any storage."""

from __future__ import annotations

from .adapters.focal import set_focal_point
from .adapters.query import ThumbnailQuerySet
from .core.focal import FocalPoint
from .core.spec import Spec
from .lookup.api import (
    adelete,
    aget_thumbnail,
    aprefetch_thumbnails,
    delete,
    fetch_thumbnails,
    get_thumbnail,
    prefetch_thumbnails,
)
from .lookup.generators import ImageSpec
from .lookup.registry import register
from .lookup.thumbnail import Thumbnail

__all__ = [
    "FocalPoint",
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
    "set_focal_point",
]

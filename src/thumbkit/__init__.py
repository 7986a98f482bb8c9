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
from .spec import Spec
from .thumbnail import Thumbnail

__all__ = [
    "Spec",
    "Thumbnail",
    "adelete",
    "aget_thumbnail",
    "aprefetch_thumbnails",
    "delete",
    "fetch_thumbnails",
    "get_thumbnail",
    "prefetch_thumbnails",
]

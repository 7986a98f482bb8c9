"""The one accessor for the ``THUMBKIT`` settings dict.

``get_settings()`` builds a frozen :class:`Settings` on first use and caches it; the cache is
dropped on Django's ``setting_changed`` signal, so ``override_settings`` works and nothing is
read at import time. Unknown keys are reported by the system check ``thumbkit.E001``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULT_LIMITS: dict[str, Any] = {
    # Decoded pixels of the source, after JPEG draft scaling (a 200 MP JPEG asked for a
    # 300 px thumbnail decodes at 1/8 scale, so it counts as ~3 MP).
    "MAX_SOURCE_PIXELS": 100_000_000,
    # Frames of an animated source (GIF, WebP, APNG).
    "MAX_FRAMES": 300,
    # Bytes of the source file; None for no cap.
    "MAX_SOURCE_BYTES": 100 * 1024 * 1024,
    # Output width or height, and output pixels.
    "MAX_OUTPUT_SIDE": 4096,
    "MAX_OUTPUT_PIXELS": 4096 * 4096,
    # Pillow format names tried when opening a source; others are refused unopened.
    "FORMATS": ("JPEG", "MPO", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP"),
}

DEFAULTS: dict[str, Any] = {
    "STORAGE": "default",
    "STORE": "db",
    "STORE_OPTIONS": {},
    "ENGINE": "pillow",
    "STRATEGY": "lazy",
    "LIMITS": {},
    "SPECS": {},
    "PREFIX": "thumbs",
    "QUALITY": 85,
    "AVIF_SPEED": 8,
    "LOCK_TIMEOUT": 30.0,
    "PROGRESSIVE": True,
    # Declared thumbnails of a newly saved file: "sync" (after commit, in the process that
    # saved), "task" (a Django task, after commit) or "off" (made when first asked for).
    "UPLOAD": "sync",
    "TASK_BACKEND": "default",
    "TASK_QUEUE": "default",
}


@dataclass(frozen=True)
class Limits:
    max_source_pixels: int | None
    max_frames: int | None
    max_source_bytes: int | None
    max_output_side: int | None
    max_output_pixels: int | None
    formats: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    storage: str
    store: str
    store_options: Mapping[str, Any]
    engine: str
    strategy: str
    limits: Limits
    specs: Mapping[str, Any]
    prefix: str
    quality: int
    avif_speed: int
    lock_timeout: float
    progressive: bool
    upload: str
    task_backend: str
    task_queue: str
    unknown_keys: tuple[str, ...] = field(default=())


def user_settings() -> dict[str, Any]:
    value = getattr(django_settings, "THUMBKIT", None) or {}
    return dict(value)


def _limits(raw: Mapping[str, Any]) -> Limits:
    merged = {**DEFAULT_LIMITS, **raw}
    return Limits(
        max_source_pixels=merged["MAX_SOURCE_PIXELS"],
        max_frames=merged["MAX_FRAMES"],
        max_source_bytes=merged["MAX_SOURCE_BYTES"],
        max_output_side=merged["MAX_OUTPUT_SIDE"],
        max_output_pixels=merged["MAX_OUTPUT_PIXELS"],
        formats=tuple(str(f).upper() for f in merged["FORMATS"]),
    )


@functools.cache
def get_settings() -> Settings:
    raw = user_settings()
    merged = {**DEFAULTS, **raw}
    return Settings(
        storage=merged["STORAGE"],
        store=merged["STORE"],
        store_options=dict(merged["STORE_OPTIONS"]),
        engine=merged["ENGINE"],
        strategy=merged["STRATEGY"],
        limits=_limits(merged["LIMITS"]),
        specs=dict(merged["SPECS"]),
        prefix=str(merged["PREFIX"]).strip("/"),
        quality=int(merged["QUALITY"]),
        avif_speed=int(merged["AVIF_SPEED"]),
        lock_timeout=float(merged["LOCK_TIMEOUT"]),
        progressive=bool(merged["PROGRESSIVE"]),
        upload=str(merged["UPLOAD"]),
        task_backend=str(merged["TASK_BACKEND"]),
        task_queue=str(merged["TASK_QUEUE"]),
        unknown_keys=tuple(sorted(set(raw) - set(DEFAULTS))),
    )


_resetters: list[Any] = [get_settings]


_F = TypeVar("_F")


def on_reset(func: _F) -> _F:
    """Register a cached accessor to be cleared whenever settings change."""
    _resetters.append(func)
    return func


def reset() -> None:
    for func in _resetters:
        func.cache_clear()


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"THUMBKIT", "STORAGES", "CACHES", "DATABASES", "MEDIA_URL", "MEDIA_ROOT"}:
        reset()

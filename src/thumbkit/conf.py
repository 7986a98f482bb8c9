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
    # Decoded pixels of the source, after JPEG draft scaling (a 200 MP baseline JPEG asked
    # for a 300 px thumbnail decodes at 1/8 scale, so it counts as ~3 MP). A progressive or
    # multi-scan JPEG counts at full size: libjpeg holds all of its coefficients.
    "MAX_SOURCE_PIXELS": 100_000_000,
    # Frames of an animated source (GIF, WebP, APNG) or pages of a TIFF; counting stops
    # at this cap + 1.
    "MAX_FRAMES": 300,
    # Pixels an animated source (GIF, WebP, APNG) decodes to across all its frames (frames x
    # canvas width x height, the decoders composite each frame on the whole canvas), and the
    # same sum over the frames of each animated output; checked from the header, before the
    # first frame is decoded. A spec with animated=False decodes one frame and skips it.
    "MAX_ANIMATION_PIXELS": 300_000_000,
    # Bytes of the source file; None for no cap.
    "MAX_SOURCE_BYTES": 100 * 1024 * 1024,
    # Output width or height, and output pixels.
    "MAX_OUTPUT_SIDE": 4096,
    "MAX_OUTPUT_PIXELS": 4096 * 4096,
    # Pillow format names tried when opening a source; others are refused unopened.
    "FORMATS": ("JPEG", "MPO", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP"),
}

# Encoder quality per format when a spec gives none, measured by benchmarks/formats.py: the
# lowest WebP and AVIF qualities whose SSIM matches JPEG q85 (docs/responsive-images.md).
DEFAULT_QUALITY: dict[str, int] = {"JPEG": 85, "WEBP": 90, "AVIF": 75}
QUALITY_FORMATS = tuple(DEFAULT_QUALITY)

DEFAULTS: dict[str, Any] = {
    "STORAGE": "default",
    "STORE": "db",
    "STORE_OPTIONS": {},
    # When the store cannot be reached during a lookup: "fallback" renders STORE_FALLBACK
    # (logged once per outage), "raise" lets StoreUnavailable through (fail closed).
    "ON_STORE_ERROR": "fallback",
    # What a lookup renders then: "predict" (the name the thumbnail has once made), "source"
    # (the source image), "none", or the URL of a placeholder image.
    "STORE_FALLBACK": "predict",
    # Seconds after a failure during which lookups skip the store and fall back at once.
    "STORE_RETRY_AFTER": 5.0,
    "ENGINE": "pillow",
    # "lazy", "optimistic", "deferred", "on_demand" or a class's dotted path (see strategies).
    "STRATEGY": "lazy",
    # What the deferred strategy renders until its task made the thumbnail: "none" (a falsy
    # placeholder without URL: the block tag's {% empty %}), "source", "predict", or a URL.
    "DEFERRED_FALLBACK": "none",
    "LIMITS": {},
    "SPECS": {},
    "PREFIX": "thumbs",
    # How generated files are named: "default", "hash", "source_name_as_path",
    # "source_name_dot_hash" (imagekit's namers) or the dotted path of a function.
    "NAMER": "default",
    # An int for every format, or {"JPEG": .., "WEBP": .., "AVIF": ..} on top of the defaults.
    "QUALITY": DEFAULT_QUALITY,
    "AVIF_SPEED": 8,
    "LOCK_TIMEOUT": 30.0,
    "PROGRESSIVE": True,
    # The Cache-Control header of thumbnails uploaded to S3. Their names change whenever
    # their content can, so browsers and CDNs may keep them for good. None sends none.
    "CACHE_CONTROL": "max-age=31536000, immutable",
    # Declared thumbnails of a newly saved file: "sync" (after commit, in the process that
    # saved), "task" (a Django task, after commit) or "off" (made when first asked for).
    "UPLOAD": "sync",
    "TASK_BACKEND": "default",
    "TASK_QUEUE": "default",
    # django-athumb's URL features, applied to every thumbnail URL (tags, .url, filters):
    # FORCE_SSL makes them https; CACHE_BUSTER appends "?v=<text>" ("auto" or True: a
    # version that changes with the source); URL_DOMAIN serves them from another host.
    "FORCE_SSL": False,
    "CACHE_BUSTER": None,
    "URL_DOMAIN": None,
    # Seconds a source's failure (missing, unreadable, over LIMITS) is remembered in the
    # store, so renders answer from the record without reading the source or taking a lock;
    # a new version of the source, or other LIMITS or ENGINE, retry at once. 0 or None: off.
    "FAILURE_TTL": 3600,
    # The sizes the on-demand endpoint makes: None (any within LIMITS) or a list of widths
    # (320) and geometries ("320", "320x240", "x240"); see thumbkit.core.sizes.
    "SIZES_ALLOWED": None,
    # What listens to thumbkit's signals (docs/metrics.md): None (nothing: no cost), or one
    # or a list of "counters" (in-process totals), "prometheus", "otel". Any value keeps
    # the in-process counters that thumbkit_stats prints.
    "METRICS": None,
}


@dataclass(frozen=True)
class Limits:
    max_source_pixels: int | None
    max_frames: int | None
    max_source_bytes: int | None
    max_output_side: int | None
    max_output_pixels: int | None
    formats: tuple[str, ...]
    max_animation_pixels: int | None = None


@dataclass(frozen=True)
class Settings:
    storage: str
    store: str
    store_options: Mapping[str, Any]
    on_store_error: str
    store_fallback: str
    store_retry_after: float
    engine: str
    strategy: str
    deferred_fallback: str
    limits: Limits
    specs: Mapping[str, Any]
    prefix: str
    namer: str
    quality: int
    avif_speed: int
    lock_timeout: float
    progressive: bool
    cache_control: str | None
    upload: str
    task_backend: str
    task_queue: str
    force_ssl: bool = False
    cache_buster: str | None = None
    url_domain: str | None = None
    failure_ttl: float = 3600.0
    qualities: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_QUALITY))
    sizes_allowed: tuple[Any, ...] | None = None
    metrics: tuple[str, ...] = ()
    unknown_keys: tuple[str, ...] = field(default=())

    def quality_for(self, fmt: str) -> int:
        """The encoder quality of ``fmt`` when the spec gives none (``QUALITY``)."""
        return self.qualities.get(fmt, self.quality)


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
        max_animation_pixels=merged["MAX_ANIMATION_PIXELS"],
    )


@functools.cache
def get_settings() -> Settings:
    raw = user_settings()
    merged = {**DEFAULTS, **raw}
    return Settings(
        storage=merged["STORAGE"],
        store=merged["STORE"],
        store_options=dict(merged["STORE_OPTIONS"]),
        on_store_error=str(merged["ON_STORE_ERROR"]),
        store_fallback=str(merged["STORE_FALLBACK"]),
        store_retry_after=float(merged["STORE_RETRY_AFTER"]),
        engine=merged["ENGINE"],
        strategy=merged["STRATEGY"],
        deferred_fallback=str(merged["DEFERRED_FALLBACK"]),
        limits=_limits(merged["LIMITS"]),
        specs=dict(merged["SPECS"]),
        prefix=str(merged["PREFIX"]).strip("/"),
        namer=str(merged["NAMER"]),
        quality=_qualities(merged["QUALITY"])["JPEG"],
        avif_speed=int(merged["AVIF_SPEED"]),
        lock_timeout=float(merged["LOCK_TIMEOUT"]),
        progressive=bool(merged["PROGRESSIVE"]),
        cache_control=merged["CACHE_CONTROL"] or None,
        upload=str(merged["UPLOAD"]),
        task_backend=str(merged["TASK_BACKEND"]),
        task_queue=str(merged["TASK_QUEUE"]),
        force_ssl=bool(merged["FORCE_SSL"]),
        cache_buster=_cache_buster(merged["CACHE_BUSTER"]),
        url_domain=str(merged["URL_DOMAIN"] or "").strip().rstrip("/") or None,
        failure_ttl=float(merged["FAILURE_TTL"] or 0),
        qualities=_qualities(merged["QUALITY"]),
        sizes_allowed=_sizes(merged["SIZES_ALLOWED"]),
        metrics=metric_names(merged["METRICS"]),
        unknown_keys=tuple(sorted(set(raw) - set(DEFAULTS))),
    )


def _qualities(value: Any) -> dict[str, int]:
    # An int is one quality for every format (a user's choice wins over the measured ones).
    if isinstance(value, Mapping):
        given = {_format_name(k): int(v) for k, v in value.items()}
        return {**DEFAULT_QUALITY, **given}
    return dict.fromkeys(QUALITY_FORMATS, int(value))


def _format_name(value: Any) -> str:
    name = str(value).strip().upper()
    return "JPEG" if name == "JPG" else name


def _sizes(value: Any) -> tuple[Any, ...] | None:
    # Kept as given: thumbkit.core.sizes reads them (conf is below the pixel core).
    if value is None:
        return None
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _cache_buster(value: Any) -> str | None:
    # True is "auto"; None, False and "" are off.
    if value is True:
        return "auto"
    return (str(value).strip() or None) if value else None


def metric_names(value: Any) -> tuple[str, ...]:
    """``THUMBKIT["METRICS"]`` as a tuple of sink names."""
    # None, "" and [] are off; a name is a list of one. Another type is off too: the
    # system check reports it (E009), and a metrics setting never stops a site.
    if not value or not isinstance(value, str | list | tuple):
        return ()
    names = [value] if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(str(name).strip().lower() for name in names))


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
    if setting in {
        "THUMBKIT",
        "STORAGES",
        "CACHES",
        "DATABASES",
        "MEDIA_URL",
        "MEDIA_ROOT",
        "INSTALLED_APPS",
    }:
        reset()

"""Validation at upload: refuse an image above ``THUMBKIT["LIMITS"]`` before it is stored.

::

    from thumbkit.validators import ImageLimitsValidator

    class Photo(models.Model):
        image = models.ImageField(upload_to="photos", validators=[ImageLimitsValidator()])

thumbkit's own ``ImageField`` and ``ProcessedImageField`` (model and form fields) run it by
default. The check reads the file's header only (no pixel is decoded) and counts pixels and
frames as the engines do, so an upload that passes can be rendered; one that does not gets a
translated :class:`~django.core.exceptions.ValidationError` naming the limit and by how much.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db.models.fields.files import FieldFile
from django.utils.deconstruct import deconstructible
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from .conf import Limits, get_settings
from .core.engines.animation import is_animation
from .core.probe import SourceInfo, probe
from .exceptions import SourceTooLarge, SourceUnreadable

__all__ = ["ImageLimitsValidator", "check_upload", "limits_validator"]


MESSAGES = {
    "image_too_large_file": _(
        "The file is %(size)s bytes; the limit is %(limit)s bytes (%(over)s%% over)."
    ),
    "image_too_many_pixels": _(
        "The image is %(width)s×%(height)s = %(pixels)s pixels; "  # noqa: RUF001
        "the limit is %(limit)s (%(over)s%% over)."
    ),
    "image_too_many_pixels_drafted": _(
        "The image is %(width)s×%(height)s; decoded at the smallest scale it still takes "  # noqa: RUF001
        "%(decoded_width)s×%(decoded_height)s = %(pixels)s pixels; "  # noqa: RUF001
        "the limit is %(limit)s (%(over)s%% over)."
    ),
    "image_too_large_to_open": _("The image is too large to be opened safely."),
    "image_too_many_frames": _(
        "The image has %(frames)s frames; the limit is %(limit)s (%(over)s%% over)."
    ),
    "image_too_many_animation_pixels": _(
        "The animation has %(frames)s frames of %(width)s×%(height)s = %(pixels)s pixels; "  # noqa: RUF001
        "the limit is %(limit)s (%(over)s%% over)."
    ),
    "image_format_not_allowed": _(
        "The image is in %(format)s format, which is not accepted; accepted formats: %(allowed)s."
    ),
    "image_unreadable": _(
        "The file is not an image that can be read, or it is damaged "
        "(accepted formats: %(allowed)s)."
    ),
}
# Each error's params keep the raw figures for code as Django's validators name them
# (``show_value``, ``limit_value``); the message shows them grouped for people.
_CHECKED = "_thumbkit_limits_checked"  # marks an upload object already checked under caps
READ_CHUNK = 8 * 1024 * 1024  # a file of unknown size is read in steps of this, up to the cap


@deconstructible(path="thumbkit.validators.ImageLimitsValidator")
class ImageLimitsValidator:
    """Refuse an image file above LIMITS: bytes, format, pixels, frames, and an animation's
    frames x pixels (``MAX_ANIMATION_PIXELS``, its canvas part).

    Each cap defaults to ``THUMBKIT["LIMITS"]`` as it is when the validator runs (so
    ``override_settings`` applies); pass ``max_pixels``, ``max_frames``, ``max_bytes`` or
    ``formats`` to use other caps for this field. Files already stored (a committed
    ``FieldFile``, when a row is validated again) are not read again.
    """

    def __init__(
        self,
        max_pixels: int | None = None,
        max_frames: int | None = None,
        max_bytes: int | None = None,
        formats: Iterable[str] | None = None,
    ) -> None:
        self.max_pixels = max_pixels
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.formats = tuple(str(f).upper() for f in formats) if formats is not None else None

    def __call__(self, value: Any) -> None:
        file = _upload_of(value)
        if file is not None:
            check_upload(file, self.limits())

    def limits(self) -> Limits:
        """The caps this validator applies now: LIMITS, with this validator's overrides."""
        base = get_settings().limits
        changes: dict[str, Any] = {
            "max_source_pixels": self.max_pixels,
            "max_frames": self.max_frames,
            "max_source_bytes": self.max_bytes,
            "formats": self.formats,
        }
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(base, **given) if given else base

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageLimitsValidator) and self._caps() == other._caps()

    def __hash__(self) -> int:
        return hash(self._caps())

    def _caps(self) -> tuple[Any, ...]:
        return (self.max_pixels, self.max_frames, self.max_bytes, self.formats)

    def __repr__(self) -> str:
        pairs = zip(_CAP_NAMES, self._caps(), strict=True)
        given = [f"{k}={v!r}" for k, v in pairs if v is not None]
        return f"ImageLimitsValidator({', '.join(given)})"


_CAP_NAMES = ("max_pixels", "max_frames", "max_bytes", "formats")


def limits_validator(option: bool | ImageLimitsValidator) -> ImageLimitsValidator | None:
    """The validator a field's ``validate_limits`` option asks for (None: no check)."""
    if isinstance(option, ImageLimitsValidator):
        return option
    return ImageLimitsValidator() if option else None


def with_limits(validators: Any, validator: ImageLimitsValidator | None) -> list[Any]:
    return [*validators, validator] if validator is not None else list(validators)


def _upload_of(value: Any) -> File | None:  # type: ignore[type-arg]
    """The file object to check, or None when there is nothing new to check."""
    if isinstance(value, FieldFile):
        # A committed FieldFile is a stored file (the row validated again): it was checked
        # when it was uploaded, and reading it back from a remote storage costs a GET.
        if not value or getattr(value, "_committed", True):
            return None
        inner = value.file
        return _upload_of(inner) if isinstance(inner, File) else File(inner)
    if isinstance(value, File):
        from .lookup.generators import GeneratedImage

        # thumbkit's own output (a ProcessedImageField form field's result) was made
        # under LIMITS; its source was checked before it was processed.
        return None if isinstance(value, GeneratedImage) else value
    return None


def check_upload(file: File, limits: Limits) -> None:  # type: ignore[type-arg]
    """Raise a ValidationError when ``file`` is above ``limits``; read its header only."""
    key = _key(limits)
    if getattr(file, _CHECKED, None) == key:
        return  # the form field checked this very upload; the model validation needs not
    size = _size(file)
    cap = limits.max_source_bytes
    if cap is not None and size is not None and size > cap:
        raise _too_large_file(size, cap)
    data = _read(file, size, limits)
    if cap is not None and len(data) > cap:
        raise _too_large_file(size or len(data), cap)
    _check_image(data, limits)
    # Objects without a __dict__ (slots) cannot be marked; they are checked again.
    with contextlib.suppress(AttributeError):
        setattr(file, _CHECKED, key)


def _key(limits: Limits) -> tuple[Any, ...]:
    caps = (limits.max_source_pixels, limits.max_frames, limits.max_source_bytes)
    return (*caps, limits.formats, limits.max_animation_pixels)


def _size(file: File) -> int | None:  # type: ignore[type-arg]
    try:
        size = file.size
    except (AttributeError, OSError, ValueError):
        return None
    return size if isinstance(size, int) else None


def _read(file: File, size: int | None, limits: Limits) -> bytes:  # type: ignore[type-arg]
    """The file's bytes from its start, at most MAX_SOURCE_BYTES + 1; its position is kept."""
    cap = limits.max_source_bytes
    bound = None if cap is None else cap + 1
    if size is not None:
        # One byte past the stated size notices a file that is longer than it says. Never
        # read(cap + 1) blindly: a file object allocates the whole buffer up front (100 MiB
        # at the default cap, for any upload).
        bound = size + 1 if bound is None else min(bound, size + 1)
    try:
        position = file.tell()
    except (AttributeError, OSError, ValueError):
        position = None
    try:
        file.seek(0)
        data = _read_bounded(file, bound)
    except (OSError, ValueError) as exc:
        raise _error("image_unreadable", allowed=", ".join(limits.formats)) from exc
    finally:
        if position is not None:
            file.seek(position)
    return data


def _read_bounded(file: File, bound: int | None) -> bytes:  # type: ignore[type-arg]
    if bound is None:
        return _as_bytes(file.read())
    chunks, total = [], 0
    while total < bound:
        chunk = _as_bytes(file.read(min(READ_CHUNK, bound - total)))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _as_bytes(data: Any) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def _check_image(data: bytes, limits: Limits) -> None:
    # probe() applies no cap here: the caps are compared below, so the message can say by
    # how much. Counting every frame is linear in the file (at most MAX_SOURCE_BYTES).
    uncapped = dataclasses.replace(
        limits, max_source_pixels=None, max_source_bytes=None, max_frames=None
    )
    try:
        info = probe(data, uncapped)
    except SourceTooLarge as exc:  # Pillow itself refused to open it (a plugin's bomb guard)
        raise _error("image_too_many_pixels", "image_too_large_to_open") from exc
    except SourceUnreadable as exc:
        raise _unreadable(data, limits.formats) from exc
    _compare(info, limits)


def _compare(info: SourceInfo, limits: Limits) -> None:
    # Pixels as the engines count them: what the decoder allocates, after JPEG draft
    # scaling where the file allows it (the least any thumbnail of it costs).
    width, height = info.decoded_size(None)
    pixels, cap = width * height, limits.max_source_pixels
    if cap is not None and pixels > cap:
        drafted = (width, height) != info.size
        raise _error(
            "image_too_many_pixels",
            "image_too_many_pixels_drafted" if drafted else "image_too_many_pixels",
            width=info.width,
            height=info.height,
            decoded_width=width,
            decoded_height=height,
            pixels=_number(pixels),
            limit=_number(cap),
            over=_over(pixels, cap),
            show_value=pixels,
            limit_value=cap,
        )
    if limits.max_frames is not None and info.frames > limits.max_frames:
        raise _error(
            "image_too_many_frames",
            frames=_number(info.frames),
            limit=_number(limits.max_frames),
            over=_over(info.frames, limits.max_frames),
            show_value=info.frames,
            limit_value=limits.max_frames,
        )
    _compare_animation(info, limits)


def _compare_animation(info: SourceInfo, limits: Limits) -> None:
    # The engines' budget for an animation kept animated: every frame decoded on the canvas.
    cap = limits.max_animation_pixels
    total = info.frames * info.width * info.height
    if cap is None or not is_animation(info) or total <= cap:
        return
    raise _error(
        "image_too_many_animation_pixels",
        frames=_number(info.frames),
        width=info.width,
        height=info.height,
        pixels=_number(total),
        limit=_number(cap),
        over=_over(total, cap),
        show_value=total,
        limit_value=cap,
    )


def _too_large_file(size: int, cap: int) -> ValidationError:
    return _error(
        "image_too_large_file",
        size=_number(size),
        limit=_number(cap),
        over=_over(size, cap),
        show_value=size,
        limit_value=cap,
    )


def _unreadable(data: bytes, allowed: tuple[str, ...]) -> ValidationError:
    shown = ", ".join(allowed)
    found = _other_format(data, allowed)
    if found is not None:
        return _error("image_format_not_allowed", format=found, allowed=shown, show_value=found)
    return _error("image_unreadable", allowed=shown)


def _other_format(data: bytes, allowed: tuple[str, ...]) -> str | None:
    """The format Pillow's signature tests see in ``data``, when no allowed one does.

    Only the prefix tests run (the same 16 bytes ``Image.open`` checks): nothing is parsed, so
    naming a refused format costs no risk of opening it.
    """
    from PIL import Image

    Image.init()
    prefix = data[:16]
    found = None
    for name, (_factory, accept) in Image.OPEN.items():
        if accept is None:
            continue
        try:
            result = accept(prefix)
        except Exception:  # a plugin's signature test on odd bytes: no verdict
            continue
        if not result or isinstance(result, str):
            continue
        if name in allowed:
            return None  # an allowed format's signature: damaged, not refused
        found = found or name
    return found


def _number(value: int) -> str:
    return number_format(value, force_grouping=True)


def _over(value: int, cap: int) -> str:
    """How far ``value`` is above ``cap``, in whole percent, rounded up (never "0% over")."""
    return _number(-(-(value - cap) * 100 // max(cap, 1)))  # integer ceiling: exact


def _error(code: str, message: str | None = None, **params: Any) -> ValidationError:
    return ValidationError(MESSAGES[message or code], code=code, params=params)

"""A source's size when it is known without reading the source: what predictions start from.

Predicted records (the optimistic strategy, the ``"predict"`` store fallback) carry the size
the engine will make, computed from the spec and the source's size. That size is taken only
from what is already in memory, best first:

1. the manifest column of a thumbkit ``ImageField`` (``manifest_field``): the source's
   *oriented* size (after EXIF rotation, as the engines see it), measured from the upload's
   header when the file was saved through the field;
2. the field's ``width_field``/``height_field`` values on the instance, or the size Django
   already measured for the file object: the *stored* size. Django measures it without EXIF
   rotation, so for a JPEG with orientation 5-8 it is the wrong way round. It is marked
   ``oriented=False`` and used only when the prediction is the same both ways round.

Anything else (a bare name, a deferred column, an old manifest) is not known: a guessed size
would distort the image, so predictions then leave the size out.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile

from ..core import probe
from .manifest import manifest_size
from .source import Source

Size = tuple[int, int]

SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Known:
    """A source size known without I/O; ``oriented``: EXIF rotation is already applied."""

    size: Size
    oriented: bool


def known_size(source: Source) -> Known | None:
    """The source's size from its row or file object, without any I/O (None: not known)."""
    origin = source.origin
    field = getattr(origin, "field", None)
    instance = getattr(origin, "instance", None)
    if field is not None and instance is not None:
        found = _from_manifest(field, instance, source) or _from_dimension_fields(field, instance)
        if found is not None:
            return found
    return _measured_by_django(origin)


def _from_manifest(field: Any, instance: Any, source: Source) -> Known | None:
    column = getattr(field, "manifest_field", None)
    if not column or column not in instance.__dict__:
        return None  # no manifest, or a deferred column (reading it would cost a query)
    size = manifest_size(instance.__dict__[column], _source_key(source))
    return Known(size, oriented=True) if size is not None else None


def _source_key(source: Source) -> str:
    from .keys import source_key

    return source_key(source)


def _from_dimension_fields(field: Any, instance: Any) -> Known | None:
    names = (getattr(field, "width_field", None), getattr(field, "height_field", None))
    if not all(names) or not all(name in instance.__dict__ for name in names):
        return None
    return _known(tuple(instance.__dict__[name] for name in names))


def _measured_by_django(origin: Any) -> Known | None:
    # ImageFile.width/height cache what get_image_dimensions() read, in this attribute.
    return _known(getattr(origin, "_dimensions_cache", None))


def _known(value: Any) -> Known | None:
    if not isinstance(value, tuple | list) or len(value) != 2:
        return None
    width, height = value
    if not (_positive(width) and _positive(height)):
        return None
    return Known((int(width), int(height)), oriented=False)


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# --- measuring an upload --------------------------------------------------------------------


def measure(content: Any) -> Size | None:
    """The oriented size of an image file, from its header (no pixel decoded); None if unsure.

    Run at upload on the content being saved (in memory or a temporary file). The orientation
    is read as the Pillow engine reads it; a PNG whose EXIF chunk may come after the pixel
    data (the engine sees it only after decoding) is left unmeasured rather than guessed.
    """
    try:
        return _measure(content)
    except Exception:  # a file Pillow cannot parse: the size stays unknown, nothing else
        return None
    finally:
        _rewind(content)


def _measure(content: Any) -> Size | None:
    _rewind(content)
    with warnings.catch_warnings():
        # Only the header is read; LIMITS (not Pillow's bomb guard) decide about big images.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(content) as image:
            width, height = image.size
            orientation = _orientation(image, content)
    if orientation is None or width <= 0 or height <= 0:
        return None
    return (height, width) if orientation in SWAPPING_ORIENTATIONS else (width, height)


def _orientation(image: ImageFile.ImageFile, content: Any) -> int | None:
    if image.format == "PNG" and "exif" not in image.info and _has_chunk(content, b"eXIf"):
        # An eXIf chunk after the pixel data: the engine sees it only once it has decoded.
        return None
    return probe.orientation(image)  # the engines' own reading of the header


def _has_chunk(content: Any, marker: bytes) -> bool:
    """Whether ``marker`` occurs in the file (a false match only leaves the size unknown)."""
    _rewind(content)
    tail = b""
    while block := content.read(_CHUNK):
        data = tail + (block if isinstance(block, bytes) else bytes(block))
        if marker in data:
            return True
        tail = data[-(len(marker) - 1) :]
    return False


def _rewind(content: Any) -> None:
    seek = getattr(content, "seek", None)
    if callable(seek):
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            seek(0)

"""The one exception hierarchy of thumbkit.

Every error thumbkit raises on purpose derives from :class:`ThumbkitError`; errors from
Pillow, pyvips, storages and redis-py are caught at the boundary and re-raised as one of
these, with the original kept as ``__cause__``::

    ThumbkitError
    ├── ConfigurationError      (also django.core.exceptions.ImproperlyConfigured)
    ├── InvalidSpec             (also ValueError): a programming error, never degraded
    │   ├── OutputTooLarge      the requested output breaks LIMITS
    │   ├── SizeNotAllowed      the size is not in SIZES_ALLOWED (the on-demand endpoint)
    │   └── InvalidFocalPoint   a focal point outside 0..1, or not a point at all
    ├── SourceError             the source is the problem; templates degrade on these
    │   ├── SourceMissing       no file, empty field, storage says it is not there
    │   ├── SourceUnreadable    truncated, empty, not an image, format not allowed
    │   └── SourceTooLarge      pixels, frames or bytes above LIMITS (checked from the header)
    ├── GenerationError         encoding or writing failed
    │   └── StorageError        the storage refused a read or write
    ├── StoreError              the metadata store failed
    │   └── StoreUnavailable    it could not be reached or did not answer in time
    └── LockTimeout             another process held the generation lock too long
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "ConfigurationError",
    "GenerationError",
    "InvalidFocalPoint",
    "InvalidSpec",
    "LockTimeout",
    "OutputTooLarge",
    "SizeNotAllowed",
    "SourceError",
    "SourceMissing",
    "SourceTooLarge",
    "SourceUnreadable",
    "StorageError",
    "StoreError",
    "StoreUnavailable",
    "ThumbkitError",
    "did_you_mean",
]


class ThumbkitError(Exception):
    """Base class of every error thumbkit raises."""


class ConfigurationError(ThumbkitError, ImproperlyConfigured):
    """THUMBKIT settings, a store or an engine are misconfigured."""


class InvalidSpec(ThumbkitError, ValueError):
    """A geometry string, named spec or option is not valid."""


class OutputTooLarge(InvalidSpec):
    """The requested output is larger than LIMITS allows."""


class SizeNotAllowed(InvalidSpec):
    """A spec's geometry is not in ``THUMBKIT["SIZES_ALLOWED"]`` (on-demand thumbnails)."""


class InvalidFocalPoint(InvalidSpec):
    """A focal point (or its box) is not a pair of fractions from 0 to 1."""


class SourceError(ThumbkitError):
    """The source image cannot be used. Templates render their fallback for these."""

    # Django's template engine renders a variable whose lookup raises this as empty, so
    # ``{{ p.photo.thumbnails.small.url }}`` on an empty or broken photo degrades.
    silent_variable_failure = True


class SourceMissing(SourceError):
    """The source does not exist (empty field, deleted file)."""


class SourceUnreadable(SourceError):
    """The source is not a decodable image of an allowed format."""


class SourceTooLarge(SourceError):
    """The source is above a LIMITS cap (pixels, frames or bytes)."""


class GenerationError(ThumbkitError):
    """Encoding or storing a thumbnail failed."""


class StorageError(GenerationError):
    """The storage failed to read or write a file."""


class StoreError(ThumbkitError):
    """The metadata store failed or timed out."""


class StoreUnavailable(StoreError):
    """The metadata store could not be reached or did not answer in time.

    Pages render the ``STORE_FALLBACK`` for these (``ON_STORE_ERROR = "fallback"``, the
    default); other store errors, such as a missing table, always raise.
    """


class LockTimeout(ThumbkitError):
    """Waited too long for another process to finish generating a thumbnail."""


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` Did you mean 'small'?`` for a misspelt name, or ``""`` when nothing is close.

    Appended to the messages of unknown settings keys, spec names, options and declared
    thumbnails, so a typo names its fix.
    """
    if not isinstance(word, str):
        return ""
    names = list(dict.fromkeys(c for c in choices if isinstance(c, str)))
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if not close:
        # Case slips ("Small", "store") are typos too, however short the word.
        close = [c for c in names if c.lower() == word.lower()][:1]
    if not close:
        return ""
    return f" Did you mean {close[0]!r}?"

"""Keys and names: pure functions of (source identity, canonical spec) and a scheme version.

The key scheme is versioned so a future change never silently orphans every thumbnail
(sorl-thumbnail #805): ``KEY_VERSION`` is part of every key, and a golden test pins the output.
"""

from __future__ import annotations

import functools
import hashlib
import posixpath
import re
import unicodedata
from collections.abc import Callable
from typing import cast

from django.utils.module_loading import import_string

from ..core.spec import Spec
from ..exceptions import ConfigurationError
from .source import Source

KEY_VERSION = "1"
STEM_MAX = 40
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "AVIF": "avif", "GIF": "gif"}

Namer = Callable[[Source, Spec, str, str, str], str]

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def source_key(source: Source) -> str:
    """The key of a source: the index every store keeps its thumbnails under.

    It leaves the version out, so every version's records (and the version record itself)
    sit under one index, found in one read.
    """
    return _digest(f"thumbkit-source:{KEY_VERSION}\0{source.location}")


def thumbnail_key(source: Source, spec: Spec) -> str:
    return key_for(source.identity, spec)


def key_for(identity: str, spec: Spec) -> str:
    """``thumbnail_key`` from a source identity string (``Source.identity``)."""
    return _digest(f"thumbkit:{KEY_VERSION}\0{identity}\0{spec.canonical}")


def default_name(source: Source, spec: Spec, key: str, fmt: str, prefix: str) -> str:
    """``<prefix>/<k0k1>/<k2k3>/<stem>-<key[:16]>.<ext>``: readable, bounded, storage-safe."""
    name = f"{key[:2]}/{key[2:4]}/{safe_stem(source.name)}-{key[:16]}.{extension(fmt)}"
    # An empty prefix must not turn the name into an absolute path.
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def hash_name(source: Source, spec: Spec, key: str, fmt: str, prefix: str) -> str:
    """``<prefix>/<k0k1>/<k2k3>/<key>.<ext>``: imagekit's ``hash`` namer, nothing readable."""
    return _prefixed(prefix, f"{key[:2]}/{key[2:4]}/{key}.{extension(fmt)}")


def source_name_as_path(source: Source, spec: Spec, key: str, fmt: str, prefix: str) -> str:
    """``<prefix>/<source dir>/<source stem>/<key[:16]>.<ext>``: imagekit's default namer."""
    return _prefixed(prefix, f"{_safe_path(source.name)}/{key[:16]}.{extension(fmt)}")


def source_name_dot_hash(source: Source, spec: Spec, key: str, fmt: str, prefix: str) -> str:
    """``<prefix>/<source dir>/<source stem>.<key[:12]>.<ext>``: imagekit's third namer."""
    return _prefixed(prefix, f"{_safe_path(source.name)}.{key[:12]}.{extension(fmt)}")


NAMERS: dict[str, Namer] = {
    "default": default_name,
    "hash": hash_name,
    "source_name_as_path": source_name_as_path,
    "source_name_dot_hash": source_name_dot_hash,
}


def get_namer(name: str) -> Namer:
    """A namer by its short name (``NAMERS``) or the dotted path of a function like them."""
    namer = NAMERS.get(name)
    if namer is not None:
        return namer
    try:
        found = import_string(name)
    except ImportError as exc:
        raise ConfigurationError(
            f"Unknown namer {name!r}: use one of {', '.join(NAMERS)} or a dotted path ({exc})."
        ) from None
    if not callable(found):
        raise ConfigurationError(f"The namer {name!r} is not callable.")
    return cast(Namer, found)


def _prefixed(prefix: str, name: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def _safe_path(name: str) -> str:
    # Every directory reduced like a stem, so a source name can never climb out of the prefix.
    parts = posixpath.splitext(name.replace("\\", "/"))[0].split("/")
    kept = "/".join(safe_stem(part) for part in parts if part not in ("", ".", ".."))
    # A name of nothing but separators and dots must not leave an empty directory ("//").
    return kept or "image"


def renamed(name: str, fmt: str) -> str:
    """``name`` with the extension of ``fmt`` (``avatars/me.png`` + JPEG -> ``avatars/me.jpg``)."""
    return f"{posixpath.splitext(name)[0]}.{extension(fmt)}"


def extension(fmt: str) -> str:
    return EXTENSIONS[fmt]


def safe_stem(name: str) -> str:
    """The source file's stem reduced to ``[a-z0-9_-]``, at most STEM_MAX characters."""
    stem = posixpath.splitext(posixpath.basename(name.replace("\\", "/")))[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("-", ascii_stem.lower()).strip("-_")
    return cleaned[:STEM_MAX].rstrip("-_") or "image"


@functools.lru_cache(maxsize=16384)
def _digest(text: str) -> str:
    # 128 bits: collisions are out of reach and names stay short. Cached: a page asks for
    # the same few keys several times per thumbnail, and a dict hit is cheaper than SHA-256.
    return hashlib.sha256(text.encode()).hexdigest()[:32]

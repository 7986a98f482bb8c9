"""A file field's manifest column: its source's records and oriented size, as JSON.

Written by the adapters (``lifecycle``, the repair and delete commands), read by the lookup
(``batch``: records without a store read; ``sourcesize``: the size without opening the file).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .thumbnail import Thumbnail

MANIFEST_VERSION = 1


def to_manifest(
    src_key: str, records: Iterable[Thumbnail] | None, size: tuple[int, int] | None = None
) -> dict[str, Any]:
    """A manifest column's value: the source's records, and its oriented size if known.

    ``records=None`` writes the size alone (an upload, before its thumbnails are made): such
    a manifest says nothing about records, so lookups still ask the store.
    """
    manifest: dict[str, Any] = {"v": MANIFEST_VERSION, "source": src_key}
    if records is not None:
        manifest["records"] = [r.to_dict() for r in sorted(records, key=lambda r: r.key)]
    if size is not None:
        manifest["size"] = [size[0], size[1]]  # added later: older readers ignore it
    return manifest


def from_manifest(value: Any, src_key: str) -> dict[str, Thumbnail] | None:
    """The records in a manifest column, or None when it does not describe this source's
    records (another source, or a manifest that holds only the size)."""
    if not _describes(value, src_key) or "records" not in value:
        return None
    try:
        return {r["key"]: Thumbnail.from_dict(r) for r in value["records"]}
    except (KeyError, TypeError):
        return None


def manifest_size(value: Any, src_key: str) -> tuple[int, int] | None:
    """The source's oriented size kept in a manifest column, or None (not there, or not
    this source's: manifests written before sizes were kept have none)."""
    if not _describes(value, src_key):
        return None
    size = value.get("size")
    if not isinstance(size, list) or len(size) != 2:
        return None
    if not all(type(side) is int and side > 0 for side in size):
        return None
    return size[0], size[1]


def _describes(value: Any, src_key: str) -> bool:
    if not isinstance(value, dict) or value.get("v") != MANIFEST_VERSION:
        return False
    return bool(value.get("source") == src_key)

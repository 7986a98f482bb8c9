"""Format negotiation for ``format=auto`` specs on the on-demand endpoint.

The endpoint answers a request's ``Accept`` header with AVIF, then WebP, then ``AUTO``
itself (a format every browser shows: the source's JPEG, PNG or GIF, else PNG or JPEG).
AVIF and WebP count only when the header names them: browsers that cannot show them still
send ``image/*`` and ``*/*``, so a wildcard never picks a modern format. Among the formats
a header takes (q > 0), the one it prefers wins (the highest q); on a tie, thumbkit's order
(AVIF, WebP, AUTO). A header without any acceptable image format still gets AUTO: an image
the browser may show beats a 406 nobody sees.
"""

from __future__ import annotations

from ..core.spec import AUTO

# Longer headers are read up to here, and at most this many media ranges: enough for any
# browser's, bounded for anyone else's.
MAX_HEADER = 2048
MAX_RANGES = 64
# The types AUTO may answer with.
UNIVERSAL_TYPES = ("image/jpeg", "image/png", "image/gif")
ORDER = (("AVIF", "image/avif"), ("WEBP", "image/webp"))


def media_ranges(header: str | None) -> dict[str, float]:
    """``{"image/avif": 1.0, "*/*": 0.8, ...}`` from an Accept header (lower case); a range
    given twice keeps its highest q, and one with a malformed q is ignored (RFC 9110)."""
    ranges: dict[str, float] = {}
    for item in (header or "")[:MAX_HEADER].split(",")[:MAX_RANGES]:
        media, *params = (part.strip() for part in item.split(";"))
        media = media.lower()
        if media.count("/") != 1:
            continue
        q = _quality(params)
        if q is not None:
            ranges[media] = max(q, ranges.get(media, 0.0))
    return ranges


def _quality(params: list[str]) -> float | None:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
            return q if 0.0 <= q <= 1.0 else None
    return 1.0


def _matched(ranges: dict[str, float], media: str) -> float:
    """The q of the most specific range that matches ``media`` (0: none matches)."""
    kind = media.split("/")[0]
    for candidate in (media, f"{kind}/*", "*/*"):
        if candidate in ranges:
            return ranges[candidate]
    return 0.0


def choose(header: str | None) -> str:
    """``"AVIF"``, ``"WEBP"`` or ``AUTO`` for the request's Accept header."""
    ranges = media_ranges(header)
    offers = [(ranges.get(media, 0.0), fmt) for fmt, media in ORDER]
    offers.append((max(_matched(ranges, media) for media in UNIVERSAL_TYPES), AUTO))
    best_q = max(q for q, _ in offers)
    if best_q <= 0.0:
        return AUTO
    return next(fmt for q, fmt in offers if q == best_q)

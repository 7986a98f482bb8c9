"""Specs: what to make from a source, parsed and validated once, with one canonical text form.

Grammar (sorl-thumbnail's geometry, plus options)::

    spec      := NAME | geometry (" " option)*
    geometry  := W "x" H | W | "x" H            (positive integers)
    option    := key "=" value | flag           (flag: "crop" = crop=center, "upscale", ...)

The geometry ``original`` keeps the source's size, for specs whose processors do the
resizing (imagekit's style). Options: crop (center, top, bottom, left, right, "X Y" with X/Y
in %, px or keywords, focal, smart, noop), focal (a focal point "x,y" or
"x,y,left,top,right,bottom", fractions of the source; see ``thumbkit.core.focal``), upscale,
quality (1-100), format (JPEG, PNG, WEBP, AVIF, GIF, or AUTO: see below), progressive,
padding, padding_color (#rgb/#rrggbb), background (#rgb/#rrggbb, for flattening
transparency), colorspace (RGB, GRAY), animated (true, the default: an animated source gives
an animated GIF, WebP or PNG; false: its first frame), storage (a STORAGES alias), strategy
and namer. Keyword options given to ``get_thumbnail`` use the same names, plus
``processors`` and ``post_processors`` (lists; see ``thumbkit.core.pipeline``), which are
also accepted in named specs.

``format=auto`` asks for the best format the browser takes. The on-demand endpoint
negotiates it from the request's ``Accept`` header (AVIF, then WebP, then AUTO itself), and
each answer is its own stored thumbnail. Wherever nothing negotiates (a lazy lookup, a task),
AUTO is a format every browser shows: the source's when it is JPEG, PNG or GIF, else PNG for
an image with transparency and JPEG for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from ..exceptions import InvalidFocalPoint, InvalidSpec, did_you_mean
from .focal import FocalPoint, to_focal
from .pipeline import load_steps, steps_text

GRAMMAR = (
    'a named spec from THUMBKIT["SPECS"] or a geometry "WxH", "W" or "xH" followed by '
    "options key=value (crop, focal, upscale, quality, format, progressive, padding, "
    "padding_color, background, colorspace, animated)"
)

FORMATS = ("JPEG", "PNG", "WEBP", "AVIF", "GIF")
# Not an encoder: negotiated per request by the on-demand endpoint, else UNIVERSAL_FORMATS.
AUTO = "AUTO"
# What every browser shows; AUTO keeps a source in one of these (MPO is a JPEG).
UNIVERSAL_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "GIF": "GIF"}
FORMAT_ALIASES = {"JPG": "JPEG"}
COLORSPACES = ("RGB", "GRAY")
DEFAULT_PADDING_COLOR = "#ffffff"
FLAGS = {"crop": "center", "upscale": True, "progressive": True, "padding": True}
# The geometry of a spec that keeps the source's size (processors do the work).
ORIGINAL = "original"
# The centre crop: the one a focal point moves (crop="focal" is its other name).
CENTER = "50%,50%"

# At most this many digits per number: 999999 px is far above any output cap, and a bound
# keeps int() away from Python's 4300-digit conversion limit (a ValueError, not InvalidSpec).
MAX_DIGITS = 6
# Longer spec text is refused before it is split, and error messages quote only its start.
MAX_SPEC_LENGTH = 1000
_QUOTED = 80

# ASCII digits only ([0-9], not \d): int() would accept full-width and other Unicode digits.
# Matched with fullmatch: "$" would also accept a trailing newline.
_GEOMETRY = re.compile(r"(?P<w>[0-9]+)?(?:x(?P<h>[0-9]+))?")
_OFFSET = re.compile(r"(?P<value>[0-9]+)(?P<unit>%|px)")
_COLOR = re.compile(r"#?(?P<hex>[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_X_WORDS = {"left": "0%", "center": "50%", "right": "100%"}
_Y_WORDS = {"top": "0%", "center": "50%", "bottom": "100%"}
CROP_CHOICES = (
    'crop takes "center", "top", "bottom", "left", "right", "smart", a pair such as '
    '"left top", or offsets "N%" or "Npx" ("50% 25%", "10px 0px")'
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", "none"}


@dataclass(frozen=True, eq=False)
class Spec:
    """A validated spec. Build one with :func:`parse`; compares and hashes by canonical text."""

    width: int | None
    height: int | None
    crop: str | None = None  # "50%,50%", "10px,0%", "smart"; None: fit inside
    # Only with the centre crop (parse() drops it elsewhere): the crop window follows it.
    focal: FocalPoint | None = None
    upscale: bool = False
    quality: int | None = None
    format: str | None = None  # None: keep the source's format when web-safe; AUTO: negotiated
    progressive: bool | None = None
    padding: bool = False
    padding_color: str = DEFAULT_PADDING_COLOR
    background: str | None = None
    colorspace: str | None = None
    # An animated source (GIF, WebP, APNG) makes an animated output when the output format
    # can hold one (GIF, WebP, PNG); False takes the first frame. Only False is canonical,
    # so the keys of specs written before the option existed are unchanged.
    animated: bool = True
    # Pillow-image processors run after the geometry; post-processors on the encoded bytes.
    processors: tuple[Any, ...] = field(default=(), repr=False)
    post_processors: tuple[Any, ...] = field(default=(), repr=False)
    # The STORAGES alias for the files (None: THUMBKIT["STORAGE"]); part of the key, since
    # the same spec on two storages makes two files.
    storage: str | None = None
    # How misses are served and how files are named: neither changes the pixels, so they
    # are not part of the canonical text (a spec moved to another strategy keeps its files).
    strategy: str | None = None
    namer: str | None = None
    # A JSON reference that rebuilds this spec in another process (a task worker, the
    # on-demand endpoint); see ``thumbkit.lookup.refs``. Not canonical: it says where, not what.
    ref: str | None = field(default=None, repr=False)

    @property
    def has_geometry(self) -> bool:
        """False for processors-only specs (imagekit's ImageSpec): the source size is kept."""
        return self.width is not None or self.height is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and other.canonical == self.canonical

    def __hash__(self) -> int:
        return hash(self.canonical)

    @property
    def geometry(self) -> str:
        if not self.has_geometry:
            return ORIGINAL
        if self.height is None:
            return str(self.width)
        if self.width is None:
            return f"x{self.height}"
        return f"{self.width}x{self.height}"

    @cached_property
    def canonical(self) -> str:
        """The one text form of this spec: equal specs give equal text, and equal keys."""
        parts = [self.geometry]
        for key, value in sorted(self._options().items()):
            parts.append(f"{key}={value}")
        return " ".join(parts)

    def _options(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.crop is not None:
            out["crop"] = self.crop
        if self.focal is not None:
            out["focal"] = self.focal.text
        if self.upscale:
            out["upscale"] = "true"
        if self.quality is not None:
            out["quality"] = str(self.quality)
        if self.format is not None:
            out["format"] = self.format.lower()
        if self.progressive is not None:
            out["progressive"] = str(self.progressive).lower()
        if self.padding:
            out["padding"] = "true"
            out["padding_color"] = self.padding_color
        if self.background is not None:
            out["background"] = self.background
        if self.colorspace is not None:
            out["colorspace"] = self.colorspace.lower()
        if not self.animated:
            out["animated"] = "false"
        if self.processors:
            out["processors"] = steps_text(self.processors)
        if self.post_processors:
            out["post_processors"] = steps_text(self.post_processors)
        if self.storage is not None:
            out["storage"] = self.storage
        return out

    def crop_offsets(self) -> tuple[str, str] | None:
        """The crop as (x, y) offsets like ("50%", "10px"), or None for no/smart crop."""
        if self.crop is None or self.crop == "smart":
            return None
        x, y = self.crop.split(",")
        return x, y

    def __str__(self) -> str:
        return self.canonical


def unfocused(canonical: str) -> str:
    """A canonical text without its focal point: what a spec is whatever point it follows."""
    return " ".join(part for part in canonical.split(" ") if not part.startswith("focal="))


def parse(spec: str | Spec, **options: Any) -> Spec:
    """Parse a geometry string or named spec, with keyword options on top.

    Raises :class:`InvalidSpec` naming the grammar for anything that does not parse.
    """
    parsed = _parse(spec, options)
    if not parsed.padding and parsed.padding_color != DEFAULT_PADDING_COLOR:
        # Unused without padding: it must not make a second spec (and a second file).
        parsed = replace(parsed, padding_color=DEFAULT_PADDING_COLOR)
    return with_focal(parsed, parsed.focal)


def with_focal(spec: Spec, point: FocalPoint | None) -> Spec:
    """``spec`` following ``point`` (None: no point).

    Only the centre crop follows a point: for a spec that does not crop, or crops at an
    explicit offset or by entropy, the point changes no pixel, so it is dropped and the
    spec keeps its key and its files.
    """
    if spec.crop != CENTER:
        point = None
    return spec if spec.focal == point else replace(spec, focal=point)


def _parse(spec: str | Spec, options: Mapping[str, Any]) -> Spec:
    if isinstance(spec, Spec):
        return _apply(spec, options, spec.canonical) if options else spec
    if not isinstance(spec, str) or not spec.strip():
        raise invalid(spec, "not a geometry or a spec name")
    if len(spec) > MAX_SPEC_LENGTH:
        raise invalid(spec, f"longer than {MAX_SPEC_LENGTH} characters")
    text = spec.strip()
    base = _named(text)
    if base is None:
        head, *tokens = text.split()
        base = Spec(*_geometry(head, text))
        base = _apply(base, _tokens(tokens, text), text)
    return _apply(base, options, text) if options else base


def invalid(text: object, problem: str) -> InvalidSpec:
    """The one error for bad specs: what was wrong, and the grammar that would be right."""
    return InvalidSpec(f"Invalid spec {_quoted(text)}: {problem}; expected {GRAMMAR}.")


def _quoted(text: object) -> str:
    # A hostile spec may be kilobytes long: quote its start, not all of it, in logs and pages.
    if isinstance(text, str) and len(text) > _QUOTED:
        return f"{text[:_QUOTED]!r}... ({len(text)} characters)"
    return repr(text)


def number(digits: str, what: str) -> int:
    """An ASCII digit string as an int, at most MAX_DIGITS long (ValueError otherwise)."""
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{what} must be written with the digits 0-9")
    if len(digits) > MAX_DIGITS:
        raise ValueError(
            f"{what} has {len(digits)} digits; numbers have at most {MAX_DIGITS} digits"
        )
    return int(digits)


def _named(name: str) -> Spec | None:
    # THUMBKIT["SPECS"] only: which name wins over which (a field's declared thumbnail, a
    # generator id) is thumbkit.lookup.resolver's decision, made above this layer.
    from ..conf import get_settings

    specs = get_settings().specs
    if name not in specs:
        return None
    value = specs[name]
    if isinstance(value, str):
        if value.strip() in specs:
            raise invalid(name, f"THUMBKIT['SPECS'][{name!r}] refers to another name {value!r}")
        return _named_part(name, value, {})
    if isinstance(value, Mapping):
        options = dict(value)
        size = options.pop("size", ORIGINAL if options.get("processors") else None)
        if not isinstance(size, str):
            raise invalid(
                name, f"THUMBKIT['SPECS'][{name!r}] needs a 'size' geometry string or processors"
            )
        return _named_part(name, size, options)
    raise invalid(name, f"THUMBKIT['SPECS'][{name!r}] must be a string or a dict, not {value!r}")


def _named_part(name: str, text: str, options: Mapping[str, Any]) -> Spec:
    try:
        return _parse(text, options)
    except InvalidSpec as exc:
        raise InvalidSpec(f"In THUMBKIT['SPECS'][{name!r}]: {exc}") from None


def _geometry(head: str, text: str) -> tuple[int | None, int | None]:
    if head == ORIGINAL:
        return None, None
    match = _GEOMETRY.fullmatch(head)
    if not match or not (match["w"] or match["h"]):
        raise invalid(text, f"{_quoted(head)} is not a geometry or a spec name")
    try:
        width = number(match["w"], "the width") if match["w"] else None
        height = number(match["h"], "the height") if match["h"] else None
    except ValueError as exc:
        raise invalid(text, str(exc)) from None
    if width == 0 or height == 0:
        raise invalid(text, "width and height must be positive")
    return width, height


def _tokens(tokens: list[str], text: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            if key not in FLAGS:
                hint = did_you_mean(key, [*FLAGS, *_CLEANERS])
                raise invalid(text, f"unknown flag {_quoted(key)}.{hint} Flags: {', '.join(FLAGS)}")
            options[key] = FLAGS[key]
        else:
            # Commas stand for the space of two-part crops inside a spec string.
            options[key] = value.replace(",", " ") if key == "crop" else value
    return options


def _apply(base: Spec, options: Mapping[str, Any], text: str) -> Spec:
    changes: dict[str, Any] = {}
    for key, value in options.items():
        cleaner = _CLEANERS.get(key)
        if cleaner is None:
            hint = did_you_mean(key, _CLEANERS)
            raise invalid(
                text, f"unknown option {_quoted(key)}.{hint} Options: {', '.join(_CLEANERS)}"
            )
        try:
            changes[key] = cleaner(value)
        except InvalidFocalPoint as exc:
            problem = f"option {key}={_quoted(value)}: {str(exc).rstrip('.')}"
            raise InvalidFocalPoint(str(invalid(text, problem))) from None
        except (TypeError, ValueError) as exc:
            raise invalid(text, f"option {key}={_quoted(value)}: {exc}") from None
    return replace(base, **changes)


def _clean_crop(value: Any) -> str | None:
    if value is None or value is False or value in ("", "noop"):
        return None
    if value is True:
        value = "center"
    text = _ascii(value).strip().lower().replace(",", " ")
    if text == "smart":
        return "smart"
    if text == "focal":
        return CENTER  # the centre crop follows a focal point whenever there is one
    parts = text.split()
    if len(parts) == 1:
        word = parts[0]
        if word in _X_WORDS:
            x, y = _X_WORDS[word], "50%"
        elif word in _Y_WORDS:
            x, y = "50%", _Y_WORDS[word]
        else:
            x = y = word
    elif len(parts) == 2:
        x = _X_WORDS.get(parts[0], parts[0])
        y = _Y_WORDS.get(parts[1], parts[1])
    else:
        raise ValueError(f"{text!r} has more than two crop offsets; {CROP_CHOICES}")
    for offset in (x, y):
        match = _OFFSET.fullmatch(offset)
        if not match:
            hint = did_you_mean(offset, [*_X_WORDS, *_Y_WORDS, "smart"])
            raise ValueError(f"{offset!r} is not a crop offset.{hint} {CROP_CHOICES}")
        number(match["value"], "a crop offset")
    return f"{x},{y}"


def _clean_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _ascii(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("expected true or false")


def _clean_quality(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("quality is a whole number from 1 to 100")
    quality = value if isinstance(value, int) else number(value.strip(), "quality")
    if not 1 <= quality <= 100:
        raise ValueError("quality must be between 1 and 100")
    return quality


def _clean_format(value: Any) -> str | None:
    if value is None:
        return None
    name = _ascii(value).strip().upper()
    name = FORMAT_ALIASES.get(name, name)
    if name not in FORMATS and name != AUTO:
        raise ValueError(f"format must be one of {', '.join(FORMATS)} or AUTO")
    return name


def clean_color(value: Any) -> str:
    match = _COLOR.fullmatch(str(value).strip())
    if not match:
        raise ValueError("colors are #rgb or #rrggbb")
    digits = match["hex"].lower()
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return f"#{digits}"


def _clean_optional_color(value: Any) -> str | None:
    return None if value is None else clean_color(value)


def _clean_colorspace(value: Any) -> str | None:
    if value is None:
        return None
    name = _ascii(value).strip().upper()
    if name not in COLORSPACES:
        raise ValueError("colorspace must be RGB or GRAY")
    return name


def _ascii(value: Any) -> str:
    # Keywords are ASCII: case mapping would otherwise turn "g\u0131f" (dotless i) into "GIF".
    text = str(value)
    if not text.isascii():
        raise ValueError("expected an ASCII keyword")
    return text


def _clean_name(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or " " in value.strip():
        raise ValueError(f"expected {what} without spaces")
    return value.strip()


def _clean_progressive(value: Any) -> bool | None:
    return None if value is None else _clean_bool(value)


_CLEANERS: dict[str, Any] = {
    "crop": _clean_crop,
    "focal": to_focal,
    "upscale": _clean_bool,
    "quality": _clean_quality,
    "format": _clean_format,
    "progressive": _clean_progressive,
    "padding": _clean_bool,
    "padding_color": clean_color,
    "background": _clean_optional_color,
    "colorspace": _clean_colorspace,
    "animated": _clean_bool,
    "processors": lambda value: load_steps(value, "processor"),
    "post_processors": lambda value: load_steps(value, "post-processor"),
    "storage": lambda value: _clean_name(value, "a STORAGES alias"),
    "strategy": lambda value: _clean_name(value, "a strategy name"),
    "namer": lambda value: _clean_name(value, "a namer name or dotted path"),
}

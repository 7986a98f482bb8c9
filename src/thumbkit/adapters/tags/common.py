"""Argument parsing and the shared render steps of every thumbkit tag."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django import template
from django.template.base import FilterExpression, Parser
from django.template.context import Context

from ...exceptions import LockTimeout, SourceError, StorageError
from ...lookup import failures
from ...lookup.thumbnail import Placeholder, Thumbnail, secured
from ..html import img_tag

logger = logging.getLogger("thumbkit")

Kwargs = dict[str, FilterExpression]
Result = Thumbnail | Placeholder
T = TypeVar("T")

# Keys the tags take for themselves; everything else goes to the spec or the generator.
FORCE_SSL = "force_ssl"
PLACEHOLDER = "placeholder"
PLACEHOLDER_MODES = ("color", "thumbhash")

_ATTR = re.compile(r"^[A-Za-z_][\w:.-]*$")
# Where positional arguments end: the first bit that looks like name=value.
_OPTION = re.compile(r"^[A-Za-z_]\w*=")


@dataclass
class Bits:
    """A tag's arguments: positional bits, ``name=value`` options, ``-- attrs``, ``as var``."""

    tag: str
    args: list[FilterExpression] = field(default_factory=list)
    raw_args: list[str] = field(default_factory=list)
    options: Kwargs = field(default_factory=dict)
    attrs: Kwargs = field(default_factory=dict)
    var: str | None = None
    has_attrs: bool = False


def split_bits(parser: Parser, bits: list[str]) -> Bits:
    """Split ``tag arg... name=value... [-- attr=value...] [as var]``."""
    out = Bits(tag=bits[0])
    rest = bits[1:]
    if len(rest) >= 2 and rest[-2] == "as":
        out.var, rest = rest[-1], rest[:-2]
    if "--" in rest:
        cut = rest.index("--")
        out.attrs = parse_kwargs(parser, rest[cut + 1 :], out.tag, html=True)
        out.has_attrs, rest = True, rest[:cut]
        if out.var is not None:
            raise template.TemplateSyntaxError(
                f"{out.tag}: html attributes (--) and 'as {out.var}' do not go together."
            )
    while rest and not _OPTION.match(rest[0]):
        out.raw_args.append(rest[0])
        out.args.append(parser.compile_filter(rest.pop(0)))
    out.options = parse_kwargs(parser, rest, out.tag)
    return out


def parse_kwargs(parser: Parser, bits: list[str], tag: str, html: bool = False) -> Kwargs:
    kwargs: Kwargs = {}
    for bit in bits:
        name, sep, value = bit.partition("=")
        valid = _ATTR.match(name) if html else name.isidentifier()
        if not sep or not valid:
            raise template.TemplateSyntaxError(f"{tag}: expected name=value, got {bit!r}.")
        kwargs[name] = parser.compile_filter(value)
    return kwargs


def resolve_kwargs(kwargs: Kwargs, context: Context) -> dict[str, Any]:
    return {name: value.resolve(context) for name, value in kwargs.items()}


def pop_https(context: Context, options: dict[str, Any]) -> bool:
    """Whether URLs must be https: ``force_ssl=True`` on the tag, or a secure request.

    THUMBKIT["FORCE_SSL"] is applied to every URL already (``Thumbnail.url``); the request
    is only known here, from the ``request`` context variable (Django's request context
    processor puts it there).
    """
    if options.pop(FORCE_SSL, False):
        return True
    return request_is_secure(context)


_SECURE = "thumbkit:secure"  # render_context key: whether this render's request is secure


def request_is_secure(context: Context) -> bool:
    """Whether the ``request`` context variable is a secure request; asked once per
    template render (a page's tags all see the same request)."""
    known: bool | None = context.render_context.get(_SECURE)
    if known is None:
        request = context.get("request")
        is_secure = getattr(request, "is_secure", None)
        known = context.render_context[_SECURE] = bool(is_secure is not None and is_secure())
    return known


def lookup(source: Any, what: Any, get: Callable[[], T]) -> T | None:
    """``get()``, or None (logged) when the source is missing or unusable, or when making
    the thumbnail failed for a passing reason: the storage refused a read or a write, or
    another process held the generation lock past ``LOCK_TIMEOUT``.

    Those last two are the infrastructure's, not the page's: one cold row must not turn a
    page of warm ones into an error page. Nothing is remembered of them, so the next render
    tries again; ``get_thumbnail`` itself still raises them.
    """
    try:
        return get()
    except PASSING as exc:
        passed(source, what, exc)
        return None


# What a tag renders as "no thumbnail" (``lookup``), not as an error page.
PASSING = (SourceError, StorageError, LockTimeout)


def passed(source: Any, what: Any, exc: Exception) -> None:
    """Log a ``PASSING`` failure of a tag's lookup; the tag renders no thumbnail."""
    if isinstance(exc, SourceError):
        log_source_error(source, what, exc)
    else:
        logger.error("No thumbnail of %r for %r this time: %s", source, what, exc)


def log_source_error(source: Any, spec: Any, exc: SourceError) -> None:
    # A remembered failure was logged when it happened: every later page view is DEBUG.
    level = logging.DEBUG if failures.remembered(exc) else logging.WARNING
    logger.log(level, "No thumbnail of %r for %r: %s", source, spec, exc)


def with_https(thumb: Result | None, secure: bool) -> Result | None:
    return secured(thumb) if secure and thumb is not None else thumb


def render_inline(
    thumb: Result | None, attrs: dict[str, Any], placeholder: str | None = None
) -> str:
    """The inline forms: a whole ``<img>``, a placeholder's if it has a URL, or nothing."""
    return "" if thumb is None else img_tag(thumb, attrs, placeholder)


def take_placeholder(bits: Bits) -> FilterExpression | None:
    """Remove ``placeholder=`` from a tag's options, or from its html attributes (``<img>``
    has no such attribute, so one written after ``--`` means the option too). A literal
    value is checked now, when the template is compiled."""
    found = bits.options.pop(PLACEHOLDER, None)
    after = bits.attrs.pop(PLACEHOLDER, None)
    if found is not None and after is not None:
        raise template.TemplateSyntaxError(f"{bits.tag}: placeholder= is given twice.")
    found = found or after
    if found is not None and bits.var is not None:
        raise template.TemplateSyntaxError(
            f"{bits.tag}: placeholder= styles the <img> of the inline form; with "
            f"'as {bits.var}', use {{{{ {bits.var}.placeholder_color }}}} or "
            f"{{{{ {bits.var}.placeholder_uri }}}} in your own markup."
        )
    if found is not None and not found.is_var and not found.filters:
        placeholder_mode(found.resolve(Context()), bits.tag)
    return found


def placeholder_mode(value: Any, tag: str) -> str | None:
    """``"color"`` or ``"thumbhash"``; None for none (None, False, ``""``, ``"none"``)."""
    if value is None or value is False or value in ("", "none"):
        return None
    if value in PLACEHOLDER_MODES:
        return str(value)
    raise template.TemplateSyntaxError(
        f'{tag}: placeholder= takes "color", "thumbhash" or "none", not {value!r}.'
    )


def resolve_placeholder(found: FilterExpression | None, context: Context, tag: str) -> str | None:
    return None if found is None else placeholder_mode(found.resolve(context), tag)

"""``{% load thumbkit %}``: the ``thumbnail`` tag, in block and inline forms.

Block form (sorl-thumbnail's)::

    {% thumbnail src "300x300" crop="center" as t %}
      <img src="{{ t.url }}" width="{{ t.width }}" height="{{ t.height }}">
    {% empty %}...{% endthumbnail %}

Inline form, rendering a whole ``<img>`` with width and height::

    {% thumbnail src "small" -- alt="Photo" class="avatar" %}

Only a missing or unreadable source degrades (the ``{% empty %}`` branch, or nothing inline)
with one logged warning; an invalid spec or a configuration error raises.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context

from ..api import get_thumbnail
from ..exceptions import SourceError
from ..html import img_tag
from ..thumbnail import Thumbnail

register = template.Library()
logger = logging.getLogger("thumbkit")

Kwargs = dict[str, FilterExpression]


_ATTR = re.compile(r"^[A-Za-z_][\w:.-]*$")


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


def render_source_error(source: Any, spec: Any, exc: SourceError) -> None:
    logger.warning("thumbkit: no thumbnail of %r for %r: %s", source, spec, exc)


class ThumbnailNode(template.Node):
    def __init__(
        self,
        source: FilterExpression,
        spec: FilterExpression,
        options: Kwargs,
        attrs: Kwargs | None,
        var: str | None,
        nodelist: NodeList | None = None,
        empty: NodeList | None = None,
    ) -> None:
        self.source, self.spec, self.options, self.attrs = source, spec, options, attrs
        self.var, self.nodelist, self.empty = var, nodelist or NodeList(), empty or NodeList()

    def thumbnail(self, context: Context) -> Thumbnail | None:
        source = self.source.resolve(context)
        spec = self.spec.resolve(context)
        try:
            return get_thumbnail(source, spec, **resolve_kwargs(self.options, context))
        except SourceError as exc:
            render_source_error(source, spec, exc)
            return None

    def render(self, context: Context) -> str:
        thumb = self.thumbnail(context)
        if self.var is None:
            if thumb is None:
                return ""
            return img_tag(thumb, resolve_kwargs(self.attrs or {}, context))
        if thumb is None:
            return self.empty.render(context)
        with context.push(**{self.var: thumb}):
            return self.nodelist.render(context)


@register.tag("thumbnail")
def thumbnail_tag(parser: Parser, token: Token) -> ThumbnailNode:
    bits = token.split_contents()
    tag = bits.pop(0)
    if len(bits) < 2:
        raise template.TemplateSyntaxError(f"{tag} needs a source and a spec.")
    source, spec = parser.compile_filter(bits[0]), parser.compile_filter(bits[1])
    rest = bits[2:]
    if len(rest) >= 2 and rest[-2] == "as":
        var = rest[-1]
        nodelist = parser.parse(("empty", f"end{tag}"))
        empty = NodeList()
        if parser.next_token().contents == "empty":
            empty = parser.parse((f"end{tag}",))
            parser.delete_first_token()
        options = parse_kwargs(parser, rest[:-2], tag)
        return ThumbnailNode(source, spec, options, None, var, nodelist, empty)
    attrs: Kwargs = {}
    if "--" in rest:
        cut = rest.index("--")
        attrs = parse_kwargs(parser, rest[cut + 1 :], tag, html=True)
        rest = rest[:cut]
    return ThumbnailNode(source, spec, parse_kwargs(parser, rest, tag), attrs, None)

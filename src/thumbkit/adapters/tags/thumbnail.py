"""``{% thumbnail %}`` in sorl-thumbnail's and django-imagekit's argument orders.

sorl order (source, then spec)::

    {% thumbnail src "300x300" crop="center" as t %}...{% empty %}...{% endthumbnail %}
    {% thumbnail src "small" -- alt="Photo" %}

imagekit order (dimensions, then source; the ``thumbkit:thumbnail`` generator)::

    {% thumbnail "100x50" src %}
    {% thumbnail "100x50" src anchor="tl" -- alt="A picture of Me" %}
    {% thumbnail "100x50" src as th %}      {# an assignment: no endthumbnail #}

The rule, decided when the template is compiled: when the first argument (or the second of
three, after a generator id) is a quoted literal of imagekit's dimension grammar (``"WxH"``,
``"Wx"``, ``"xH"``), the tag is imagekit's, and ``as`` assigns; otherwise it is sorl's, and
``as`` opens a block. At render time a sorl-form tag whose first argument turns out to be a
dimension string and whose second is a file is served in imagekit's order too.
"""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.core.files import File
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context

from ...exceptions import InvalidSpec
from ...lookup.api import get_thumbnail
from ...lookup.registry import register
from ...processors import Anchor
from .common import (
    FORCE_SSL,
    PASSING,
    Bits,
    Kwargs,
    Result,
    lookup,
    passed,
    pop_https,
    render_inline,
    request_is_secure,
    resolve_kwargs,
    resolve_placeholder,
    split_bits,
    take_placeholder,
    with_https,
)

DEFAULT_GENERATOR = "thumbkit:thumbnail"
_DIMENSIONS = re.compile(r"^(?P<w>\d*)x(?P<h>\d*)$")


def is_dimensions(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = _DIMENSIONS.match(value.strip())
    return match is not None and bool(match["w"] or match["h"])


def parse_dimensions(value: Any) -> tuple[int | None, int | None]:
    """imagekit's ``"100x50"``, ``"100x"``, ``"x50"`` as (width, height)."""
    if not is_dimensions(value):
        raise InvalidSpec(f"Invalid dimensions {value!r}: expected 'WxH', 'Wx' or 'xH'.")
    match = _DIMENSIONS.match(value.strip())
    assert match is not None
    return (int(match["w"]) if match["w"] else None, int(match["h"]) if match["h"] else None)


def imagekit_thumbnail(generator_id: str, dimensions: Any, source: Any, options: Any) -> Result:
    """What imagekit's tag makes: the generator with width, height and the tag's options."""
    width, height = parse_dimensions(dimensions)
    try:
        generator = register.make(
            generator_id, source=source, width=width, height=height, **options
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidSpec):
            raise
        raise InvalidSpec(f"{{% thumbnail {dimensions!r} %}}: {exc}") from None
    result: Result = generator.thumbnail()
    return result


def imagekit_crop(options: dict[str, Any]) -> None:
    """imagekit's ``anchor`` and ``crop`` options in a sorl-order tag, as thumbkit's crop.

    ``crop`` True (or 1) is the centre, False (or 0) no crop; ``anchor`` ("tl", "c", "b",
    an (x, y) pair of fractions, "auto") implies a crop at that point, unless crop is off.
    """
    crop = options.get("crop")
    if isinstance(crop, bool | int):
        options["crop"] = "center" if crop else None
    if "anchor" not in options:
        return
    anchor = options.pop("anchor")
    if anchor is None or ("crop" in options and options["crop"] is None):
        return
    if anchor == "auto":
        options["crop"] = "smart"
        return
    try:
        x, y = Anchor.get_tuple(str(anchor) if isinstance(anchor, str) else anchor)
    except (TypeError, ValueError) as exc:
        raise InvalidSpec(f"Invalid anchor {anchor!r}: {exc}") from None
    options["crop"] = f"{_percent(x)} {_percent(y)}"


def _percent(fraction: float) -> str:
    return f"{round(float(fraction) * 100)}%"


class ThumbnailNode(template.Node):
    """sorl order: a block with ``{% empty %}`` when there is ``as``, else a whole ``<img>``."""

    def __init__(
        self,
        source: FilterExpression,
        spec: FilterExpression,
        options: Kwargs,
        attrs: Kwargs | None,
        var: str | None,
        nodelist: NodeList | None = None,
        empty: NodeList | None = None,
        placeholder: FilterExpression | None = None,
    ) -> None:
        self.source, self.spec, self.options, self.attrs = source, spec, options, attrs
        self.var, self.nodelist, self.empty = var, nodelist or NodeList(), empty or NodeList()
        self.placeholder = placeholder
        # A literal spec and literal options (the usual case) are read once, here: a page
        # renders the tag once per row, and nothing about them changes between rows.
        self.constant = _constant_request(spec, options)

    def thumbnail(self, context: Context) -> Result | None:
        source = self.source.resolve(context)
        if self.constant is not None:
            # The page's case, once per row: the lookup inline (what ``lookup`` does).
            spec, options, force_ssl = self.constant
            try:
                thumb = get_thumbnail(source, spec, **options)
            except PASSING as exc:
                passed(source, spec, exc)
                return None
            return with_https(thumb, force_ssl or request_is_secure(context))
        spec = self.spec.resolve(context)
        options = resolve_kwargs(self.options, context)
        secure = pop_https(context, options)
        if is_dimensions(source) and isinstance(spec, File):
            # Written in imagekit's order with variables: "dims" then the file.
            found = lookup(
                spec, source, lambda: imagekit_thumbnail(DEFAULT_GENERATOR, source, spec, options)
            )
        else:
            imagekit_crop(options)
            found = lookup(source, spec, lambda: get_thumbnail(source, spec, **options))
        return with_https(found, secure)

    def render(self, context: Context) -> str:
        mode = resolve_placeholder(self.placeholder, context, "thumbnail")  # raises before I/O
        thumb = self.thumbnail(context)
        if self.var is None:
            return render_inline(thumb, resolve_kwargs(self.attrs or {}, context), mode)
        if not thumb:  # missing source, or a falsy placeholder (deferred, store down)
            return self.empty.render(context)
        # What ``context.push()`` does, without building a ContextDict and a context
        # manager on every row of a page.
        context.dicts.append({self.var: thumb})
        try:
            return self.nodelist.render(context)
        finally:
            context.dicts.pop()


def _constant_request(
    spec: FilterExpression, options: Kwargs
) -> tuple[str, dict[str, Any], bool] | None:
    """(spec, options, force_ssl) when the tag's spec and options are all literals.

    None when any is a variable or has a filter, or when the options are invalid (the
    render raises as it always did). A literal spec is never a file, so such a tag is never
    served in imagekit's order at render time.
    """
    values = [spec, *options.values()]
    if any(value.is_var or value.filters for value in values):
        return None
    text = spec.resolve(Context())
    if not isinstance(text, str):
        return None
    resolved = {name: value.resolve(Context()) for name, value in options.items()}
    force_ssl = bool(resolved.pop(FORCE_SSL, False))
    try:
        imagekit_crop(resolved)
    except InvalidSpec:
        return None
    return str(text), resolved, force_ssl


class ImagekitThumbnailNode(template.Node):
    """imagekit order: a whole ``<img>``, or an assignment with ``as`` (no block)."""

    def __init__(
        self,
        generator_id: FilterExpression | None,
        dimensions: FilterExpression,
        source: FilterExpression,
        options: Kwargs,
        attrs: Kwargs,
        var: str | None,
        placeholder: FilterExpression | None = None,
    ) -> None:
        self.generator_id, self.dimensions, self.source = generator_id, dimensions, source
        self.options, self.attrs, self.var = options, attrs, var
        self.placeholder = placeholder

    def render(self, context: Context) -> str:
        mode = resolve_placeholder(self.placeholder, context, "thumbnail")  # raises before I/O
        generator_id = (
            self.generator_id.resolve(context) if self.generator_id else DEFAULT_GENERATOR
        )
        dimensions = self.dimensions.resolve(context)
        source = self.source.resolve(context)
        options = resolve_kwargs(self.options, context)
        secure = pop_https(context, options)
        found = lookup(
            source,
            dimensions,
            lambda: imagekit_thumbnail(generator_id, dimensions, source, options),
        )
        thumb = with_https(found, secure)
        if self.var is not None:
            context[self.var] = thumb
            return ""
        return render_inline(thumb, resolve_kwargs(self.attrs, context), mode)


def _literal_dimensions(bit: str) -> bool:
    quoted = len(bit) >= 2 and bit[0] == bit[-1] and bit[0] in "'\""
    return quoted and is_dimensions(bit[1:-1])


def is_imagekit_order(raw: list[str]) -> bool:
    """The compile-time rule: a quoted dimensions literal first, or second of three."""
    if raw and _literal_dimensions(raw[0]):
        return True
    return len(raw) == 3 and _literal_dimensions(raw[1])


def thumbnail_tag(parser: Parser, token: Token) -> template.Node:
    bits = split_bits(parser, token.split_contents())
    placeholder = take_placeholder(bits)
    if is_imagekit_order(bits.raw_args):
        return _imagekit_node(bits, placeholder)
    if len(bits.args) != 2:
        raise template.TemplateSyntaxError(
            f"{bits.tag} needs a source and a spec (or imagekit's quoted 'WxH' and a source)."
        )
    source, spec = bits.args
    if bits.var is None:
        return ThumbnailNode(source, spec, bits.options, bits.attrs, None, placeholder=placeholder)
    nodelist = parser.parse(("empty", f"end{bits.tag}"))
    empty = NodeList()
    if parser.next_token().contents == "empty":
        empty = parser.parse((f"end{bits.tag}",))
        parser.delete_first_token()
    return ThumbnailNode(source, spec, bits.options, None, bits.var, nodelist, empty)


def _imagekit_node(bits: Bits, placeholder: FilterExpression | None) -> ImagekitThumbnailNode:
    if len(bits.args) == 3:
        generator_id, dimensions, source = bits.args
        return ImagekitThumbnailNode(
            generator_id, dimensions, source, bits.options, bits.attrs, bits.var, placeholder
        )
    if len(bits.args) != 2:
        raise template.TemplateSyntaxError(
            f"{bits.tag} in imagekit's order takes [generator id] 'WxH' source."
        )
    dimensions, source = bits.args
    return ImagekitThumbnailNode(
        None, dimensions, source, bits.options, bits.attrs, bits.var, placeholder
    )

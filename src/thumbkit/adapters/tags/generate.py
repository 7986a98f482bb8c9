"""``{% generateimage %}``: django-imagekit's generic tag, on thumbkit's generators.

::

    {% generateimage "myapp:thumbnail" source=p.photo %}
    {% generateimage "myapp:thumbnail" source=p.photo -- alt="A picture of Me" id="me" %}
    {% generateimage "myapp:thumbnail" source=p.photo as th %}{{ th.url }}

Keyword arguments (except ``force_ssl``) go to the generator's constructor:
``register.make(id, source=..., **kwargs).thumbnail()``. An unknown id raises
:class:`~thumbkit.lookup.registry.NotRegistered`; a missing or unusable source renders nothing
(``as`` assigns None) and logs once.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import FilterExpression, Parser, Token
from django.template.context import Context

from ...exceptions import ConfigurationError
from ...lookup.registry import register
from .common import (
    Kwargs,
    Result,
    lookup,
    pop_https,
    render_inline,
    resolve_kwargs,
    resolve_placeholder,
    split_bits,
    take_placeholder,
    with_https,
)


def generated(generator_id: str, kwargs: dict[str, Any]) -> Result:
    generator = register.make(generator_id, **kwargs)
    make = getattr(generator, "thumbnail", None)
    if make is None:
        raise ConfigurationError(
            f"The generator {generator_id!r} ({type(generator).__qualname__}) has no "
            "thumbnail() method; template tags need an ImageSpec (or anything with one)."
        )
    result: Result = make()
    return result


class GenerateImageNode(template.Node):
    def __init__(
        self,
        generator_id: FilterExpression,
        options: Kwargs,
        attrs: Kwargs,
        var: str | None,
        placeholder: FilterExpression | None = None,
    ) -> None:
        self.generator_id, self.options, self.attrs, self.var = generator_id, options, attrs, var
        self.placeholder = placeholder

    def render(self, context: Context) -> str:
        mode = resolve_placeholder(self.placeholder, context, "generateimage")  # before I/O
        generator_id = self.generator_id.resolve(context)
        options = resolve_kwargs(self.options, context)
        secure = pop_https(context, options)
        source = options.get("source")
        found = lookup(source, generator_id, lambda: generated(generator_id, options))
        thumb = with_https(found, secure)
        if self.var is not None:
            context[self.var] = thumb
            return ""
        return render_inline(thumb, resolve_kwargs(self.attrs, context), mode)


def generateimage_tag(parser: Parser, token: Token) -> GenerateImageNode:
    bits = split_bits(parser, token.split_contents())
    if len(bits.args) != 1:
        raise template.TemplateSyntaxError(
            f"{bits.tag} takes exactly one positional argument, the generator id, then "
            "keyword arguments (source=...)."
        )
    placeholder = take_placeholder(bits)
    return GenerateImageNode(bits.args[0], bits.options, bits.attrs, bits.var, placeholder)

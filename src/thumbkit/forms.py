"""Form fields: ``ProcessedImageField``, imagekit's processing upload field.

::

    class ProfileForm(forms.Form):
        avatar_thumbnail = ProcessedImageField(spec_id="myapp:profile:avatar_thumbnail",
                                               processors=[ResizeToFill(100, 50)],
                                               format="JPEG", options={"quality": 60})

``clean()`` returns the processed image as an uploaded file (named with the output format's
extension, with ``width``, ``height`` and ``content_type``), so a plain ``models.ImageField``
stores it. An upload that cannot be decoded or is above LIMITS is a ``ValidationError``;
the LIMITS are checked from the header before anything is decoded (``validate_limits``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .exceptions import SourceError, SourceTooLarge
from .lookup.generators import GeneratedImage, ImageSpec
from .lookup.keys import renamed
from .lookup.registry import AlreadyRegistered, register
from .validators import ImageLimitsValidator, limits_validator

CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "GIF": "image/gif",
}


class ProcessedUpload(GeneratedImage):
    """A processed upload: the bytes, ``name``, ``size``, ``width``, ``height``,
    ``format`` and ``content_type``; ``thumbkit_spec`` says which spec made it."""

    charset = None
    content_type_extra = None

    def __init__(self, image: GeneratedImage, name: str, spec: str) -> None:
        super().__init__(image.read(), name, image.width, image.height, image.format)
        self.content_type = CONTENT_TYPES.get(image.format, "application/octet-stream")
        self.thumbkit_spec = spec


class ImageField(forms.ImageField):
    """Django's image upload field, refusing uploads above ``THUMBKIT["LIMITS"]``.

    The limits are checked from the file's header before Pillow opens it for Django's own
    check, so an oversized upload gets a message that names the limit and by how much.
    ``validate_limits=False`` turns the check off; an
    :class:`~thumbkit.validators.ImageLimitsValidator` sets other caps. thumbkit's model
    ``ImageField`` uses this form field.
    """

    def __init__(
        self, *args: Any, validate_limits: bool | ImageLimitsValidator = True, **kwargs: Any
    ) -> None:
        self.limits_validator = limits_validator(validate_limits)
        super().__init__(*args, **kwargs)

    def to_python(self, data: Any) -> Any:
        upload = forms.FileField.to_python(self, data)  # empty, nameless, too long a name
        if upload is not None and self.limits_validator is not None:
            self.limits_validator(upload)
        return super().to_python(data)


class ProcessedImageField(ImageField):
    """An image upload field that returns the upload processed by a spec.

    ``spec_id`` names the generator (registered from ``processors``/``format``/``options``
    or ``spec`` when given; an existing registration under the id wins, as in imagekit).
    """

    def __init__(
        self,
        processors: Any = None,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
        autoconvert: bool = True,
        spec_id: str | None = None,
        spec: type[ImageSpec] | None = None,
        *args: Any,
        post_processors: Any = None,
        **kwargs: Any,
    ) -> None:
        attrs = {
            "processors": processors,
            "format": format,
            "options": options,
            "post_processors": post_processors,
        }
        given = {k: v for k, v in attrs.items() if v is not None}
        if given and spec is not None:
            raise TypeError("Give either spec= or processors/format/options, not both.")
        if spec_id is None:
            # Form fields never learn their name, so no id can be made up for them.
            raise TypeError("ProcessedImageField needs spec_id='app:form:field'.")
        generator = spec or (_form_spec(spec_id, given) if given else None)
        if generator is not None:
            with contextlib.suppress(AlreadyRegistered):
                register.generator(spec_id, generator)
        self.spec_id = spec_id
        self.autoconvert = autoconvert
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        data = super().clean(data, initial)
        if not data or data is initial or data == initial:
            return data  # nothing new uploaded: keep what the field had
        return self.process(data)

    def process(self, upload: Any) -> ProcessedUpload:
        gen = register.make(self.spec_id, source=upload)
        try:
            out: GeneratedImage = gen.generate()
        except SourceTooLarge as exc:
            raise ValidationError(str(exc), code="too_large") from exc
        except SourceError as exc:
            raise ValidationError(
                self.error_messages["invalid_image"], code="invalid_image"
            ) from exc
        return ProcessedUpload(out, renamed(str(upload.name), out.format), gen.spec.canonical)


def limits_formfield(kwargs: dict[str, Any], validator: ImageLimitsValidator | None) -> Any:
    """formfield() arguments: thumbkit's form field, checking what the model field checks."""
    kwargs = {"form_class": ImageField, **kwargs}
    form_class = kwargs["form_class"]
    # A form class given by the caller (field_classes, admin) may not take the option.
    if isinstance(form_class, type) and issubclass(form_class, ImageField):
        kwargs.setdefault("validate_limits", validator or False)
    return kwargs


def _form_spec(spec_id: str, attrs: Mapping[str, Any]) -> type[ImageSpec]:
    spec = type("FormSpec", (ImageSpec,), dict(attrs))
    # Named after the id: declaring the form again (a reload) re-registers "the same" spec.
    spec.__module__ = __name__
    spec.__qualname__ = f"FormSpec[{spec_id}]"
    return spec

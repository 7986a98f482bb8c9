"""The on-demand endpoint: signed URLs that make a thumbnail on the first request.

``path("thumbs/", include("thumbkit.urls"))`` serves ``thumbs/<signature>/<payload>``. The
payload is base64url JSON ``[1, storage alias, source name, source version, spec reference]``
and the signature an HMAC-SHA256 of it, keyed by ``SECRET_KEY`` (or one of
``SECRET_KEY_FALLBACKS``) with a thumbkit salt. The view checks the lengths, then the
signature with a constant-time compare, and only then decodes anything, so an unsigned or
tampered URL costs one HMAC and reveals nothing. A URL is a pure function of (source,
version, spec): browsers and CDNs may cache it, and a replaced source gets a new one.

Responses: 302 to the stored file (made under the store's lock if missing, so concurrent
first requests generate once), 400 for an oversized or malformed request, a spec over
LIMITS or a size not in ``SIZES_ALLOWED`` (refused before anything is read, locked or
written), 403 for a bad signature, 404 for a missing or unreadable source, 503 when the
store, storage or lock fails. Errors are plain text without any traceback, DEBUG or not.

A ``format=auto`` spec is negotiated per request (``thumbkit.adapters.negotiate``): the
``Accept`` header picks AVIF, WebP or a format every browser shows, each its own stored
thumbnail, and the redirect says ``Vary: Accept`` so caches keep one answer per header.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings as django_settings
from django.core.files.storage import storages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_vary_headers
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.http import require_safe

from ..core import sizes
from ..core.spec import AUTO, Spec
from ..exceptions import (
    ConfigurationError,
    InvalidSpec,
    SizeNotAllowed,
    SourceError,
    ThumbkitError,
)
from ..lookup import refs
from ..lookup.fallback import predicted
from ..lookup.source import Source, coerce
from ..lookup.thumbnail import Thumbnail
from .negotiate import choose

logger = logging.getLogger("thumbkit")

SALT = "thumbkit.adapters.endpoint.v1"
PAYLOAD_VERSION = 1
# A base64url SHA-256 digest without padding.
SIGNATURE_LENGTH = 43
# Longer payloads are refused before the signature is computed, and never rendered.
MAX_PAYLOAD = 2048
# How long browsers and CDNs may keep a redirect: the target is a function of the URL.
REDIRECT_MAX_AGE = 3600


@dataclass(frozen=True)
class OnDemandThumbnail(Thumbnail):
    """A thumbnail not made yet: its URL is the signed endpoint URL; its size is unknown."""

    signed_url: str = ""

    def __post_init__(self) -> None:
        # ``Thumbnail.url`` reads the instance first: the signed URL answers it.
        self.__dict__["url"] = self.signed_url


def signed_record(source: Source, spec: Spec, key: str) -> OnDemandThumbnail:
    """The record the ``on_demand`` strategy renders for a thumbnail missing from the store
    (or for any ``format=auto`` one); SizeNotAllowed for a size the endpoint would refuse."""
    sizes.check(spec)
    alias = refs.storage_alias(source, "on_demand")
    url = signed_url(alias, source.name, source.version, refs.require(spec, "on_demand"))
    return OnDemandThumbnail(**predicted(source, spec, key).to_dict(), signed_url=url)


def signed_url(alias: str, name: str, version: str, ref: str) -> str:
    text = json.dumps([PAYLOAD_VERSION, alias, name, version, ref], separators=(",", ":"))
    payload = base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
    if len(payload) > MAX_PAYLOAD:
        raise ConfigurationError(
            f"The on-demand URL of {name!r} would be {len(payload)} characters; the endpoint "
            f"refuses more than {MAX_PAYLOAD}. Use a named spec or a shorter source name."
        )
    try:
        return reverse("thumbkit:thumbnail", args=[sign(payload), payload])
    except NoReverseMatch:
        raise ConfigurationError(
            'The on_demand strategy needs path("thumbs/", include("thumbkit.urls")) in the URLconf.'
        ) from None


def sign(payload: str, secret: str | bytes | None = None) -> str:
    mac = salted_hmac(SALT, payload, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def verify(signature: str, payload: str) -> bool:
    secrets = [django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", [])]
    return any(constant_time_compare(sign(payload, secret), signature) for secret in secrets)


def _refuse(status: int, text: str) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def refused_view(request: HttpRequest) -> HttpResponse:
    return _refuse(403, "Bad signature.")


@require_safe
def thumbnail_view(request: HttpRequest, signature: str, payload: str) -> HttpResponse:
    if len(payload) > MAX_PAYLOAD or len(request.get_full_path()) > MAX_PAYLOAD + 256:
        return _refuse(400, "Request too large.")
    if len(signature) != SIGNATURE_LENGTH or not verify(signature, payload):
        return _refuse(403, "Bad signature.")
    try:
        alias, name, version, ref = _decode(payload)
    except ValueError:
        return _refuse(400, "Malformed request.")
    accept = request.headers.get("Accept")
    try:
        record, negotiated = _stored(alias, name, version, ref, accept)
    except SizeNotAllowed:
        return _refuse(400, "Size not allowed.")
    except InvalidSpec:  # includes OutputTooLarge: a spec over LIMITS
        return _refuse(400, "Invalid thumbnail spec.")
    except SourceError:
        return _refuse(404, "No such source image.")
    except ThumbkitError:
        logger.warning("The on-demand thumbnail of %r failed", name, exc_info=True)
        return _refuse(503, "The thumbnail cannot be made now.")
    except Exception:  # a bug must still not show a traceback to whoever holds a URL
        logger.exception("The on-demand thumbnail of %r failed", name)
        return _refuse(500, "Server error.")
    response = HttpResponseRedirect(record.url)
    response["Cache-Control"] = f"public, max-age={REDIRECT_MAX_AGE}"
    if negotiated:
        patch_vary_headers(response, ["Accept"])
    return response


def _decode(payload: str) -> tuple[str, str, str, str]:
    """The signed payload's fields; ValueError for anything not in the expected shape."""
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        value: Any = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    if not (isinstance(value, list) and len(value) == 5 and value[0] == PAYLOAD_VERSION):
        raise ValueError("unexpected payload")
    fields = value[1:]
    if not all(isinstance(v, str) for v in fields):
        raise ValueError("unexpected payload")
    return fields[0], fields[1], fields[2], fields[3]


def _stored(
    alias: str, name: str, version: str, ref: str, accept: str | None
) -> tuple[Thumbnail, bool]:
    """The thumbnail the payload names (made now if missing), and whether its format was
    negotiated from ``accept``. The size is checked before anything is read or locked."""
    from ..lookup.api import get_or_generate

    if alias not in django_settings.STORAGES:
        raise InvalidSpec(f"No storage {alias!r}.")
    src = coerce(name, storage=storages[alias], version=version)
    spec = refs.spec_from_ref(ref, source=src)
    sizes.check(spec)
    negotiated = spec.format == AUTO
    if negotiated:
        spec = negotiated_spec(spec, choose(accept))
    return get_or_generate(src, spec), negotiated


def negotiated_spec(spec: Spec, fmt: str) -> Spec:
    """The auto ``spec`` in the negotiated format: another canonical text, so another key
    and file per format (AUTO keeps the spec as it is)."""
    return spec if fmt == AUTO else replace(spec, format=fmt)

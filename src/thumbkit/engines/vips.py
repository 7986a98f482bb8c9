"""The libvips engine (``pip install django-thumbkit[vips]``, ``THUMBKIT["ENGINE"] = "vips"``).

libvips shrinks on load (JPEG DCT scaling, WebP/HEIF scaled decode) and streams, so big PNG
and TIFF sources cost about half the time and memory of Pillow. Sizes come from the same
``thumbkit.geometry`` plan as the Pillow engine, so both engines make identical sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import limits
from ..conf import Settings
from ..exceptions import ConfigurationError, GenerationError, SourceUnreadable
from ..geometry import Plan, plan
from ..spec import Spec
from . import Rendered

LOADERS = {
    "jpegload": "JPEG",
    "pngload": "PNG",
    "gifload": "GIF",
    "webpload": "WEBP",
    "heifload": "AVIF",
    "tiffload": "TIFF",
}
WEB_FORMATS = {"JPEG", "PNG", "GIF", "WEBP", "AVIF"}
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
# Loader options: fail on truncated data instead of decoding grey garbage.
LOAD_OPTIONS = "fail_on=truncated"


def _jpeg(spec: Spec, s: Settings) -> dict[str, Any]:
    progressive = s.progressive if spec.progressive is None else spec.progressive
    return {"Q": spec.quality or s.quality, "interlace": progressive, "optimize_coding": True}


def _webp(spec: Spec, s: Settings) -> dict[str, Any]:
    return {"Q": spec.quality or s.quality, "effort": 4}


def _avif(spec: Spec, s: Settings) -> dict[str, Any]:
    # libvips' default effort is slow (~350 ms for 400x300); 2 is close to Pillow's speed 8.
    return {"Q": spec.quality or s.quality, "effort": 2, "compression": "av1"}


def _png(spec: Spec, s: Settings) -> dict[str, Any]:
    return {"compression": 6}


def _gif(spec: Spec, s: Settings) -> dict[str, Any]:
    return {}


FORMATS: dict[str, tuple[str, Any, bool]] = {
    # format: (suffix, save options, keeps alpha)
    "JPEG": (".jpg", _jpeg, False),
    "PNG": (".png", _png, True),
    "WEBP": (".webp", _webp, True),
    "AVIF": (".avif", _avif, True),
    "GIF": (".gif", _gif, True),
}


class VipsEngine:
    def __init__(self) -> None:
        try:
            import pyvips
        except (ImportError, OSError) as exc:
            raise ConfigurationError(
                "The vips engine needs pyvips: pip install 'django-thumbkit[vips]'."
            ) from exc
        self.vips = pyvips

    def render(self, data: bytes, specs: Sequence[Spec], settings: Settings) -> list[Rendered]:
        lim = settings.limits
        limits.check_bytes(len(data), lim)
        header, source_format = self._header(data, lim.formats)
        orientation = _get(header, "orientation", 1)
        size = (
            (header.height, header.width)
            if orientation in SWAPPING_ORIENTATIONS
            else (
                header.width,
                header.height,
            )
        )
        plans = [plan(spec, size) for spec in specs]
        for spec, p in zip(specs, plans, strict=True):
            limits.check_output(p, spec, lim)
        limits.check_source(_decoded(size, plans, source_format), _get(header, "n-pages", 1), lim)
        return [
            self._one(data, spec, p, source_format, settings)
            for spec, p in zip(specs, plans, strict=True)
        ]

    def _header(self, data: bytes, formats: tuple[str, ...]) -> tuple[Any, str]:
        try:
            header = self.vips.Image.new_from_buffer(data, "", access="sequential")
        except self.vips.Error as exc:
            raise SourceUnreadable("The source is not an image libvips can read.") from exc
        loader = str(_get(header, "vips-loader", "")).removesuffix("_buffer")
        fmt = LOADERS.get(loader)
        if fmt is None or fmt not in formats:
            raise SourceUnreadable(
                f"The source is not an image in an allowed format ({', '.join(formats)})."
            )
        return header, fmt

    def _one(
        self, data: bytes, spec: Spec, p: Plan, source_format: str, settings: Settings
    ) -> Rendered:
        if spec.processors:
            # Processors work on Pillow images: such specs are made by the Pillow engine.
            from .pillow import PillowEngine

            return PillowEngine().render(data, [spec], settings)[0]
        fmt = spec.format or (source_format if source_format in WEB_FORMATS else None)
        try:
            image = self.vips.Image.thumbnail_buffer(
                data, p.scaled[0], height=p.scaled[1], size="force", option_string=LOAD_OPTIONS
            )
            image = _eight_bit(image)
            if spec.colorspace == "GRAY":
                image = image.colourspace("b-w")
            elif spec.colorspace == "RGB" and image.bands in (1, 2):
                image = image.colourspace("srgb")
            if p.crop is not None:
                left, top, right, bottom = p.crop
                image = image.crop(left, top, right - left, bottom - top)
            elif p.smart:
                # smartcrop reads pixels in any order; the shrunk image is small, so hold it.
                image = image.copy_memory().smartcrop(
                    p.cropped[0], p.cropped[1], interesting="entropy"
                )
            if p.canvas is not None:
                image = _pad(image, p.canvas, spec.padding_color)
            fmt = fmt or ("PNG" if image.hasalpha() else "JPEG")
            suffix, options, alpha = FORMATS[fmt]
            if image.hasalpha() and not alpha:
                image = image.flatten(background=_rgb(spec.background or "#ffffff"))
            out = image.write_to_buffer(suffix, keep="icc", **options(spec, settings))
        except self.vips.Error as exc:
            raise _mapped(exc) from exc
        return Rendered(bytes(out), image.width, image.height, fmt)


def _get(image: Any, name: str, default: Any) -> Any:
    return image.get(name) if image.get_typeof(name) else default


def _decoded(size: tuple[int, int], plans: Sequence[Plan], fmt: str) -> tuple[int, int]:
    if fmt != "JPEG":
        return size
    need_w = max(p.scaled[0] for p in plans)
    need_h = max(p.scaled[1] for p in plans)
    ratio = min(size[0] // max(need_w, 1), size[1] // max(need_h, 1))
    shrink = next((f for f in (8, 4, 2) if ratio >= f), 1)
    return -(-size[0] // shrink), -(-size[1] // shrink)


def _eight_bit(image: Any) -> Any:
    interpretation = str(image.interpretation)
    if interpretation in ("grey16",):
        return image.colourspace("b-w")
    if interpretation in ("rgb16", "cmyk", "lab", "labs", "xyz", "scrgb"):
        return image.colourspace("srgb")
    return image


def _pad(image: Any, canvas: tuple[int, int], color: str) -> Any:
    left = int((canvas[0] - image.width) / 2)
    top = int((canvas[1] - image.height) / 2)
    rgb = _rgb(color)
    colour = rgb[:1] if image.bands in (1, 2) else rgb
    background = colour + [255] * (image.bands - len(colour))  # opaque alpha, if any
    return image.embed(left, top, canvas[0], canvas[1], extend="background", background=background)


def _rgb(color: str) -> list[int]:
    digits = color.lstrip("#")
    return [int(digits[i : i + 2], 16) for i in (0, 2, 4)]


def _mapped(exc: Exception) -> Exception:
    text = str(exc)
    if "load" in text or "premature end" in text or "truncated" in text:
        return SourceUnreadable(f"The source cannot be decoded: {text.strip()[:200]}")
    return GenerationError(f"libvips failed: {text.strip()[:200]}")

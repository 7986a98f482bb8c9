"""The libvips engine (``pip install django-thumbkit[vips]``, ``THUMBKIT["ENGINE"] = "vips"``).

libvips shrinks on load (JPEG DCT scaling, WebP/HEIF scaled decode) and streams, so big PNG
and TIFF sources cost about half the time and memory of Pillow. Sizes come from the same
``thumbkit.core.geometry`` plan as the Pillow engine, so both engines make identical sizes.

The source is first inspected by ``thumbkit.core.probe`` (Pillow's header parsers), exactly as on
the Pillow engine: the format allow-list, the frame cap and the pixel rule (progressive JPEGs
at full size) are applied before any libvips loader runs, and libvips must then identify the
file as that same format. Formats libvips has no loader for (BMP) and specs with processors
are made by the Pillow engine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from PIL import Image

from ...conf import Settings
from ...exceptions import ConfigurationError, GenerationError, SourceUnreadable
from .. import limits, lqip, probe
from ..geometry import Plan
from ..lqip import Lqip
from ..spec import AUTO, UNIVERSAL_FORMATS, Spec
from . import Rendered, animation
from .smartcrop import entropy_box

logger = logging.getLogger("thumbkit")

# The libvips loader each probed format must be read by.
LOADERS = {
    "JPEG": "jpegload_buffer",
    "MPO": "jpegload_buffer",
    "PNG": "pngload_buffer",
    "GIF": "gifload_buffer",
    "WEBP": "webpload_buffer",
    "AVIF": "heifload_buffer",
    "TIFF": "tiffload_buffer",
}
WEB_FORMATS = {"JPEG", "PNG", "GIF", "WEBP", "AVIF"}
ANIMATED = frozenset({"GIF", "WEBP"})  # the animations libvips reads and writes
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
# Loader options: fail on truncated data instead of decoding grey garbage.
LOAD_OPTIONS = "fail_on=truncated"
_PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # by band count, 8 bits a band


def _jpeg(spec: Spec, s: Settings) -> dict[str, Any]:
    progressive = s.progressive if spec.progressive is None else spec.progressive
    return {
        "Q": spec.quality or s.quality_for("JPEG"),
        "interlace": progressive,
        "optimize_coding": True,
    }


def _webp(spec: Spec, s: Settings) -> dict[str, Any]:
    return {"Q": spec.quality or s.quality_for("WEBP"), "effort": 4}


def _avif(spec: Spec, s: Settings) -> dict[str, Any]:
    # libvips' default effort is slow (~350 ms for 400x300); 2 is close to Pillow's speed 8.
    return {"Q": spec.quality or s.quality_for("AVIF"), "effort": 2, "compression": "av1"}


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
        # Bytes, allow-list, frames and full-size pixels: before any libvips loader runs.
        info = probe.probe(data, lim)
        if info.format not in LOADERS:
            from .pillow import PillowEngine

            return PillowEngine().render(data, specs, settings)
        if animation.is_animation(info):
            # The frames x pixels budget, from the probed header: before libvips reads a byte.
            animation.moving(
                info, specs, [limits.planned(s, info.oriented_size, lim) for s in specs], lim
            )
        header = self._header(data, info.format)
        orientation = _get(header, "orientation", 1)  # what thumbnail_buffer rotates by
        size = (header.width, header.height)
        if orientation in SWAPPING_ORIENTATIONS:
            size = (header.height, header.width)
        plans = [limits.planned(spec, size, lim) for spec in specs]
        need = (max(p.scaled[0] for p in plans), max(p.scaled[1] for p in plans))
        if orientation in SWAPPING_ORIENTATIONS:
            need = (need[1], need[0])
        probe.check_pixels(info, lim, need)  # a baseline JPEG, as it will be shrunk on load
        flags = animation.moving(info, specs, plans, lim)
        if any(flags) and info.format not in ANIMATED:
            from .pillow import PillowEngine  # libvips reads no APNG: Pillow animates it

            return PillowEngine().render(data, specs, settings)
        source = _placeholder_source(specs, plans)
        rendered = [
            self._one(data, spec, p, info.format, settings, info.frames if flag else 1, i == source)
            for i, (spec, p, flag) in enumerate(zip(specs, plans, flags, strict=True))
        ]
        found = next((r.lqip for r in rendered if r.lqip is not None), None)
        return [replace(r, lqip=found) for r in rendered]

    def _sniffed(self, data: bytes) -> str:
        """The nickname of the loader libvips picks for ``data``, from magic bytes only."""
        lib, ffi = self.vips.vips_lib, self.vips.ffi
        pointer = lib.vips_foreign_find_load_buffer(data, len(data))
        if not pointer:
            return ""
        nickname = lib.vips_nickname_find(lib.g_type_from_name(pointer))
        return str(ffi.string(nickname).decode()) if nickname else ""

    def _header(self, data: bytes, fmt: str) -> Any:
        """The header, read by the loader of the probed format and no other."""
        loader = self._sniffed(data)
        if loader != LOADERS[fmt]:
            raise SourceUnreadable(
                f"The {fmt} source is not one libvips reads as {fmt} ({loader or 'no loader'})."
            )
        try:
            return self.vips.Image.new_from_buffer(data, "", access="sequential")
        except self.vips.Error as exc:
            raise SourceUnreadable(f"The source cannot be read: {_text(exc)}") from exc

    def _one(
        self,
        data: bytes,
        spec: Spec,
        p: Plan,
        source_format: str,
        settings: Settings,
        frames: int = 1,
        placeholder: bool = False,
    ) -> Rendered:
        if spec.processors or (frames > 1 and (spec.format or source_format) not in ANIMATED):
            # Processors work on Pillow images, and libvips writes no APNG: such specs are
            # made by the Pillow engine.
            from .pillow import PillowEngine

            return PillowEngine().render(data, [spec], settings)[0]
        try:
            if frames == 1:
                image, found = self._pixels(data, spec, p, placeholder)
            else:
                image, found = self._frames(data, spec, p), None
        except self.vips.Error as exc:
            # libvips decodes lazily, so a corrupt or truncated source fails here.
            raise SourceUnreadable(f"The source cannot be decoded: {_text(exc)}") from exc
        fmt = _output_format(spec.format, source_format, image.hasalpha())
        suffix, options, alpha = FORMATS[fmt]
        try:
            if image.hasalpha() and not alpha:
                image = image.flatten(background=_rgb(spec.background or "#ffffff"))
            out = image.write_to_buffer(suffix, keep="icc", **options(spec, settings))
        except self.vips.Error as exc:
            raise GenerationError(f"libvips failed to encode {fmt}: {_text(exc)}") from exc
        height = int(_get(image, "page-height", image.height)) if frames > 1 else image.height
        if frames > 1 and placeholder:  # from the first frame, as a paused animation shows
            found = self._lqip(image.crop(0, 0, image.width, height))
        return Rendered(bytes(out), image.width, height, fmt, lqip=found)

    def _frames(self, data: bytes, spec: Spec, p: Plan) -> Any:
        """Every frame shrunk on load to the planned size, then cropped and padded one by one
        (a smart crop where the first frame's is), as one tall image of stacked pages: what
        libvips' GIF and WebP savers write as an animation, with its delays and loop."""
        options = f"n=-1,{LOAD_OPTIONS}"
        image = self.vips.Image.thumbnail_buffer(
            data, p.scaled[0], height=p.scaled[1], size="force", option_string=options
        )
        image = self._colour(_eight_bit(image), spec)
        box = p.crop
        if box is None and not p.smart and p.canvas is None:
            return image.copy_memory()  # the pages are the planned size already
        height = int(_get(image, "page-height", image.height))
        pages = [image.crop(0, top, image.width, height) for top in range(0, image.height, height)]
        if box is None and p.smart:
            box = entropy_box(_pillow(pages[0].copy_memory()), p.cropped)
        if box is not None:
            left, top, right, bottom = box
            pages = [page.crop(left, top, right - left, bottom - top) for page in pages]
        if p.canvas is not None:
            pages = [_pad(page, p.canvas, spec.padding_color) for page in pages]
        stacked = self.vips.Image.arrayjoin(pages, across=1).copy_memory()
        stacked.set_type(self.vips.GValue.gint_type, "page-height", pages[0].height)
        for name in ("delay", "loop"):
            if image.get_typeof(name):
                stacked.set_type(image.get_typeof(name), name, image.get(name))
        return stacked

    def _colour(self, image: Any, spec: Spec) -> Any:
        if spec.colorspace == "GRAY":
            return image.colourspace("b-w")
        if spec.colorspace == "RGB" and image.bands in (1, 2):
            return image.colourspace("srgb")
        return image

    def _pixels(
        self, data: bytes, spec: Spec, p: Plan, placeholder: bool
    ) -> tuple[Any, Lqip | None]:
        """Decode, shrink, crop and pad, into memory: the output is small, and any error
        raised up to here comes from the source, not from an encoder. With ``placeholder``,
        also the source's placeholder, from the whole source shrunk to the plan's size."""
        image = self.vips.Image.thumbnail_buffer(
            data, p.scaled[0], height=p.scaled[1], size="force", option_string=LOAD_OPTIONS
        )
        image = _eight_bit(image)
        found = None
        if placeholder:
            # Held in memory, so the placeholder and the thumbnail share one decode.
            image = image.copy_memory()
            found = self._lqip(image)
        image = self._colour(image, spec)
        if p.crop is not None:
            left, top, right, bottom = p.crop
            image = image.crop(left, top, right - left, bottom - top)
        elif p.smart:
            # smartcrop reads pixels in any order; the shrunk image is small, so hold it.
            image = image.copy_memory().smartcrop(p.cropped[0], p.cropped[1], interesting="entropy")
        if p.canvas is not None:
            image = _pad(image, p.canvas, spec.padding_color)
        return image.copy_memory(), found

    def _lqip(self, image: Any) -> Lqip:
        """``lqip.compute`` on a Pillow copy of ``image`` shrunk to the hash's size."""
        try:
            small = image.thumbnail_image(lqip.HASH_SIDE, height=lqip.HASH_SIDE, size="down")
            if small.format != "uchar":
                small = small.cast("uchar")
            mode = _PIL_MODES.get(small.bands)
            if mode is None:
                return lqip.EMPTY
            pixels = small.write_to_memory()
        except self.vips.Error:
            logger.warning("No placeholder for this source", exc_info=True)
            return lqip.EMPTY
        return lqip.compute(Image.frombytes(mode, (small.width, small.height), pixels))


def _placeholder_source(specs: Sequence[Spec], plans: Sequence[Plan]) -> int | None:
    """The spec whose shrunk source the placeholder is made from: of those this engine makes
    itself (specs with processors go to the Pillow engine, which makes its own), the
    smallest that is at least the placeholder's size, else the largest."""
    mine = [i for i, spec in enumerate(specs) if not spec.processors]
    if not mine:
        return None

    def rank(i: int) -> tuple[bool, int]:
        width, height = plans[i].scaled
        small = max(width, height) < lqip.HASH_SIDE
        return small, -width * height if small else width * height

    return min(mine, key=rank)


def _output_format(fmt: str | None, source_format: str, alpha: bool) -> str:
    """As the Pillow engine: the spec's format; else the source's if web-safe (AUTO: if
    every browser shows it), else PNG for transparency and JPEG for the rest."""
    if fmt is not None and fmt != AUTO:
        return fmt
    if fmt == AUTO:
        kept = UNIVERSAL_FORMATS.get(source_format)
    else:
        kept = source_format if source_format in WEB_FORMATS else None
    return kept or ("PNG" if alpha else "JPEG")


def _pillow(page: Any) -> Image.Image:
    """A small in-memory libvips page as a Pillow image (for the shared smart crop)."""
    modes = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
    return Image.frombytes(modes[page.bands], (page.width, page.height), page.write_to_memory())


def _get(image: Any, name: str, default: Any) -> Any:
    return image.get(name) if image.get_typeof(name) else default


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


def _text(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]

"""The default engine, on Pillow.

Order matters for speed and correctness: ``thumbkit.core.probe`` (header only, among the allowed
formats: bytes, frames and pixels against LIMITS) -> plan every spec within the output caps
-> JPEG ``draft()`` at the smallest DCT scale that still covers every requested size (it must
come before EXIF transposing, which loads pixels), with the pixel cap on the drafted size
(a progressive JPEG counts at full size) -> load -> EXIF transpose -> normalise the mode
-> the source's placeholder (``thumbkit.core.lqip``) -> per spec: resize (only the crop
box) -> smart crop -> padding -> encode. Pillow's process-wide ``MAX_IMAGE_PIXELS`` is never
changed, and ``Image.open``'s check against it is skipped: LIMITS are the control.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from PIL import Image

from ...conf import Limits, Settings
from ...exceptions import GenerationError, SourceTooLarge, SourceUnreadable, ThumbkitError
from .. import limits, lqip, pipeline, probe
from ..geometry import Plan
from ..spec import AUTO, UNIVERSAL_FORMATS, Spec
from . import Rendered, animation
from .shrink import Decoded, decode, normalise
from .smartcrop import entropy_box

LANCZOS = Image.Resampling.LANCZOS
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
WEB_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WEBP"}
WEB_FORMATS["AVIF"] = "AVIF"
DRAFTABLE = probe.DRAFTABLE  # formats whose decoder can scale down while decoding
# Errors Pillow raises on bad input: its fuzzing contract's, and what plugins raise anyway.
DECODE_ERRORS = probe.SOURCE_ERRORS


def _jpeg(img: Image.Image, spec: Spec, s: Settings, icc: bytes | None) -> dict[str, Any]:
    progressive = s.progressive if spec.progressive is None else spec.progressive
    quality = spec.quality or s.quality_for("JPEG")
    options = {"quality": quality, "optimize": True, "progressive": progressive}
    return {**options, "icc_profile": icc} if icc else options


def _png(img: Image.Image, spec: Spec, s: Settings, icc: bytes | None) -> dict[str, Any]:
    return {"compress_level": 6, "icc_profile": icc} if icc else {"compress_level": 6}


def _webp(img: Image.Image, spec: Spec, s: Settings, icc: bytes | None) -> dict[str, Any]:
    options = {"quality": spec.quality or s.quality_for("WEBP"), "method": 4}
    return {**options, "icc_profile": icc} if icc else options


def _avif(img: Image.Image, spec: Spec, s: Settings, icc: bytes | None) -> dict[str, Any]:
    options = {"quality": spec.quality or s.quality_for("AVIF"), "speed": s.avif_speed}
    return {**options, "icc_profile": icc} if icc else options


def _gif(img: Image.Image, spec: Spec, s: Settings, icc: bytes | None) -> dict[str, Any]:
    return {}


SaveOptions = Callable[[Image.Image, Spec, Settings, "bytes | None"], dict[str, Any]]

# Per output format: the modes it can hold, and its save options.
FORMATS: dict[str, tuple[frozenset[str], SaveOptions]] = {
    "JPEG": (frozenset({"RGB", "L"}), _jpeg),
    "PNG": (frozenset({"RGB", "RGBA", "L", "LA"}), _png),
    "WEBP": (frozenset({"RGB", "RGBA"}), _webp),
    "AVIF": (frozenset({"RGB", "RGBA"}), _avif),
    "GIF": (frozenset({"RGB", "RGBA", "L", "LA"}), _gif),
}


class PillowEngine:
    def render(self, data: bytes, specs: Sequence[Spec], settings: Settings) -> list[Rendered]:
        lim = settings.limits
        # Bytes, format, frames and (unless it can be drafted) pixels, from the header.
        image, info = probe.open_image(data, lim)
        with image:
            plans = _plans(specs, info.oriented_size, lim)
            if info.format in DRAFTABLE:
                target = _target(plans, info.orientation)
                probe.check_pixels(info, lim, target)
                # draft() must come before anything that loads pixels (EXIF transposing).
                image.draft(None, target)
                limits.check_source(image.size, 1, lim)
            flags = animation.moving(info, specs, plans, lim)
            if any(flags):
                return _render_animated(image, info, specs, plans, flags, settings)
            _load(image)
            late = probe.orientation(image)
            if late != info.orientation:
                # A PNG eXIf chunk after the pixel data is only seen now; rare, so plan again.
                plans = _plans(specs, _oriented(info.size, late), lim)
            decoded = _decoded(image, specs, plans)
            if decoded.pixels is not image:
                image.close()  # frees the full-size decode before resizing and encoding
            # Once per source, from the pixels decoded for the thumbnails anyway.
            placeholder = lqip.compute(decoded.pixels, decoded.extent)
            pairs = zip(specs, plans, strict=True)
            return [
                replace(_render_one(decoded, spec, p, info.format, settings), lqip=placeholder)
                for spec, p in pairs
            ]


def _render_animated(
    image: Image.Image,
    info: probe.SourceInfo,
    specs: Sequence[Spec],
    plans: Sequence[Plan],
    flags: Sequence[bool],
    settings: Settings,
) -> list[Rendered]:
    """Decode every frame once, in order, and shape it for every animated spec at once, so
    only one source canvas is held at a time; the other specs take the first frame."""
    shaped: list[list[Image.Image]] = [[] for _ in specs]
    iccs: list[bytes | None] = [None] * len(specs)
    boxes: list[Box | None] = [None] * len(specs)
    durations: list[int] = []
    disposal: list[str] = []
    placeholder = lqip.EMPTY
    plays = animation.plays(info.format, image.info)
    for index in range(info.frames):
        with _mapped_errors():
            frame = animation.frame(image, index, info.orientation)
        if frame is None:
            break  # fewer frames than the header counted (a truncated file): keep those
        durations.append(round(float(image.info.get("duration") or 0)))
        disposal.append(animation.disposal(image, info.format))
        decoded = Decoded(frame, (float(frame.width), float(frame.height)))
        if index == 0:  # the placeholder shows the first frame, as a paused animation does
            placeholder = lqip.compute(decoded.pixels, decoded.extent)
        for i, (spec, p) in enumerate(zip(specs, plans, strict=True)):
            if index == 0 or flags[i]:
                pixels, icc, boxes[i] = _shaped(decoded, spec, p, settings, boxes[i])
                shaped[i].append(pixels)
                iccs[i] = icc if index == 0 else iccs[i]
    webp = info.format == "WEBP"  # no disposal in WebP: its encoder picks its own
    timing = animation.Timing(tuple(durations), plays, None if webp else tuple(disposal))
    out = []
    for i, spec in enumerate(specs):
        fmt = _output_format(spec.format, info.format, shaped[i][0].mode)
        frames, kept = animation.merged(shaped[i], timing) if flags[i] else (shaped[i], timing)
        if len(frames) > 1:
            made = _encode_animation(frames, spec, fmt, iccs[i], settings, kept)
        else:
            made = _encode(frames[0], spec, fmt, iccs[i], settings)
        out.append(replace(made, lqip=placeholder))
    return out


def _encode_animation(
    frames: Sequence[Image.Image],
    spec: Spec,
    fmt: str,
    icc: bytes | None,
    settings: Settings,
    timing: animation.Timing,
) -> Rendered:
    modes, options = FORMATS[fmt]
    before = frames[0].mode
    fitted = [_fit_mode(frame, modes, spec) for frame in animation.unified(frames)]
    if fmt == "GIF":
        fitted = [animation.binary_alpha(frame) for frame in fitted]
    if _color_model(fitted[0].mode) != _color_model(before):
        icc = None
    first = fitted[0]
    alpha = first.mode in ("RGBA", "LA")
    moving = animation.pillow_options(fmt, timing, alpha)
    saved = {**options(first, spec, settings, icc), **moving}
    buffer = io.BytesIO()
    try:
        first.save(buffer, fmt, save_all=True, append_images=fitted[1:], **saved)
    except (OSError, ValueError) as exc:
        raise GenerationError(f"Encoding an animated {fmt} failed: {exc}") from exc
    return Rendered(buffer.getvalue(), first.width, first.height, fmt)


def _plans(specs: Sequence[Spec], size: tuple[int, int], lim: Limits) -> list[Plan]:
    return [limits.planned(spec, size, lim) for spec in specs]


def _oriented(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in SWAPPING_ORIENTATIONS else size


def _target(plans: Sequence[Plan], orientation: int) -> tuple[int, int]:
    """The decode size that covers every plan, in stored orientation (what draft() takes)."""
    width = max(p.decode[0] for p in plans)
    height = max(p.decode[1] for p in plans)
    return _oriented((width, height), orientation)


def _load(image: Image.Image) -> None:
    with _mapped_errors():
        image.load()


def _decoded(image: Image.Image, specs: Sequence[Spec], plans: Sequence[Plan]) -> Decoded:
    # A spec without geometry gives its processors the whole source: no reduction then.
    targets = [p.scaled for p in plans] if all(s.has_geometry for s in specs) else None
    with _mapped_errors():
        return decode(image, targets)


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except (MemoryError, Image.DecompressionBombError) as exc:
        raise SourceTooLarge(f"The source is too large to decode: {exc}") from exc
    except DECODE_ERRORS as exc:
        raise SourceUnreadable(f"The source cannot be decoded: {exc}") from exc


def _render_one(
    decoded: Decoded, spec: Spec, p: Plan, source_format: str, settings: Settings
) -> Rendered:
    image, icc, _box = _shaped(decoded, spec, p, settings)
    fmt = _output_format(spec.format, source_format, image.mode)
    return _encode(image, spec, fmt, icc, settings)


Box = tuple[int, int, int, int]


def _shaped(
    decoded: Decoded, spec: Spec, p: Plan, settings: Settings, box: Box | None = None
) -> tuple[Image.Image, bytes | None, Box | None]:
    """The output pixels of one spec (and the smart crop's box, which ``box`` can impose:
    every frame of an animation is cropped where its first frame was)."""
    image = decoded.pixels
    icc = image.info.get("icc_profile")
    if spec.colorspace == "GRAY" and image.mode not in ("L", "LA"):
        image = image.convert("LA" if image.mode == "RGBA" else "L")
        icc = None
    elif spec.colorspace == "RGB" and image.mode in ("L", "LA"):
        image = image.convert("RGBA" if image.mode == "LA" else "RGB")
        icc = None
    if spec.has_geometry:
        image = _resize(image, p, decoded.extent)
    if p.smart:
        box = box or entropy_box(image, p.cropped)
        image = image.crop(box)
    if p.canvas is not None:
        image = _pad(image, p.canvas, spec.padding_color)
    if spec.processors:
        model = _color_model(image.mode)
        image = _processed(image, spec, settings.limits)
        if _color_model(image.mode) != model:
            icc = None  # e.g. Convert("L"): an RGB profile must not describe grey pixels
    return image, icc, box


def _processed(image: Image.Image, spec: Spec, lim: Limits) -> Image.Image:
    """Run the spec's processors; they may change size and mode, so check both after."""

    def check(size: tuple[int, int]) -> None:
        limits.check_size(size, spec, lim)

    # Without a geometry the processors start from the full source, so their steps are held
    # to the source caps and only the result to the output caps.
    step_check = check if spec.has_geometry else _source_check(lim)
    try:
        image = pipeline.run(image, spec.processors, step_check)
        check(image.size)
    except ThumbkitError:
        raise
    except Exception as exc:  # a processor is user code: report it as a generation failure
        raise GenerationError(f"A processor of {spec.canonical!r} failed: {exc!r}") from exc
    return normalise(image)


def _source_check(lim: Limits) -> Callable[[tuple[int, int]], None]:
    def check(size: tuple[int, int]) -> None:
        limits.check_source(size, 1, lim)

    return check


def _resize(image: Image.Image, p: Plan, extent: tuple[float, float]) -> Image.Image:
    """Resize to the planned size, resampling only the crop box when there is one.

    ``extent`` is the whole source in ``image`` coordinates: its size, or less when the
    image holds a reduction whose last row or column of blocks was partial."""
    fx = extent[0] / p.scaled[0]
    fy = extent[1] / p.scaled[1]
    if p.crop is None:
        box = (0.0, 0.0, extent[0], extent[1])
        size = p.scaled
    else:
        left, top, right, bottom = p.crop
        box = (left * fx, top * fy, right * fx, bottom * fy)
        size = p.cropped
    if size == image.size and box == (0, 0, image.width, image.height):
        return image
    return image.resize(size, LANCZOS, box=box, reducing_gap=3.0)


def _pad(image: Image.Image, canvas: tuple[int, int], color: str) -> Image.Image:
    background = Image.new(image.mode, canvas, color)
    left = int((canvas[0] - image.width) / 2)
    top = int((canvas[1] - image.height) / 2)
    background.paste(image, (left, top))
    return background


def _output_format(fmt: str | None, source_format: str, mode: str) -> str:
    """The spec's format; else the source's if web-safe (AUTO: if every browser shows it),
    else PNG for transparency and JPEG for the rest."""
    if fmt is not None and fmt != AUTO:
        return fmt
    formats = UNIVERSAL_FORMATS if fmt == AUTO else WEB_FORMATS
    if source_format in formats:
        return formats[source_format]
    return "PNG" if mode in ("RGBA", "LA") else "JPEG"


def _encode(
    image: Image.Image, spec: Spec, fmt: str, icc: bytes | None, settings: Settings
) -> Rendered:
    modes, options = FORMATS[fmt]
    before = image.mode
    image = _fit_mode(image, modes, spec)
    if _color_model(image.mode) != _color_model(before):
        icc = None  # a grey profile cannot describe RGB pixels, and the reverse
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt, **options(image, spec, settings, icc))
    except (OSError, ValueError) as exc:
        raise GenerationError(f"Encoding {fmt} failed: {exc}") from exc
    return Rendered(buffer.getvalue(), image.width, image.height, fmt)


def _fit_mode(image: Image.Image, modes: frozenset[str], spec: Spec) -> Image.Image:
    if image.mode in modes:
        return image
    if image.mode in ("RGBA", "LA"):
        if image.mode[:-1] in modes:
            return _flatten(image, spec.background or "#ffffff")
        return image.convert("RGBA")
    return image.convert("RGB")


def _flatten(image: Image.Image, color: str) -> Image.Image:
    """Composite transparency onto a solid colour (white unless the spec says otherwise)."""
    base_mode = image.mode[:-1]
    background = Image.new(base_mode, image.size, color)
    background.paste(image, mask=image.getchannel("A"))
    background.info = dict(image.info)
    return background


def _color_model(mode: str) -> str:
    return "grey" if mode in ("L", "LA") else "rgb"

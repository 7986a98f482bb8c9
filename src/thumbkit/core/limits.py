"""LIMITS checks, on header facts and planned sizes only: they run before any decoding.

They read ``THUMBKIT["LIMITS"]`` and never touch Pillow's process-wide ``MAX_IMAGE_PIXELS``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..conf import Limits
from ..exceptions import OutputTooLarge, SourceTooLarge
from . import pipeline
from .geometry import Plan, plan
from .spec import Spec


def check_bytes(size: int, limits: Limits) -> None:
    cap = limits.max_source_bytes
    if cap is not None and size > cap:
        raise SourceTooLarge(f"The source is {size} bytes; LIMITS['MAX_SOURCE_BYTES'] is {cap}.")


def check_source(decoded: tuple[int, int], frames: int, limits: Limits, reason: str = "") -> None:
    """``decoded`` is the size the decoder will produce (after JPEG draft scaling)."""
    pixels = decoded[0] * decoded[1]
    cap = limits.max_source_pixels
    if cap is not None and pixels > cap:
        raise SourceTooLarge(
            f"The source decodes to {decoded[0]}x{decoded[1]} = {pixels} pixels{reason}; "
            f"LIMITS['MAX_SOURCE_PIXELS'] is {cap} ({pixels / cap:.2f} times the cap)."
        )
    check_frames(frames, limits)


def check_frames(frames: int, limits: Limits) -> None:
    """``frames`` may be a count that stopped at the cap + 1: it is then "at least"."""
    cap = limits.max_frames
    if cap is not None and frames > cap:
        raise SourceTooLarge(
            f"The source has {frames} frames or more; LIMITS['MAX_FRAMES'] is {cap}."
        )


def check_animation(
    canvas: tuple[int, int],
    frames: int,
    outputs: Sequence[tuple[int, int]],
    limits: Limits,
) -> None:
    """The budget of an animation kept animated: every frame is decoded onto the whole canvas,
    and every output holds one resized frame per source frame. ``frames`` is the header's
    count, so this runs before the first frame is decoded."""
    cap = limits.max_animation_pixels
    if cap is None:
        return
    sizes = [("decodes to", canvas)] + [("would make", size) for size in outputs]
    for what, (width, height) in sizes:
        total = frames * width * height
        if total > cap:
            raise SourceTooLarge(
                f"The animation {what} {frames} frames of {width}x{height} = {total} pixels; "
                f"LIMITS['MAX_ANIMATION_PIXELS'] is {cap} ({total / cap:.2f} times the cap)."
            )


def check_request(spec: Spec, limits: Limits) -> None:
    """Refuse a spec whose requested box alone is over the output caps (no source needed)."""
    side = limits.max_output_side
    for value in (spec.width, spec.height):
        if side is not None and value is not None and value > side:
            raise OutputTooLarge(
                f"Spec {spec.canonical!r} asks for {value} px; LIMITS['MAX_OUTPUT_SIDE'] is {side}."
            )


def planned(spec: Spec, source: tuple[int, int], limits: Limits) -> Plan:
    """The plan of ``spec`` for a source of ``source`` size (EXIF-oriented), within LIMITS.

    Below the output caps this is ``geometry.plan`` (sorl-thumbnail's sizes). When only the
    source's shape takes the output over them (a 1080x6000 screenshot under ``"1280"`` keeps
    its 6000 px height, and a 100x10 banner under ``"x3000 upscale"`` is 30000 px wide), the
    output is scaled down, keeping its aspect ratio, until its longest side is at most
    ``MAX_OUTPUT_SIDE`` and its pixels at most ``MAX_OUTPUT_PIXELS``: an upload must not make a
    page fail. A spec whose box itself is over the caps still raises ``OutputTooLarge``.
    """
    return check_output(plan(spec, source), spec, limits)


def check_output(p: Plan, spec: Spec, limits: Limits) -> Plan:
    """Check a planned output; returns the plan, clamped when the source's shape is to blame."""
    if spec.has_geometry:
        factor = _fit_factor(p.output, limits)
        if factor < 1 and not _asks_too_much(spec, limits):
            p = _shrunk(p, factor)
        check_size(p.output, spec, limits)
        return p
    # A processors-only spec: check what its processors will make, when they can tell;
    # otherwise the engine checks the result once they have run.
    predicted = pipeline.output_size(spec.processors, p.source)
    if predicted is not None and _fit_factor(predicted, limits) < 1:
        _blame_processors_only(spec, p.source, limits)
        check_size(predicted, spec, limits)
    return p


def _blame_processors_only(spec: Spec, source: tuple[int, int], limits: Limits) -> None:
    """Raise SourceTooLarge when the source, not the spec, takes a processors-only output over
    the caps: the same processors on the source brought within the caps would fit (an
    ``Adjust()`` that keeps a 6000 px upload's size), so the upload is what templates skip."""
    factor = _fit_factor(source, limits)
    if factor >= 1:
        return  # the source fits: the processors themselves make too much
    fitted = (max(1, int(source[0] * factor)), max(1, int(source[1] * factor)))
    smaller = pipeline.output_size(spec.processors, fitted)
    if smaller is not None and _fit_factor(smaller, limits) >= 1:
        raise SourceTooLarge(
            f"The source is {source[0]}x{source[1]}; spec {spec.canonical!r} keeps it over the "
            f"output caps (LIMITS['MAX_OUTPUT_SIDE'] {limits.max_output_side}, "
            f"LIMITS['MAX_OUTPUT_PIXELS'] {limits.max_output_pixels})."
        )


def _fit_factor(size: tuple[int, int], limits: Limits) -> float:
    """The scale that brings ``size`` within the output caps (1.0 when it is within)."""
    factor = 1.0
    side, cap = limits.max_output_side, limits.max_output_pixels
    if side is not None and max(size) > side:
        factor = side / max(size)
    if cap is not None and size[0] * size[1] > cap:
        factor = min(factor, math.sqrt(cap / (size[0] * size[1])))
    return factor


def _asks_too_much(spec: Spec, limits: Limits) -> bool:
    """The spec's box itself, not the source's shape, takes the output over the caps."""
    side, cap = limits.max_output_side, limits.max_output_pixels
    given = [v for v in (spec.width, spec.height) if v is not None]
    if side is not None and any(v > side for v in given):
        return True
    return cap is not None and len(given) == 2 and given[0] * given[1] > cap


def _shrunk(p: Plan, factor: float) -> Plan:
    """``p`` with every size scaled by ``factor`` (< 1), rounded down, at least 1 px."""

    def scale(n: int) -> int:
        # The epsilon keeps 6000 * (4096 / 6000) at 4096, not 4095.
        return max(1, int(n * factor + 1e-9))

    scaled = (scale(p.scaled[0]), scale(p.scaled[1]))
    crop = None
    if p.crop is not None:
        left, top, right, bottom = p.crop
        width, height = min(scale(right - left), scaled[0]), min(scale(bottom - top), scaled[1])
        left = min(int(left * factor), scaled[0] - width)
        top = min(int(top * factor), scaled[1] - height)
        crop, cropped = (left, top, left + width, top + height), (width, height)
    elif p.smart:
        cropped = (min(scale(p.cropped[0]), scaled[0]), min(scale(p.cropped[1]), scaled[1]))
    else:
        cropped = scaled
    canvas = None
    if p.canvas is not None:
        canvas = (max(scale(p.canvas[0]), cropped[0]), max(scale(p.canvas[1]), cropped[1]))
    return Plan(p.source, scaled, crop, p.smart, cropped, canvas, p.need)


def check_size(size: tuple[int, int], spec: Spec, limits: Limits) -> None:
    """Refuse an output size over the caps (planned, or made by a spec's processors)."""
    width, height = size
    side, cap = limits.max_output_side, limits.max_output_pixels
    if side is not None and max(width, height) > side:
        raise OutputTooLarge(
            f"Spec {spec.canonical!r} would make {width}x{height}; "
            f"LIMITS['MAX_OUTPUT_SIDE'] is {side}."
        )
    if cap is not None and width * height > cap:
        raise OutputTooLarge(
            f"Spec {spec.canonical!r} would make {width * height} pixels; "
            f"LIMITS['MAX_OUTPUT_PIXELS'] is {cap}."
        )

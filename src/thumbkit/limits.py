"""LIMITS checks, on header facts and planned sizes only: they run before any decoding.

They read ``THUMBKIT["LIMITS"]`` and never touch Pillow's process-wide ``MAX_IMAGE_PIXELS``.
"""

from __future__ import annotations

from . import pipeline
from .conf import Limits
from .exceptions import OutputTooLarge, SourceTooLarge
from .geometry import Plan
from .spec import Spec


def check_bytes(size: int, limits: Limits) -> None:
    cap = limits.max_source_bytes
    if cap is not None and size > cap:
        raise SourceTooLarge(f"The source is {size} bytes; LIMITS['MAX_SOURCE_BYTES'] is {cap}.")


def check_source(decoded: tuple[int, int], frames: int, limits: Limits) -> None:
    """``decoded`` is the size the decoder will produce (after JPEG draft scaling)."""
    pixels = decoded[0] * decoded[1]
    cap = limits.max_source_pixels
    if cap is not None and pixels > cap:
        raise SourceTooLarge(
            f"The source decodes to {decoded[0]}x{decoded[1]} = {pixels} pixels; "
            f"LIMITS['MAX_SOURCE_PIXELS'] is {cap}."
        )
    if limits.max_frames is not None and frames > limits.max_frames:
        raise SourceTooLarge(
            f"The source has {frames} frames; LIMITS['MAX_FRAMES'] is {limits.max_frames}."
        )


def check_request(spec: Spec, limits: Limits) -> None:
    """Refuse a spec whose requested box alone is over the output caps (no source needed)."""
    side = limits.max_output_side
    for value in (spec.width, spec.height):
        if side is not None and value is not None and value > side:
            raise OutputTooLarge(
                f"Spec {spec.canonical!r} asks for {value} px; LIMITS['MAX_OUTPUT_SIDE'] is {side}."
            )


def check_output(plan: Plan, spec: Spec, limits: Limits) -> None:
    if spec.has_geometry:
        check_size(plan.output, spec, limits)
        return
    # A processors-only spec: check what its processors will make, when they can tell;
    # otherwise the engine checks the result once they have run.
    predicted = pipeline.output_size(spec.processors, plan.source)
    if predicted is not None:
        check_size(predicted, spec, limits)


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

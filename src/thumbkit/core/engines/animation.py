"""Animated sources kept animated: which specs animate, their budget, and frame timing.

Both engines share these rules, so an animation makes the same frames, durations and loop
count on either:

- A GIF, WebP or APNG source with more than one frame animates every spec whose output
  format can hold an animation (GIF, WebP, PNG) unless the spec says ``animated=False``;
  a JPEG or AVIF output, or ``animated=False``, takes the first frame.
- Before the first frame is decoded, ``LIMITS["MAX_FRAMES"]`` (from the probe's count) and
  ``LIMITS["MAX_ANIMATION_PIXELS"]`` (frames x canvas, and frames x each animated output)
  must hold.
- Every output frame is a whole composited canvas, resized like a still image; the source's
  per-frame durations and its loop count are written back, and its disposal methods where
  the output format has them (GIF, APNG) and the encoder can honour them.

The loop count is kept as *plays* (0: forever), the way libvips and APNG count: a GIF
without a NETSCAPE block plays once, and its NETSCAPE count N (N > 0) means N + 1 plays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageChops

from ...conf import Limits
from ...exceptions import SourceUnreadable
from .. import limits
from ..geometry import Plan
from ..probe import SourceInfo
from ..spec import AUTO, UNIVERSAL_FORMATS, Spec
from .shrink import normalise

SOURCES = frozenset({"GIF", "WEBP", "PNG"})  # animated sources kept animated
OUTPUTS = frozenset({"GIF", "WEBP", "PNG"})  # formats an animated output is written in

# Disposal, format-neutral: what happens to a frame's area before the next one is drawn.
UNSPECIFIED, KEEP, BACKGROUND, PREVIOUS = "unspecified", "none", "background", "previous"
_FROM_GIF = {0: UNSPECIFIED, 1: KEEP, 2: BACKGROUND, 3: PREVIOUS}
_FROM_APNG = {0: KEEP, 1: BACKGROUND, 2: PREVIOUS}
# Pillow's GIF writer diffs each frame against the one before it, so "restore to previous"
# would show the wrong pixels; the frames are whole canvases, so "keep" draws the same.
_TO_GIF = {UNSPECIFIED: 0, KEEP: 1, BACKGROUND: 2, PREVIOUS: 1}
_TO_APNG = {UNSPECIFIED: 0, KEEP: 0, BACKGROUND: 1, PREVIOUS: 2}


@dataclass(frozen=True)
class Timing:
    """How an animation plays: per-frame durations (ms), plays (0: forever), disposal."""

    durations: tuple[int, ...]
    plays: int
    disposal: tuple[str, ...] | None = None  # None: the source has none (WebP) or unread


def is_animation(info: SourceInfo) -> bool:
    return info.frames > 1 and info.format in SOURCES


def animates(spec: Spec, source_format: str) -> bool:
    """Does ``spec`` make an animated output from an animated source of this format?"""
    fmt = spec.format or source_format
    if fmt == AUTO:  # the format every browser shows: GIF stays GIF
        fmt = UNIVERSAL_FORMATS.get(source_format, "")
    return spec.animated and fmt in OUTPUTS


def moving(
    info: SourceInfo, specs: Sequence[Spec], plans: Sequence[Plan], lim: Limits
) -> list[bool]:
    """Which specs animate; raises ``SourceTooLarge`` when their budget is over LIMITS."""
    if not is_animation(info):
        return [False] * len(specs)
    flags = [animates(spec, info.format) for spec in specs]
    if any(flags):
        outputs = [p.output for p, flag in zip(plans, flags, strict=True) if flag]
        limits.check_animation(info.size, info.frames, outputs, lim)
    return flags


def plays(source_format: str, info: Mapping[Any, Any]) -> int:
    """The plays of an animation from its Pillow ``info`` (GIF's NETSCAPE count, else loop)."""
    loop = info.get("loop")
    if source_format == "GIF":
        if loop is None:
            return 1
        return 0 if int(loop) == 0 else int(loop) + 1
    return int(loop or 0)


def gif_loop(count: int) -> int | None:
    """The NETSCAPE loop value for ``count`` plays; None: write no NETSCAPE block."""
    if count == 1:
        return None
    return 0 if count == 0 else count - 1


def from_gif(method: int) -> str:
    return _FROM_GIF.get(method, UNSPECIFIED)


def from_apng(method: int) -> str:
    return _FROM_APNG.get(method, KEEP)


def pillow_options(fmt: str, timing: Timing, alpha: bool = False) -> dict[str, Any]:
    """Pillow's ``save(save_all=True)`` options for ``timing`` in output format ``fmt``
    (``alpha``: the frames have transparency)."""
    options: dict[str, Any] = {"duration": list(timing.durations)}
    if fmt == "GIF":
        loop = gif_loop(timing.plays)
        if loop is not None:
            options["loop"] = loop
        if timing.disposal is not None:
            options["disposal"] = _one_or_all([_TO_GIF[d] for d in timing.disposal])
        elif alpha:
            # From a WebP: a pixel may turn clear again, which only a frame drawn on a
            # cleared canvas can show.
            options["disposal"] = 2
        return options
    options["loop"] = timing.plays
    if fmt == "PNG" and timing.disposal is not None:
        # Blending stays "source": each frame is a whole canvas, so it replaces the last.
        options["disposal"] = _one_or_all([_TO_APNG[d] for d in timing.disposal])
    return options


def _one_or_all(methods: list[int]) -> int | list[int]:
    # One value when they agree: Pillow's GIF writer reads a list as one int when the frames
    # it is given turn out to be a single frame (identical after quantising).
    return methods[0] if len(set(methods)) == 1 else methods


# --- Pillow frames ---------------------------------------------------------------------------


TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def frame(image: Image.Image, index: int, orientation: int) -> Image.Image | None:
    """Frame ``index`` as its own RGB, RGBA, L or LA image (EXIF-oriented); None past the
    last frame. Seeking in order decodes each frame once."""
    try:
        image.seek(index)
    except EOFError:
        if index == 0:
            raise SourceUnreadable("The animated source has no readable frame.") from None
        return None
    image.load()  # the caller maps decoding errors
    pixels = normalise(image)
    if pixels is image:
        pixels = image.copy()  # the next seek overwrites the decoder's canvas
    method = TRANSPOSE.get(orientation)
    return pixels if method is None else pixels.transpose(method)


def disposal(image: Image.Image, fmt: str) -> str:
    if fmt == "GIF":
        return from_gif(int(getattr(image, "disposal_method", 0)))
    return from_apng(int(image.info.get("disposal", 0)))


def unified(frames: Sequence[Image.Image]) -> list[Image.Image]:
    """One mode for every frame (a GIF's first frame is opaque P, the next ones RGBA...)."""
    modes = {frame.mode for frame in frames}
    if len(modes) == 1:
        return list(frames)
    alpha = bool(modes & {"RGBA", "LA"})
    grey = modes <= {"L", "LA"}
    target = ("LA" if grey else "RGBA") if alpha else ("L" if grey else "RGB")
    return [frame if frame.mode == target else frame.convert(target) for frame in frames]


def binary_alpha(frame: Image.Image) -> Image.Image:
    """A frame with alpha as a GIF holds it: opaque or clear, every clear pixel one colour.

    Resampling leaves soft edges and clear pixels of many colours; quantised as they are,
    some of them land on opaque palette entries and show as stray colours."""
    if frame.mode not in ("RGBA", "LA"):
        return frame
    alpha = frame.getchannel("A").point([0] * 128 + [255] * 128)
    out = Image.new(frame.mode, frame.size, 0)
    out.paste(frame, mask=alpha)
    out.putalpha(alpha)
    return out


def merged(frames: Sequence[Image.Image], timing: Timing) -> tuple[list[Image.Image], Timing]:
    """Consecutive identical frames made one, their durations added: the encoders do it too,
    but an animation left with one frame must then be written as a still image."""
    disposal = timing.disposal or (UNSPECIFIED,) * len(frames)
    kept, durations, methods = [frames[0]], [timing.durations[0]], [disposal[0]]
    for shot, duration, method in zip(frames[1:], timing.durations[1:], disposal[1:], strict=True):
        if method == methods[-1] and _same(shot, kept[-1]):
            durations[-1] += duration
            continue
        kept.append(shot)
        durations.append(duration)
        methods.append(method)
    return kept, Timing(tuple(durations), timing.plays, tuple(methods) if timing.disposal else None)


def _same(a: Image.Image, b: Image.Image) -> bool:
    if a.mode != b.mode or a.size != b.size:
        return False
    return ImageChops.difference(a, b).getbbox(alpha_only=False) is None

"""Post-processors that shrink encoded thumbnails without changing their pixels.

Pillow's own ``optimize``/``progressive`` JPEG flags are always on; these go further and are
optional: ``pip install django-thumbkit[optimize]`` for MozJpeg and OxiPng. Use them in a
spec's ``post_processors``::

    "SPECS": {"card": {"size": "320x240", "post_processors": ["thumbkit.optimize.MozJpeg"]}}
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from .exceptions import ConfigurationError, GenerationError


class MozJpeg:
    """Lossless JPEG re-encoding with mozjpeg's entropy coding (about 7% smaller)."""

    # (module, extra) the system checks look for (thumbkit.E005), before any thumbnail fails.
    thumbkit_requires = ("mozjpeg_lossless_optimization", "optimize")

    def process(self, data: bytes, fmt: str) -> bytes:
        if fmt != "JPEG":
            return data
        try:
            import mozjpeg_lossless_optimization as mozjpeg
        except ImportError as exc:
            raise ConfigurationError(
                "MozJpeg needs mozjpeg-lossless-optimization: "
                "pip install 'django-thumbkit[optimize]'."
            ) from exc
        return bytes(mozjpeg.optimize(data))

    def thumbkit_text(self) -> str:
        return "thumbkit.optimize.MozJpeg()"


class OxiPng:
    """Lossless PNG recompression with oxipng; ``level`` 2 is a good speed/size balance."""

    thumbkit_requires = ("oxipng", "optimize")

    def __init__(self, level: int = 2) -> None:
        self.level = level

    def process(self, data: bytes, fmt: str) -> bytes:
        if fmt != "PNG":
            return data
        try:
            import oxipng
        except ImportError as exc:
            raise ConfigurationError(
                "OxiPng needs pyoxipng: pip install 'django-thumbkit[optimize]'."
            ) from exc
        return bytes(oxipng.optimize_from_memory(data, level=self.level))


class Command:
    """Pipe the file through an external tool (jpegoptim, optipng, pngquant, cwebp...).

    ``args`` run with the image on stdin and must write the result to stdout, for example
    ``Command(["jpegoptim", "--strip-all", "--stdout", "-"], formats=["JPEG"])``. A tool that
    fails, times out or prints nothing raises ``GenerationError``: nothing half-done is kept.
    """

    def __init__(self, args: Sequence[str], formats: Sequence[str] = (), timeout: float = 30):
        if isinstance(args, str) or not args:
            raise ValueError("Command needs a program and its arguments, as a list")
        self.args = list(args)
        self.formats = [f.upper() for f in formats]
        self.timeout = timeout

    def process(self, data: bytes, fmt: str) -> bytes:
        if self.formats and fmt not in self.formats:
            return data
        try:
            done = subprocess.run(
                self.args, input=data, capture_output=True, timeout=self.timeout, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise GenerationError(f"The optimizer {self.args[0]!r} failed: {exc}") from exc
        if not done.stdout:
            raise GenerationError(f"The optimizer {self.args[0]!r} wrote nothing.")
        return done.stdout

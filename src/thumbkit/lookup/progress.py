"""The progress line the bulk commands write on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class Progress:
    """``label [#####-----] 12/100  12% 3.4/s ETA 0:25`` on a stream (stderr).

    On a terminal the line is redrawn in place at most ten times a second; elsewhere (logs,
    CI) a full line is written every ``interval`` seconds and at the end.
    """

    def __init__(
        self,
        total: int,
        stream: Any,
        label: str = "",
        enabled: bool = True,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.stream, self.label, self.enabled = total, stream, label, enabled
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.1 if self.tty else 5.0)
        self.clock = clock
        self.done = 0
        self.start = self.drawn = clock()

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.enabled and self.clock() - self.drawn >= self.interval:
            self._draw()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            if self.tty:
                self._write("\n")

    def line(self) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        filled = round(share * 24)
        left = (self.total - self.done) / rate if rate else None
        return (
            f"{self.label} [{'#' * filled}{'-' * (24 - filled)}] {self.done}/{self.total} "
            f"{share:4.0%} {rate:.1f}/s ETA {_clock(left)}"
        ).lstrip()

    def _draw(self) -> None:
        self.drawn = self.clock()
        self._write(f"\r{self.line()}\033[K" if self.tty else f"{self.line()}\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text, ending="")  # a management command's OutputWrapper
        except TypeError:
            self.stream.write(text)
        self.stream.flush()


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"

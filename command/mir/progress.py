"""Progress reporting: a callback for the controller, a bar on a terminal, silence otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

ProgressFn = Callable[[float, str], None]


class Progress:
    """Reports ``(fraction 0..1, stage message)``; phases map their own 0..1 onto a share of the task."""

    def __init__(self, callback: ProgressFn | None = None, *, bar: bool | None = None) -> None:
        self.callback = callback
        self.bar = sys.stderr.isatty() if bar is None else bar
        self._last = 0.0
        self._lo, self._hi = 0.0, 1.0

    def phase(self, lo: float, hi: float) -> Progress:
        """Subsequent updates of 0..1 land in ``lo..hi`` of the whole task."""
        self._lo, self._hi = lo, hi
        return self

    def update(self, fraction: float, stage: str) -> None:
        """Report that the current phase is ``fraction`` done."""
        value = self._lo + (self._hi - self._lo) * min(max(fraction, 0.0), 1.0)
        if self.callback is not None:
            self.callback(value, stage)
        now = time.monotonic()
        if self.bar and (now - self._last > 0.1 or value >= 1.0):
            self._last = now
            width = 30
            filled = int(value * width)
            sys.stderr.write(
                f"\r{stage[:40]:<40} [{'#' * filled}{'.' * (width - filled)}] {value * 100:5.1f}%"
            )
            if value >= 1.0:
                sys.stderr.write("\n")
            sys.stderr.flush()

    def done(self, stage: str = "done") -> None:
        """Report completion."""
        self._lo, self._hi = 0.0, 1.0
        self.update(1.0, stage)

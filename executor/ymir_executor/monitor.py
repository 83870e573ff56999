"""Writes ``monitor.txt``, the one-record progress file the platform polls.

Format (overwritten on each write): ``<task_id>\\t<time>\\t<percent>\\t<state>[\\t<code>\\t<message>]``,
followed by optional free-text lines (a traceback on error).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

STATE_RUNNING = 2
STATE_DONE = 3
STATE_ERROR = 4


@dataclass
class Monitor:
    """Progress writer that maps a sub-task's 0..1 progress into ``[lo, hi]`` of the whole run.

    Writes are rate-limited to one every ``min_interval_s`` seconds, except the first and final ones.
    """

    path: Path
    task_id: str
    lo: float = 0.0
    hi: float = 1.0
    min_interval_s: float = 1.0
    _last_write: float = 0.0

    def span(self, lo: float, hi: float) -> Monitor:
        """A monitor for a part of this run: 0..1 there maps to ``[lo, hi]`` of this monitor's range."""
        width = self.hi - self.lo
        return dataclasses.replace(self, lo=self.lo + lo * width, hi=self.lo + hi * width, _last_write=0.0)

    def progress(self, fraction: float, *, force: bool = False) -> None:
        """Reports ``fraction`` (0..1) of this monitor's range as done, in state running."""
        now = time.time()
        if not force and now - self._last_write < self.min_interval_s:
            return
        self._last_write = now
        percent = self.lo + min(max(fraction, 0.0), 1.0) * (self.hi - self.lo)
        self._write(f"{self.task_id}\t{now:.6f}\t{percent:.4f}\t{STATE_RUNNING}\n")

    def done(self) -> None:
        """Reports the whole run as finished (percent 1, state done)."""
        self._write(f"{self.task_id}\t{time.time():.6f}\t1.0000\t{STATE_DONE}\n")

    def error(self, *, code: int, message: str, detail: str = "") -> None:
        """Reports failure: state error with the contract's return code and a one-line message."""
        one_line = " ".join(message.split())
        text = f"{self.task_id}\t{time.time():.6f}\t{self.lo:.4f}\t{STATE_ERROR}\t{code}\t{one_line}\n"
        if detail:
            text += "\n".join(detail.rstrip().splitlines()[-100:]) + "\n"
        self._write(text)

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")  # one per process: never shared
        tmp.write_text(text)
        os.replace(tmp, self.path)


@dataclass
class SilentMonitor(Monitor):
    """The monitor of every rank but the first in distributed training: rank 0 alone reports progress."""

    def _write(self, text: str) -> None:
        return None

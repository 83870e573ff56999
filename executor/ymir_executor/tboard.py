"""TensorBoard scalars under the contract's tensorboard folder (tensorboardX event files)."""

from __future__ import annotations

from pathlib import Path

from tensorboardX import SummaryWriter


class Scalars:
    """Appends scalars; a disabled instance (non-zero DDP ranks) writes nothing."""

    def __init__(self, log_dir: Path, *, enabled: bool = True) -> None:
        self._writer = SummaryWriter(str(log_dir)) if enabled else None

    def add(self, tag: str, value: float, step: int) -> None:
        """Records ``value`` of ``tag`` at ``step``."""
        if self._writer is not None:
            self._writer.add_scalar(tag, value, step)

    def close(self) -> None:
        """Flushes and closes the event file."""
        if self._writer is not None:
            self._writer.close()

"""GPU slots: a task needing N GPUs waits until N are free, holds them while it runs, and always
gives them back.

Each GPU id is a lock file held with ``flock``: the kernel releases it when the holding process
ends in any way (returns, raises, is cancelled, or is killed with SIGKILL), so a slot can never
leak, and two tasks can never hold the same GPU. The lock folder is machine-local, like the GPUs.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class NotEnoughGpus(ValueError):
    """More GPUs requested than the machine has configured."""


@contextmanager
def gpu_slots(
    lock_dir: Path,
    gpu_ids: list[str],
    count: int,
    *,
    should_cancel: Callable[[], bool] | None = None,
    on_wait: Callable[[float], None] | None = None,
    poll: float = 0.25,
) -> Iterator[list[str]]:
    """Hold ``count`` of ``gpu_ids`` for the ``with`` block (waiting for them as long as needed)."""
    if count <= 0:
        yield []
        return
    if count > len(gpu_ids):
        raise NotEnoughGpus(
            f"the task asks for {count} GPU(s) but this worker has {len(gpu_ids)} "
            f"({', '.join(gpu_ids) or 'none'}); set YMIR_GPU_IDS or ask for fewer"
        )
    lock_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    while True:
        held: list[tuple[str, int]] = []
        for gid in gpu_ids:
            fd = os.open(lock_dir / f"gpu-{gid}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            held.append((gid, fd))
            if len(held) == count:
                break
        if len(held) == count:
            break
        for _gid, fd in held:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        if should_cancel is not None and should_cancel():
            raise InterruptedError("cancelled while waiting for a GPU")
        if on_wait is not None:
            on_wait(time.monotonic() - started)
        time.sleep(poll)
    try:
        yield [gid for gid, _fd in held]
    finally:
        for _gid, fd in held:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

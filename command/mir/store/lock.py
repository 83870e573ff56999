"""The repository write lock: an ``flock`` on ``.mir/lock``, held only while a write publishes.

Readers take no lock: every version they can reach is complete before a reference points at it.
The lock is released by the kernel when its holder dies, so a killed writer never blocks the next.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mir.errors import LockTimeoutError


@contextmanager
def write_lock(path: Path, *, timeout: float = 3600.0, poll: float = 0.02) -> Iterator[None]:
    """Hold the exclusive lock at ``path`` for the ``with`` block, waiting up to ``timeout`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    raise LockTimeoutError(
                        f"the repository lock {path} is still held{holder} after {timeout:.0f} s",
                        fix="wait for the other mir command to finish, then retry",
                    ) from e
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" by process {pid}" if pid else ""


def is_locked(path: Path) -> bool:
    """True when some process holds the lock now (for ``mir status``)."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)

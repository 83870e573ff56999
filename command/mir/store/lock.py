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
        _acquire(fd, fcntl.LOCK_EX, timeout=timeout, poll=poll, what=f"the repository lock {path}")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def media_lock(
    location: Path, *, exclusive: bool, timeout: float = 3600.0, poll: float = 0.05
) -> Iterator[None]:
    """Hold the media location's lock (``<location>/.lock``) for the ``with`` block.

    Imports hold it shared from their first stored image to their commit; ``mir gc`` holds it exclusive.
    Without it, gc could delete an unreferenced image at the moment an import of the same bytes finds
    it present (and so does not write it), and that import would commit a version naming a missing file.
    A shared holder's forked workers inherit the descriptor, but the explicit unlock at the end releases
    the lock for all of them (``flock`` locks belong to the open file, which they share).
    """
    location.mkdir(parents=True, exist_ok=True)
    fd = os.open(location / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        op = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        _acquire(
            fd,
            op,
            timeout=timeout,
            poll=poll,
            what=f"the media location's lock {location / '.lock'}",
            fix="an import or `mir gc` is using the location: retry when it is done (gc also takes --wait)",
        )
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(
    fd: int,
    op: int,
    *,
    timeout: float,
    poll: float,
    what: str,
    fix: str = "wait for the other mir command to finish, then retry",
) -> None:
    """``flock(fd, op)``, retried every ``poll`` seconds for up to ``timeout`` (0: one try)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"{what} is still held{_holder(fd)} after {timeout:.0f} s",
                    fix=fix,
                ) from e
            time.sleep(poll)


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

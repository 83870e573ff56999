"""Mounts some tests need (a full disk, a read-only folder): they need root, and under CI they must work."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` on a tmpfs of ``size`` (``"2m"``) for the ``with`` block, to fill a disk on purpose.

    Skips where it cannot mount (not root); under ``CI=true`` fails instead.
    """
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs (the full-disk test needs root): {proc.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def read_only_prefix(folder: Path) -> list[str]:
    """A command prefix running the rest of a command line in a mount namespace of its own where
    ``folder`` is a read-only bind of itself: every write below it fails with ``EROFS`` in that process
    (and its children) alone, while every other process keeps writing there.

    Skips where ``unshare``/``mount`` are refused (not root); under ``CI=true`` fails instead.
    """
    probe = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1"',
            "sh",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot make a read-only bind mount (the test needs root): {probe.stderr.strip()}")
        pytest.skip(f"cannot make a read-only bind mount here: {probe.stderr.strip()}")
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", str(folder)]

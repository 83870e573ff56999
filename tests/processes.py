"""Child processes some tests start (an API server, podman's service): stopping them."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not exited after ``timeout`` seconds; returns once it has."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

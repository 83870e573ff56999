"""The API as its own process (``uvicorn ymir_backend.main:app`` on a free local port), for tests
that need a real server: one start, wait and stop for all of them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.processes import stop


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_process(
    *, env: dict[str, str], cwd: Path, log: Path, prefix: Sequence[str] = (), start_seconds: float = 300
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the API with ``env`` (``prefix`` runs it under another command, e.g. ``unshare``), wait
    until ``/health`` answers, and yield its base URL and process; stopped when the block ends. Fails
    with the end of ``log`` when it exits or does not answer within ``start_seconds`` (imports and
    migrations are slow on a busy machine)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "ymir_backend.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with open(log, "wb") as out:
        api = subprocess.Popen([*prefix, *cmd], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base, api
    finally:
        stop(api)

"""Wraps the fake executor for the multi-machine test: logs which machine (hostname) ran it, on which
GPU, when it began and when it ended, to ``HOST_LOG`` in the shared workplace.

    python host_executor.py HOST_LOG FAKE_EXECUTOR
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time


def main() -> int:
    log, fake = sys.argv[1], sys.argv[2]
    gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    with open(log, "a") as f:
        f.write(f"{socket.gethostname()} begin {time.time()} {gpu}\n")
    rc = subprocess.run([sys.executable, fake]).returncode
    with open(log, "a") as f:
        f.write(f"{socket.gethostname()} end {time.time()} {gpu}\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())

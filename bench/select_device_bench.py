"""Where ``balanced``'s selection should run: its lazy greedy on the CPU against the same on a GPU, alone and
while other processes keep that GPU busy, as the trainings and minings of other tasks do on a shared GPU.

The lazy greedy (``ymir_executor.balanced``) is thousands of small steps, each ending in a number the next
one needs (the pick, its gain). On a GPU each such step waits for its kernels behind whatever else is
queued there, so its time grows with the GPU's other work; on the CPU it does not. Each timing is the best
of ``--repeat`` on the pools of ``bench/select_bench.py``, budget 5% of the pool (the mining benchmark's
300 of 6,000) and 1% above 20,000. The busy processes run float32 matrix products of 2048 x 2048 in a loop.

Usage (on a machine with a GPU)::

    python bench/select_device_bench.py --n 6000,100000 --busy 0,8 [--threads 4]

Prints one JSON line per (pool, busy processes, device); figures in ``docs/benchmarks.md`` (mining).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "executor")]
from bench.select_bench import C, pool  # noqa: E402
from ymir_executor.balanced import balanced_order  # noqa: E402
from ymir_executor.mining import Boxes  # noqa: E402

BUSY = (
    "import torch\n"
    "a = torch.randn(2048, 2048, device='cuda')\n"
    "while True:\n"
    "    for _ in range(50):\n"
    "        b = a @ a\n"
    "    torch.cuda.synchronize()\n"
)


def seconds(boxes: Boxes, device: str, budget: int, repeat: int) -> float:
    """Best wall time of the selection with every tensor on ``device``, the result back on the host."""
    f = None if boxes.f is None else boxes.f.to(device)
    b = Boxes(boxes.u.to(device), boxes.s.to(device), boxes.q.to(device), f)
    best = float("inf")
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        picks, gains = balanced_order(
            b,
            class_weights=torch.ones(C, device=device),
            counts=torch.full((C,), 100.0, device=device),
            budget=budget,
            balance=0.5,
            radius=0.8,
        )
        picks.cpu(), gains.cpu()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="6000,100000", help="pool sizes, comma list")
    ap.add_argument("--busy", default="0,8", help="numbers of processes keeping the GPU busy, comma list")
    ap.add_argument("--threads", type=int, default=4, help="torch threads on the CPU")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--devices", default="cpu,cuda", help="devices to time, comma list")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    pools = {n: pool(n) for n in map(int, a.n.split(","))}
    for busy in map(int, a.busy.split(",")):
        procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
        try:
            time.sleep(8 if busy else 0)  # let them start their loops
            for n, boxes in pools.items():
                budget = n // 20 if n <= 20_000 else n // 100
                for device in a.devices.split(","):
                    s = seconds(boxes, device, budget, a.repeat)
                    row = {"n": n, "budget": budget, "busy": busy, "device": device, "seconds": round(s, 3)}
                    print(json.dumps(row), flush=True)
        finally:
            for p in procs:
                p.kill()


if __name__ == "__main__":
    main()

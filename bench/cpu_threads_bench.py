"""Concurrent CPU trainings with every core each (the old default) against a share of the cores each.

A worker runs up to ``YMIR_WORKER_CONCURRENCY`` tasks at once. Before, each executor on the CPU used every
core; now the platform gives each ``cores // concurrency`` threads through OMP_NUM_THREADS. This starts N
identical tiny trainings (``python -m ymir_executor``, as the local runtime does) at once, with
OMP_NUM_THREADS unset (``all``) and with ``mir.executors.runtime.fair_share(N)`` (``share``), alternating the
order each round, and prints the wall time of each batch (first start to last exit) with the load average
before it.

    .venv/bin/python -m bench.cpu_threads_bench --n 2 4 --rounds 2

Writes ``bench/out/cpu-threads.json``; the figures are in docs/executor.md ("CPU threads").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.synthetic import generate_voc
from mir.executors.runtime import fair_share, usable_cores
from tests.executor.workdir import voc_pairs, write_workdir

REPO = Path(__file__).resolve().parents[1]
CONFIG = {
    "class_names": ["circle", "square", "triangle"],
    "model_size": "tiny",
    "img_size": 96,
    "epochs": 3,
    "batch_size_per_gpu": 16,
    "workers_per_gpu": 0,
    "eval_interval": 3,
    "export_onnx": False,
}


def batch(data: Path, work: Path, n: int, threads: int | None) -> float:
    """Runs ``n`` trainings at once; returns the wall seconds of the whole batch."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    train, val = voc_pairs(data / "train"), voc_pairs(data / "val")
    procs = []
    t0 = time.monotonic()
    for i in range(n):
        din, dout = write_workdir(work / f"run{i}", task="training", config=CONFIG, train=train, val=val)
        run_env = env | {"YMIR_EXECUTOR_IN": str(din), "YMIR_EXECUTOR_OUT": str(dout)}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "ymir_executor"],
                env=run_env,
                stdout=subprocess.DEVNULL,
                stderr=open(work / f"run{i}.log", "w"),  # noqa: SIM115 - closed with the process
            )
        )
    codes = [p.wait() for p in procs]
    wall = time.monotonic() - t0
    if any(codes):
        raise SystemExit(f"a training failed ({codes}); see {work}/run*.log")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2, 4], help="trainings at once")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--images", type=int, default=200, help="training images (96x96)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "cpu-threads")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "data"
    if not (data / "val").is_dir():
        generate_voc(data / "train", n_images=args.images, seed=1, image_size=(96, 96))
        generate_voc(data / "val", n_images=40, seed=2, image_size=(96, 96))
    rows: list[dict[str, Any]] = []
    for n in args.n:
        for r in range(args.rounds):
            order = [("all", None), ("share", fair_share(n))]
            for mode, threads in order if r % 2 == 0 else order[::-1]:
                load = os.getloadavg()[0]
                wall = batch(data, args.out / f"n{n}-r{r}-{mode}", n, threads)
                rows.append(
                    {"n": n, "round": r, "mode": mode, "threads": threads, "wall_s": wall, "load1": load}
                )
                print(f"n={n} round={r} {mode:5} threads={threads or 'all'}: {wall:6.1f} s (load {load:.2f})")
    print(f"\n{usable_cores()} cores; median wall seconds per batch")
    for n in args.n:
        med = {
            m: statistics.median(x["wall_s"] for x in rows if x["n"] == n and x["mode"] == m)
            for m in ("all", "share")
        }
        share = f"{fair_share(n)} thread(s) each {med['share']:.1f} s"
        print(f"  {n} at once: all cores each {med['all']:.1f} s, {share}")
    (args.out.parent / "cpu-threads.json").write_text(
        json.dumps({"cores": usable_cores(), "config": CONFIG, "images": args.images, "runs": rows}, indent=1)
    )


if __name__ == "__main__":
    main()

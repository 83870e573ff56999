"""Where a small training's time goes: process start, setup, the step loop, evaluation, saving (issue 15).

A round of active learning trains a few hundred small images; its cost should be the GPU's work, not
overhead. This runs the executor as the platform does (``python -m ymir_executor`` in its own process, on
a work directory) on the mining benchmark's data and splits the wall time into phases:

  start        process start and imports, until the task begins
  setup        reading annotations, decoding and caching the images, building the model
  loop         the training steps (augmentation on the device, forward, backward, optimiser, EMA)
  evaluation   the validation set, saving the stages, the ONNX export (off here), and the process exit

and, on a GPU, the same step in a tight loop (``ceiling``: this code's best rate) and the GPU's own
kernel time per step from the profiler (``gpu-bound``: the rate if launching kernels cost nothing).
``--executor-src`` runs other copies of ``ymir_executor`` (a checkout of an older commit) on the same data:

    python -m bench.train_cost_bench --out bench/out/train_cost --gpu \\
        --executor-src 'before=/tmp/old/executor;after=executor;eager=executor@{"cuda_graph": false}'

Writes ``results.json`` and prints a table. ``--child`` is the bench's own per-run entry.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def child(spec: dict[str, Any]) -> None:
    """One training in this process, timed phase by phase; writes ``spec["result"]``."""
    t_main = time.time()
    import torch

    from ymir_executor.app import run
    from ymir_executor.env import Roots
    from ymir_executor.train import Trainer

    t_imported = time.time()
    cuda = torch.cuda.is_available() and spec["gpu"]
    marks: dict[str, float] = {"evaluation": 0.0}
    trainers: list[Any] = []

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def timed(name: str, fn: Any) -> Any:
        def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
            sync()
            t = time.time()
            if name == "setup":
                trainers.append(self)
                marks["setup_start"] = t
            out = fn(self, *a, **kw)
            sync()
            if name == "setup":
                marks["setup_end"] = time.time()
            else:
                marks["evaluation"] += time.time() - t
            return out

        return wrapper

    Trainer.before_train = timed("setup", Trainer.before_train)  # type: ignore[method-assign]
    import ymir_executor.train as train_mod

    def clocked(name: str, fn: Any) -> Any:  # parts of the setup, summed
        def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.time()
            out = fn(*a, **kw)
            marks[name] = marks.get(name, 0.0) + time.time() - t
            return out

        return wrapper

    train_mod.load_data = clocked("setup_annotations_s", train_mod.load_data)
    train_mod.decode_all = clocked("setup_val_decode_s", train_mod.decode_all)
    train_mod.TrainImages.prepare = clocked("setup_train_images_s", train_mod.TrainImages.prepare)
    train_mod.Detector = clocked("setup_model_s", train_mod.Detector)
    for name in ("evaluate", "save_stage", "after_train"):
        setattr(Trainer, name, timed("evaluation", getattr(Trainer, name)))
    rc = run(Roots(Path(spec["din"]), Path(spec["dout"]), Path("/nonexistent")))
    t_done = time.time()
    result: dict[str, Any] = {
        "rc": rc,
        "process_s": t_done - spec["t0"],  # until the task returned (the measurements below excluded)
        "start_s": marks["setup_start"] - spec["t0"],
        "imports_s": t_imported - t_main,
        "setup_s": marks["setup_end"] - marks["setup_start"],
        "loop_s": t_done - marks["setup_end"] - marks["evaluation"],
        "evaluation_s": marks["evaluation"],
        **{k: v for k, v in marks.items() if k.startswith("setup_") and k.endswith("_s")},
    }
    if rc == 0:
        import yaml

        result["map50"] = yaml.safe_load((Path(spec["dout"]) / "models" / "result.yaml").read_text())["mAP"]
    tr = trainers[0]
    if spec["ceiling"]:
        batches = list(tr.images.epoch(12345))[:-1] or list(tr.images.epoch(12345))
        n_img = sum(len(b[0]) for b in batches)
        tr.model.train()
        for b in batches:  # warm-up
            tr.train_iter(*b)
        sync()
        t = time.time()
        reps = max(1, 40 // len(batches))
        for _ in range(reps):
            for b in batches:
                tr.train_iter(*b)
        sync()
        result["ceiling_img_per_s"] = reps * n_img / (time.time() - t)
        if cuda:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for b in batches:
                    tr.train_iter(*b)
                sync()
            kernel_us = sum(
                getattr(e, "self_device_time_total", 0) or 0
                for e in prof.key_averages()
                if str(getattr(e, "device_type", "")).endswith("CUDA")
            )
            result["gpu_kernel_s_per_img"] = kernel_us / 1e6 / n_img
            result["gpu_bound_img_per_s"] = n_img / max(1e-9, kernel_us / 1e6)
    Path(spec["result"]).write_text(json.dumps(result))


def _data(out: Path, a: argparse.Namespace) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    from bench.mining_bench import Settings, generate
    from tests.executor.workdir import voc_pairs

    s = Settings(out=out, pool=a.images, val=a.val, img_size=a.img_size)
    pool_roots, val_roots = generate(out / f"data{a.img_size}", s)
    return [p for r in pool_roots for p in voc_pairs(r)], [p for r in val_roots for p in voc_pairs(r)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench/out/train_cost"))
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--val", type=int, default=600)
    p.add_argument("--img-size", type=int, default=160)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--model-size", default="small")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--gpu", action="store_true")
    p.add_argument(
        "--executor-src",
        default="current=executor",
        help='label=path[@{config JSON}];... e.g. eager=executor@{"cuda_graph": false}',
    )
    p.add_argument("--extra", default="{}", help="JSON of extra training-config keys")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(json.loads(a.child))
        return 0
    from bench.mining_bench import CLASSES
    from tests.executor.workdir import write_workdir

    out = a.out.absolute()
    train, val = _data(out, a)
    cfg = {
        "class_names": CLASSES,
        "model_size": a.model_size,
        "img_size": a.img_size,
        "epochs": a.epochs,
        "batch_size_per_gpu": a.batch,
        "workers_per_gpu": a.workers,
        "eval_interval": a.epochs,
        "keep_stages": 1,
        "export_onnx": False,
        **({"gpu_count": 1, "gpu_id": "0"} if a.gpu else {}),
        **json.loads(a.extra),
    }
    rows = []
    for pair in a.executor_src.split(";"):
        label, _, rest = pair.partition("=")
        src, _, extra = rest.partition("@")
        run_cfg = {**cfg, **json.loads(extra or "{}")}
        din, dout = write_workdir(out / f"run_{label}", task="training", config=run_cfg, train=train, val=val)
        spec = {
            "din": str(din),
            "dout": str(dout),
            "gpu": a.gpu,
            "ceiling": True,
            "result": str(out / f"run_{label}" / "timing.json"),
            "t0": time.time(),
        }
        paths = [str(Path(src).absolute()), str(REPO), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        t0 = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.train_cost_bench", "--child", json.dumps(spec)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.time() - t0
        (out / f"run_{label}" / "log.txt").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        r = json.loads(Path(spec["result"]).read_text())
        images = a.epochs * len(train)
        r.update(
            label=label,
            wall_s=wall,
            images_trained=images,
            loop_img_per_s=images / r["loop_s"],
            process_img_per_s=images / r["process_s"],
        )
        rows.append(r)
        print(json.dumps(r), flush=True)
    (out / "results.json").write_text(json.dumps({"settings": vars(a) | {"out": str(out)}, "runs": rows}))
    print(
        f"{len(train)} images, {a.img_size} px, {a.epochs} epochs, batch {a.batch}, {a.model_size} "
        f"({'GPU' if a.gpu else 'CPU'})\n| run | process s | start | setup | loop | evaluation+saving "
        "| loop img/s | process img/s | ceiling img/s | GPU-bound img/s | mAP@.5 |\n" + "|---" * 11 + "|"
    )
    for r in rows:
        print(
            f"| {r['label']} | {r['process_s']:.1f} | {r['start_s']:.1f} | {r['setup_s']:.1f} "
            f"| {r['loop_s']:.1f} "
            f"| {r['evaluation_s']:.1f} | {r['loop_img_per_s']:.0f} "
            f"| {r['process_img_per_s']:.0f} | {r.get('ceiling_img_per_s', 0):.0f} "
            f"| {r.get('gpu_bound_img_per_s', 0):.0f} | {r.get('map50', 0):.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the executor on a CUDA GPU (written for an NVIDIA H100).

Parts (``--part``):
  throughput  training images/s at 640 px with the GPU's busy share (NVML, sampled every 50 ms), and
              mining images/s from 640x480 JPEG files on disk: decoding alone, the model alone, end to end.
  map         mAP@.5 and mAP@[.5:.95] of our detector against torchvision's FCOS (ResNet-50 FPN, from
              scratch) trained on the same generated data for the same wall time.

Run: ``python -m bench.executor_bench --part throughput --out bench/out/executor`` (then ``--part map``).
torchvision is imported only inside the ``map`` part; it is not a dependency of the executor.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader

from bench.synthetic import generate_voc
from tests.executor.workdir import voc_pairs, write_workdir
from ymir_executor import checkpoint, gpu_decode, mining
from ymir_executor.app import run
from ymir_executor.dataset import LetterboxSet, collate
from ymir_executor.env import Roots
from ymir_executor.model import Detections
from ymir_executor.train import Trainer

CLASSES = ["circle", "square", "triangle", "diamond", "star"]


def _gen_chunk(args: tuple[Path, int, int, tuple[int, int], str]) -> None:
    out, n, seed, size, prefix = args
    generate_voc(
        out,
        n_images=n,
        seed=seed,
        classes=CLASSES,
        image_size=size,
        objects_per_image=(1, 6),
        object_size=(0.06, 0.3),
        name_prefix=prefix,
    )


def generate(out: Path, n: int, size: tuple[int, int], seed: int, procs: int = 16) -> list[Path]:
    """Generates ``n`` images in ``procs`` parallel chunks; returns the chunk roots."""
    per = (n + procs - 1) // procs
    jobs = [(out / f"part{i}", per, seed * 100 + i, size, f"s{seed}p{i}") for i in range(procs)]
    with multiprocessing.Pool(procs) as pool:
        pool.map(_gen_chunk, jobs)
    return [j[0] for j in jobs]


def pairs_of(roots: list[Path]) -> list[tuple[Path, Path]]:
    return [p for r in roots for p in voc_pairs(r)]


class GpuBusy:
    """Samples NVML's GPU utilisation (share of time a kernel ran) in a background thread."""

    def __init__(self, interval_s: float = 0.05) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.samples: list[int] = []
        self._on = False
        self._interval = interval_s
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            if self._on:
                self.samples.append(int(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu))
            time.sleep(self._interval)

    def start(self) -> None:
        self.samples.clear()
        self._on = True

    def stop(self) -> float:
        self._on = False
        return sum(self.samples) / max(1, len(self.samples)) / 100


def bench_training(work: Path, busy: GpuBusy) -> dict[str, Any]:
    train = pairs_of(generate(work / "train640", 2048, (640, 640), seed=1))
    val = train[:64]
    cfg = {
        "class_names": CLASSES,
        "model_size": "small",
        "img_size": 640,
        "epochs": 4,
        "batch_size_per_gpu": 64,
        "workers_per_gpu": 8,
        "eval_interval": 100,
        "export_onnx": False,
        "gpu_count": 1,
        "gpu_id": "0",
        "cache_images": "device",
    }
    din, dout = write_workdir(work / "train_run", task="training", config=cfg, train=train, val=val)
    marks: list[tuple[int, float]] = []
    real_after_epoch: Callable[..., None] = Trainer.after_epoch

    def after_epoch(self: Trainer, epoch: int, *, last: bool) -> None:
        torch.cuda.synchronize()
        marks.append((epoch, time.perf_counter()))
        if epoch == 0:
            busy.start()
        if last:
            marks.append((-1, busy.stop()))
        real_after_epoch(self, epoch, last=last)

    Trainer.after_epoch = after_epoch  # type: ignore[method-assign]
    t0 = time.perf_counter()
    rc = run(Roots(din, dout, Path("/nonexistent")))
    wall = time.perf_counter() - t0
    Trainer.after_epoch = real_after_epoch  # type: ignore[method-assign]
    times = [t for e, t in marks if e >= 0]
    steady = (len(times) - 1) * len(train) / (times[-1] - times[0])
    return {
        "rc": rc,
        "images": len(train),
        "img_size": 640,
        "model_size": "small",
        "batch": 64,
        "train_img_per_s_steady": round(steady, 1),
        "gpu_busy_share_steady": round(marks[-1][1], 3),
        "wall_s_total_incl_caching": round(wall, 1),
    }


def bench_mining(work: Path, model_path: Path, size: int, n_pool: int) -> dict[str, Any]:
    pool_roots = (
        generate(work / "pool640x480", n_pool, (640, 480), seed=7)
        if size == 640
        else [work / "pool640x480" / f"part{i}" for i in range(16)]
    )
    paths = [Path(p) for r in pool_roots for p in (r / "index.txt").read_text().split()]
    workers, bs = 15, 256
    loader = DataLoader(
        LetterboxSet(paths, size=size),
        batch_size=bs,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=True,
        prefetch_factor=4,
    )
    t0 = time.perf_counter()
    n = 0
    for batch in loader:
        n += len(batch.indices)
    decode_rate = n / (time.perf_counter() - t0)
    gpu_loader = DataLoader(
        gpu_decode.EncodedSet(paths, size=size),
        batch_size=bs,
        num_workers=workers,
        collate_fn=gpu_decode.collate_encoded,
        prefetch_factor=4,
    )
    gpu_decode_rate = 0.0
    if gpu_decode.available(torch.device("cuda")):
        t0 = time.perf_counter()
        n = 0
        for encoded in gpu_loader:
            n += len(gpu_decode.decode_batch(encoded, size=size, device=torch.device("cuda")).indices)
        torch.cuda.synchronize()
        gpu_decode_rate = n / (time.perf_counter() - t0)
    model = checkpoint.load(model_path).build().cuda().eval().to(memory_format=torch.channels_last)
    x = torch.rand(bs, 3, size, size, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            mining.entropy_scores(model.predict(x), conf_threshold=0.05)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(20):
            mining.entropy_scores(model.predict(x), conf_threshold=0.05).cpu()
        torch.cuda.synchronize()
    model_rate = 20 * bs / (time.perf_counter() - t0)
    rows: dict[str, Any] = {
        "img_size": size,
        "pool": len(paths),
        "decode_only_cpu_img_per_s": round(decode_rate),
        "decode_only_gpu_img_per_s": round(gpu_decode_rate),
        "model_only_img_per_s": round(model_rate),
    }
    for algo, on_gpu in (("entropy", True), ("hybrid", True), ("entropy", False)):
        cfg = {
            "class_names": CLASSES,
            "model_params_path": [str(model_path)],
            "mining_algorithm": algo,
            "img_size": size,
            "batch_size_per_gpu": bs,
            "workers_per_gpu": workers,
            "gpu_count": 1,
            "gpu_id": "0",
            "topk": 1000,
            "gpu_decode": on_gpu,
        }
        name = f"{algo}_{'gpu' if on_gpu else 'cpu'}_decode"
        din, dout = write_workdir(work / f"mine_{name}_{size}", task="mining", config=cfg, candidates=paths)
        t0 = time.perf_counter()
        rc = run(Roots(din, dout, Path("/nonexistent")))
        rows[f"end_to_end_{name}_img_per_s"] = round(len(paths) / (time.perf_counter() - t0))
        rows[f"rc_{name}"] = rc
    return rows


def bench_map(work: Path, seconds: float) -> dict[str, Any]:
    size = 384
    train = pairs_of(generate(work / "train384", 4000, (size, size), seed=11))
    val = pairs_of(generate(work / "val384", 320, (size, size), seed=12))
    cfg = {
        "class_names": CLASSES,
        "model_size": "small",
        "img_size": size,
        "epochs": 1000,
        "max_train_minutes": seconds / 60,
        "batch_size_per_gpu": 64,
        "workers_per_gpu": 8,
        "eval_interval": 1000,
        "export_onnx": False,
        "gpu_count": 1,
        "gpu_id": "0",
        "learning_rate": 0.004,
        "warmup_epochs": 2,
    }
    din, dout = write_workdir(work / "map_ours", task="training", config=cfg, train=train, val=val)
    t0 = time.perf_counter()
    rc = run(Roots(din, dout, Path("/nonexistent")))
    ours_wall = time.perf_counter() - t0
    result = yaml.safe_load((dout / "models" / "result.yaml").read_text())
    best = checkpoint.load(dout / "models" / result["best_stage_name"] / "model.pt")
    ours = {
        "rc": rc,
        "mAP50": round(best.metrics["mAP"], 4),
        "mAP50_95": round(best.metrics["mAP50_95"], 4),
        "epochs_done": best.epoch,
        "wall_s_incl_caching_and_eval": round(ours_wall, 1),
    }
    return {
        "img_size": size,
        "train_images": len(train),
        "val_images": len(val),
        "train_seconds": seconds,
        "ours_small": ours,
        "torchvision_fcos_r50_scratch": _fcos(train, val, size, seconds),
    }


def _fcos(
    train: list[tuple[Path, Path]], val: list[tuple[Path, Path]], size: int, seconds: float
) -> dict[str, Any]:
    import torchvision
    from torchvision.models.detection import fcos_resnet50_fpn

    from ymir_executor.annotations import AnnotationReader
    from ymir_executor.data import decode_all
    from ymir_executor.dataset import Item
    from ymir_executor.evaluate import coco_metrics

    reader = AnnotationReader(CLASSES)
    items = [Item(i, reader.read(a, i)) for i, a in train]
    vitems = [Item(i, reader.read(a, i)) for i, a in val]
    cache = decode_all(items, size=size, workers=8, progress=lambda f: None)
    vcache = decode_all(vitems, size=size, workers=8, progress=lambda f: None)
    dev = torch.device("cuda")
    pixels = cache.pixels.to(dev)
    model = fcos_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=len(CLASSES) + 1,
        min_size=size,
        max_size=size,
        score_thresh=0.001,
        detections_per_img=100,
    ).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
    bs, step = 32, 0
    t0 = time.perf_counter()
    model.train()
    while time.perf_counter() - t0 < seconds:
        idx = torch.randint(0, len(items), (bs,))
        imgs = pixels[idx.to(dev)].float() / 255
        flip = torch.rand(bs) < 0.5
        targets = []
        for j, i in enumerate(idx.tolist()):
            b = torch.from_numpy(items[i].objects.boxes).to(dev) * float(cache.scales[i])
            if flip[j]:
                imgs[j] = imgs[j].flip(-1)
                b = torch.stack((size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]), 1)
            targets.append({"boxes": b, "labels": torch.from_numpy(items[i].objects.classes).to(dev) + 1})
        for g in opt.param_groups:
            g["lr"] = 5e-4 * min(1.0, (step + 1) / 300)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            losses = model(list(imgs), targets)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
    model.eval()
    dets: list[Detections] = []
    with torch.no_grad():
        for s in range(0, len(vitems), 32):
            imgs = vcache.pixels[s : s + 32].to(dev).float() / 255
            for out, sc in zip(model(list(imgs)), vcache.scales[s : s + 32].tolist(), strict=True):
                dets.append(
                    Detections(
                        out["boxes"].float().cpu() / sc, out["scores"].float().cpu(), out["labels"].cpu() - 1
                    )
                )
    sizes = [(int(w), int(h)) for w, h in vcache.sizes.tolist()]
    m = coco_metrics([it.objects for it in vitems], dets, sizes, len(CLASSES))
    return {
        "mAP50": round(m["mAP"], 4),
        "mAP50_95": round(m["mAP50_95"], 4),
        "steps": step,
        "batch": bs,
        "torchvision": torchvision.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["throughput", "map"], required=True)
    parser.add_argument("--out", type=Path, default=Path("bench/out/executor"))
    parser.add_argument(
        "--seconds", type=float, default=150.0, help="training wall time per model (map part)"
    )
    parser.add_argument("--pool", type=int, default=12000, help="mining pool size (throughput part)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.backends.cudnn.benchmark = True
    report: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    if args.part == "throughput":
        busy = GpuBusy()
        report["training"] = bench_training(args.out, busy)
        model_path = args.out / "train_run" / "out" / "models" / "epoch_4" / "model.pt"
        report["mining_640"] = bench_mining(args.out, model_path, 640, args.pool)
        report["mining_320"] = bench_mining(args.out, model_path, 320, args.pool)
    else:
        report["map"] = bench_map(args.out, args.seconds)
    text = json.dumps(report, indent=2)
    (args.out / f"report-{args.part}.json").write_text(text)
    print(text)  # noqa: T201 - a benchmark's output


if __name__ == "__main__":
    main()

"""GPU only: the decode race behind issue 15's device-side assert, and six executors sharing one GPU.

Skipped where CUDA or torchvision's nvJPEG is missing, which is the case on CI (no GPU there), so CI never
runs these. On a GPU machine: ``python -m pytest tests/executor/test_gpu_shared.py -q -s``.

1. ``test_decode_leaves_queued_kernels_alone``: queues a slow kernel, then reductions over tensors it then
   frees, then decodes a batch of JPEGs; every reduction must still see its tensor's values. torchvision's
   ``decode_jpeg`` alone is run the same way first and its count of corrupted reductions is printed (on a
   GPU with a hardware JPEG engine, such as the H100, it is often above 0: the old crash's cause).
2. ``test_six_executors_share_one_gpu``: the old crash scenario. One model is trained; then three
   trainings and three minings (cald, aldd, hybrid; GPU decoding on) run at once on the one GPU over
   160 px JPEGs. Every process must end with return code 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from bench.synthetic import generate_voc
from tests.executor.workdir import to_ark, voc_pairs, write_workdir
from ymir_executor import gpu_decode

CUDA = torch.device("cuda:0")
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or not gpu_decode.available(CUDA),
    reason="needs a CUDA GPU and torchvision's nvJPEG (never on CI)",
)
CLASSES = ["circle", "square", "triangle", "diamond", "star", "cross"]
SIZE = 160
RUN = "import sys; from ymir_executor.app import main; sys.argv[0] = 'ymir-executor'; main()"


def _encoded(paths: list[Path]) -> gpu_decode.EncodedBatch:
    return gpu_decode.collate_encoded([gpu_decode.EncodedSet(paths, size=SIZE)[i] for i in range(len(paths))])


def _corrupted(decode: object, encoded: gpu_decode.EncodedBatch, rounds: int) -> int:
    """How many queued reductions saw other values than their tensors held, over ``rounds`` tries.

    The tensors have the size of a decoded image (3 x S x S bytes), so the caching allocator hands their
    freed blocks to the decoder's outputs; a long chain of matrix products keeps them queued meanwhile.
    """
    bad = 0
    big = torch.randn(4096, 4096, device=CUDA)
    n = SIZE * SIZE * 3
    for _ in range(rounds):
        tensors = [torch.full((3, SIZE, SIZE), k + 1, dtype=torch.uint8, device=CUDA) for k in range(64)]
        torch.cuda.synchronize()
        slow = big
        for _ in range(20):
            slow = slow @ big  # about 50 ms of work queued ahead of the reductions
        sums = [t.sum() for t in tensors]
        del tensors  # freed on the stream: the allocator may hand the blocks to the decoder
        decode(encoded)  # type: ignore[operator]
        torch.cuda.synchronize()
        bad += sum(int(int(s) != (k + 1) * n) for k, s in enumerate(sums))
        del slow
    return bad


def test_decode_leaves_queued_kernels_alone(tmp_path: Path) -> None:
    root = generate_voc(tmp_path / "d", n_images=64, seed=5, classes=CLASSES, image_size=(SIZE, SIZE))
    paths = [Path(p) for p in (root / "index.txt").read_text().split()]
    encoded = _encoded(paths)
    raw = gpu_decode._decoder()
    assert raw is not None
    data = [encoded.blob[a:b] for _, a, b in encoded.spans]
    before = _corrupted(lambda e: raw(data, CUDA), encoded, rounds=20)
    after = _corrupted(lambda e: gpu_decode.decode_batch(e, size=SIZE, device=CUDA), encoded, rounds=20)
    print(f"\ncorrupted reductions of 20 x 64: decode_jpeg alone {before}, decode_batch {after}")
    assert after == 0


def _run(din: Path, dout: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN],
        env={**_env(), "YMIR_EXECUTOR_IN": str(din), "YMIR_EXECUTOR_OUT": str(dout)},
        stderr=subprocess.PIPE,
        text=True,
    )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("YMIR_EXECUTOR_")}


def test_six_executors_share_one_gpu(tmp_path: Path) -> None:
    train = generate_voc(
        tmp_path / "train", n_images=600, seed=1, classes=CLASSES, image_size=(SIZE, SIZE), clutter=0.5
    )
    val = generate_voc(tmp_path / "val", n_images=100, seed=2, classes=CLASSES, image_size=(SIZE, SIZE))
    pool = generate_voc(
        tmp_path / "pool",
        n_images=3000,
        seed=3,
        classes=CLASSES,
        image_size=(SIZE, SIZE),
        clutter=0.6,
        occlusion=0.4,
        objects_per_image=(0, 8),
        object_size=(0.03, 0.5),
    )
    ark = to_ark(voc_pairs(train), tmp_path / "ark", CLASSES)
    config = {
        "class_names": CLASSES,
        "gpu_count": 1,
        "img_size": SIZE,
        "epochs": 6,
        "batch_size_per_gpu": 64,
        "workers_per_gpu": 2,
        "eval_interval": 6,
    }
    din, dout = write_workdir(tmp_path / "t0", task="training", config=config, train=ark, val=voc_pairs(val))
    proc = _run(din, dout)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    result = yaml.safe_load((dout / "models" / "result.yaml").read_text())
    model = dout / "models" / str(result["best_stage_name"]) / "model.pt"

    candidates = [Path(p) for p in (pool / "index.txt").read_text().split()]
    procs = []
    for n in range(3):
        tcfg = {**config, "epochs": 8, "pretrained_model_params": [str(model)], "seed": n}
        din, dout = write_workdir(
            tmp_path / f"train{n}", task="training", config=tcfg, train=ark, val=voc_pairs(val)
        )
        procs.append((f"training {n}", dout, _run(din, dout)))
    for algo in ("cald", "aldd", "hybrid"):
        mcfg = {
            "class_names": CLASSES,
            "gpu_count": 1,
            "model_params_path": [str(model)],
            "mining_algorithm": algo,
            "topk": 300,
            "batch_size_per_gpu": 64,
            "workers_per_gpu": 2,
            "gpu_decode": True,
        }
        din, dout = write_workdir(
            tmp_path / f"mine_{algo}", task="mining", config=mcfg, candidates=candidates
        )
        procs.append((f"mining {algo}", dout, _run(din, dout)))
    failures = []
    for name, dout, proc in procs:
        _, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            failures.append(f"{name}: {(dout / 'monitor.txt').read_text()[:2000]}\n{err[-2000:]}")
        elif name.startswith("mining"):
            assert len((dout / "result.tsv").read_text().splitlines()) == len(candidates)
    assert not failures, "\n\n".join(failures)

"""GPU only: the training step replayed as a CUDA graph (``cuda_graph``) against eager steps.

Skipped without CUDA (always on CI). On a GPU machine: ``python -m pytest tests/executor/test_gpu_graph.py``.
A small set trains twice, as an active-learning round does: the captured step must be used (no fallback
warning), take well under the eager loop's time, and train a model as good.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from bench.synthetic import generate_voc
from tests.executor.conftest import run_task
from tests.executor.workdir import voc_pairs, write_workdir

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (never on CI)")
CLASSES = ["circle", "square", "triangle", "diamond", "star", "cross"]


def test_graphed_training_is_faster_and_as_good(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    train = generate_voc(tmp_path / "train", n_images=300, seed=1, classes=CLASSES, image_size=(160, 160))
    val = generate_voc(tmp_path / "val", n_images=100, seed=2, classes=CLASSES, image_size=(160, 160))
    got = {}
    for graph in (False, True):  # eager first: the graph run gets no head start from warm caches
        config = {
            "class_names": CLASSES,
            "gpu_count": 1,
            "img_size": 160,
            "epochs": 60,  # a round's training: the capture's fixed cost (about a second) is spread out
            "batch_size_per_gpu": 64,
            "workers_per_gpu": 2,
            "eval_interval": 60,
            "export_onnx": False,
            "cuda_graph": graph,
        }
        din, dout = write_workdir(
            tmp_path / f"g{graph}", task="training", config=config, train=voc_pairs(train), val=voc_pairs(val)
        )
        caplog.clear()
        with caplog.at_level("INFO", logger="ymir_executor"):
            assert run_task(din, dout) == 0, (dout / "monitor.txt").read_text()
        took = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("training took"))
        assert not any("cannot be a CUDA graph" in r.getMessage() for r in caplog.records)
        m = re.search(r"(\d+) steps( \(CUDA graph\))? in ([0-9.]+) s", took)
        assert m is not None, took
        assert bool(m.group(2)) == graph
        result = yaml.safe_load((dout / "models" / "result.yaml").read_text())
        got[graph] = (float(m.group(3)), float(result["mAP"]))
    print(f"\nloop s and mAP@.5: graph {got[True]}, eager {got[False]}")
    assert got[True][0] < 0.6 * got[False][0]
    assert got[True][1] >= got[False][1] - 0.05

"""Shared fixtures: generated data and one trained model per session (training is the slow part)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from bench.synthetic import generate_voc
from tests.executor.workdir import to_ark, voc_pairs, write_workdir
from ymir_executor.app import run
from ymir_executor.env import Roots

CLASSES = ["circle", "square", "triangle"]
SIZE = 96
TRAIN_CONFIG = {
    "class_names": CLASSES,
    "model_size": "tiny",
    "img_size": SIZE,
    "epochs": 24,
    "batch_size_per_gpu": 32,
    "workers_per_gpu": 0,
    "eval_interval": 12,
    "learning_rate": 0.005,
    "warmup_epochs": 0.5,
    "mosaic_prob": 0.0,
    "ema_decay": 0.99,
    "keep_stages": 2,
}


@dataclass(frozen=True)
class Trained:
    """The session's training run."""

    din: Path
    dout: Path
    rc: int
    result: dict[str, object]

    def stage_dir(self, stage: str | None = None) -> Path:
        """Folder of ``stage`` (default: the best one)."""
        return self.dout / "models" / str(stage or self.result["best_stage_name"])


def run_task(din: Path, dout: Path) -> int:
    """Runs the executor in-process on a work directory."""
    return run(Roots(din, dout, Path("/nonexistent-img-man")))


def monitor_fields(dout: Path) -> list[str]:
    """The first line of monitor.txt, split at tabs."""
    return (dout / "monitor.txt").read_text().splitlines()[0].split("\t")


@pytest.fixture(scope="session", autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)  # two cores shared with others: oversubscribed OpenMP threads collapse


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train, validation and mining-pool datasets (VOC layout)."""
    root = tmp_path_factory.mktemp("data")
    return {
        "train": generate_voc(root / "train", n_images=800, seed=1, image_size=(SIZE, SIZE)),
        "val": generate_voc(root / "val", n_images=120, seed=2, image_size=(SIZE, SIZE)),
        "pool": generate_voc(
            root / "pool",
            n_images=200,
            seed=3,
            image_size=(SIZE, SIZE),
            unlike_fraction=0.5,
            objects_per_image=(1, 2),
            clutter=0.1,
        ),
    }


@pytest.fixture(scope="session")
def trained(data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One short CPU training run on ark annotations (validation in VOC), reused by every test."""
    work = tmp_path_factory.mktemp("train")
    train = to_ark(voc_pairs(data["train"]), work / "ark", CLASSES)
    din, dout = write_workdir(
        work, task="training", config=TRAIN_CONFIG, train=train, val=voc_pairs(data["val"])
    )
    rc = run_task(din, dout)
    result = yaml.safe_load((dout / "models" / "result.yaml").read_text()) if rc == 0 else {}
    return Trained(din, dout, rc, result)

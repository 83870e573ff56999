"""Every failure ends in monitor.txt state 4 with the contract's code, a message naming the fix, exit != 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.executor.conftest import CLASSES, TRAIN_CONFIG, Trained, monitor_fields, run_task
from tests.executor.workdir import voc_pairs, write_workdir
from ymir_executor import errors
from ymir_executor.model import detector as detector_module


def _train_dir(tmp: Path, data: dict[str, Path], **config: object) -> tuple[Path, Path]:
    pairs = voc_pairs(data["train"])[:16]
    return write_workdir(
        tmp, task="training", config={**TRAIN_CONFIG, "epochs": 1, **config}, train=pairs, val=pairs[:4]
    )


def _mine_dir(
    tmp: Path, trained: Trained, data: dict[str, Path], candidates: list[Path] | None = None, **config: object
) -> tuple[Path, Path]:
    cands = candidates or [Path(p) for p in (data["pool"] / "index.txt").read_text().split()][:8]
    base = {
        "class_names": CLASSES,
        "model_params_path": [str(trained.stage_dir() / "model.pt")],
        "workers_per_gpu": 0,
    }
    return write_workdir(tmp, task="mining", config={**base, **config}, candidates=cands)


def _fails_with(din: Path, dout: Path, code: int, *words: str) -> str:
    assert run_task(din, dout) != 0
    fields = monitor_fields(dout)
    assert fields[3] == "4" and fields[4] == str(code), fields
    for w in words:
        assert w in fields[5], fields[5]
    return fields[5]


def test_unknown_config_key_is_named(tmp_path: Path, data: dict[str, Path]) -> None:
    din, dout = _train_dir(tmp_path, data, learning_rat=0.1)
    _fails_with(din, dout, errors.CODE_CONFIG, "learning_rat", "unknown key")


def test_bad_config_value_is_named(tmp_path: Path, data: dict[str, Path]) -> None:
    din, dout = _train_dir(tmp_path, data, img_size=100)
    _fails_with(din, dout, errors.CODE_CONFIG, "img_size", "multiple of 32")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (-0.1, "greater than or equal to 0"),
        (1.5, "less than or equal to 1"),
        ("often", "valid number, unable to parse string as a number; or Input should be 'auto'"),
    ],
)
def test_bad_repeat_factor_threshold_is_named_and_trains_nothing(
    tmp_path: Path, data: dict[str, Path], value: object, words: str
) -> None:
    din, dout = _train_dir(tmp_path, data, repeat_factor_threshold=value)
    _fails_with(din, dout, errors.CODE_CONFIG, "repeat_factor_threshold", words)
    assert not list((dout / "models").glob("*/model.pt"))  # no stage half-written


def test_missing_env_yaml(tmp_path: Path) -> None:
    _fails_with(tmp_path / "in", tmp_path / "out", errors.CODE_CONFIG, "env.yaml")


def test_missing_val_dataset(tmp_path: Path, data: dict[str, Path]) -> None:
    pairs = voc_pairs(data["train"])[:8]
    din, dout = write_workdir(tmp_path, task="training", config=TRAIN_CONFIG, train=pairs)
    _fails_with(din, dout, errors.CODE_DATASET_MISSING, "validation", "choose")


def test_missing_image_file(tmp_path: Path, data: dict[str, Path]) -> None:
    pairs = voc_pairs(data["train"])[:8] + [(tmp_path / "gone.jpg", tmp_path / "gone.xml")]
    din, dout = write_workdir(tmp_path, task="training", config=TRAIN_CONFIG, train=pairs, val=pairs[:2])
    _fails_with(din, dout, errors.CODE_DATASET_MISSING, "gone.jpg", "train-index.tsv:9")


def test_unreadable_image_in_training(tmp_path: Path, data: dict[str, Path]) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    pairs = voc_pairs(data["train"])[:8]
    pairs.append((bad, pairs[0][1]))
    din, dout = write_workdir(tmp_path, task="training", config=TRAIN_CONFIG, train=pairs, val=pairs[:2])
    _fails_with(din, dout, errors.CODE_IMAGE_UNREADABLE, "broken.jpg")


def test_unreadable_image_in_mining(tmp_path: Path, trained: Trained, data: dict[str, Path]) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG garbage")
    din, dout = _mine_dir(tmp_path, trained, data, candidates=[bad], mining_algorithm="entropy")
    _fails_with(din, dout, errors.CODE_IMAGE_UNREADABLE, "broken.png")


def test_missing_model(tmp_path: Path, trained: Trained, data: dict[str, Path]) -> None:
    din, dout = _mine_dir(tmp_path, trained, data, model_params_path=[str(tmp_path / "nope" / "model.pt")])
    _fails_with(din, dout, errors.CODE_MODEL, "model.pt", "choose a model")


def test_mismatched_model_classes(tmp_path: Path, trained: Trained, data: dict[str, Path]) -> None:
    din, dout = _mine_dir(tmp_path, trained, data, class_names=["cat", "dog"])
    _fails_with(din, dout, errors.CODE_MODEL, "cat")


def test_foreign_model_file(tmp_path: Path, trained: Trained, data: dict[str, Path]) -> None:
    fake = tmp_path / "m" / "model.pt"
    fake.parent.mkdir()
    torch.save({"weights": torch.zeros(3)}, fake)
    din, dout = _mine_dir(tmp_path, trained, data, model_params_path=[str(fake)])
    _fails_with(din, dout, errors.CODE_MODEL, "not a ymir-executor checkpoint")


def test_kcenter_without_topk(tmp_path: Path, trained: Trained, data: dict[str, Path]) -> None:
    din, dout = _mine_dir(tmp_path, trained, data, mining_algorithm="kcenter", topk=0)
    _fails_with(din, dout, errors.CODE_CONFIG, "topk")


def test_unknown_mining_view_is_named(tmp_path: Path, trained: Trained, data: dict[str, Path]) -> None:
    din, dout = _mine_dir(tmp_path, trained, data, mining_algorithm="cald", mining_views="flip,rotate")
    _fails_with(din, dout, errors.CODE_CONFIG, "mining_views", "flip, scale, crop")


def test_unsupported_object_type(tmp_path: Path, data: dict[str, Path]) -> None:
    din, dout = _train_dir(tmp_path, data, object_type=3)
    _fails_with(din, dout, errors.CODE_OBJECT_TYPE, "object_type")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_no_gpu_when_demanded(tmp_path: Path, data: dict[str, Path]) -> None:
    din, dout = _train_dir(tmp_path, data, gpu_count=1, gpu_id="0")
    _fails_with(din, dout, errors.CODE_NO_GPU, "gpu_count")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU-only check")
def test_too_many_gpus(tmp_path: Path, data: dict[str, Path]) -> None:
    din, dout = _train_dir(tmp_path, data, gpu_count=torch.cuda.device_count() + 1)
    _fails_with(din, dout, errors.CODE_GPU_MISMATCH, "gpu_count")


def test_out_of_memory(tmp_path: Path, data: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(detector_module.Detector, "forward", boom)
    din, dout = _train_dir(tmp_path, data)
    _fails_with(din, dout, errors.CODE_OOM, "batch_size_per_gpu")


def test_cuda_error_in_training(
    tmp_path: Path, data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("CUDA error: device-side assert triggered\nCompile with TORCH_USE_CUDA_DSA")

    monkeypatch.setattr(detector_module.Detector, "forward", boom)
    din, dout = _train_dir(tmp_path, data)
    _fails_with(
        din, dout, errors.CODE_DEVICE, "training failed", "device-side assert", "CUDA_LAUNCH_BLOCKING"
    )


def test_nan_loss(tmp_path: Path, data: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    real = detector_module.detection_loss

    def nan_loss(*args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        out = real(*args, **kwargs)  # type: ignore[arg-type]
        return {k: v * float("nan") for k, v in out.items()}

    monkeypatch.setattr(detector_module, "detection_loss", nan_loss)
    din, dout = _train_dir(tmp_path, data, log_interval=1)
    _fails_with(din, dout, errors.CODE_NAN, "learning_rate")


def test_module_entry_exits_non_zero(tmp_path: Path, data: dict[str, Path]) -> None:
    din, dout = _train_dir(tmp_path, data, epochs="many")
    env = {**os.environ, "YMIR_EXECUTOR_IN": str(din), "YMIR_EXECUTOR_OUT": str(dout)}
    proc = subprocess.run(
        [sys.executable, "-m", "ymir_executor"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode != 0
    assert monitor_fields(dout)[4] == str(errors.CODE_CONFIG)
    assert "epochs" in proc.stderr


def test_container_paths_are_relocated(tmp_path: Path, data: dict[str, Path]) -> None:
    """An env.yaml written for docker (/in, /out) runs locally under the env-var roots."""
    din, dout = _train_dir(tmp_path, data, epochs="many")
    (din / "env.yaml").write_text(
        "run_training: true\ntask_id: t9\ninput: {config_file: /in/config.yaml}\n"
        "output: {monitor_file: /out/monitor.txt}\n"
    )
    _fails_with(din, dout, errors.CODE_CONFIG, "epochs")
    assert monitor_fields(dout)[0] == "t9"

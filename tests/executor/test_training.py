"""Training: accuracy, the result.yaml contract, stages, resume and fine-tuning."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field

from tests.executor.conftest import CLASSES, TRAIN_CONFIG, Trained, monitor_fields, run_task
from tests.executor.workdir import voc_pairs, write_workdir
from ymir_executor import checkpoint


class ContractStage(BaseModel):
    """A stage as the platform validates it (executor contract A.7)."""

    model_config = ConfigDict(extra="forbid")
    stage_name: str
    files: list[str] = Field(min_length=1)
    timestamp: int = Field(gt=0)
    mAP: float = Field(ge=0, le=1)  # noqa: N815
    mAR: float | None = Field(default=None, ge=0, le=1)  # noqa: N815
    tp: int | None = Field(default=None, ge=0)
    fp: int | None = Field(default=None, ge=0)
    fn: int | None = Field(default=None, ge=0)


class ContractResult(BaseModel):
    """result.yaml as the platform reads it."""

    model_config = ConfigDict(extra="forbid")
    best_stage_name: str
    mAP: float = Field(ge=0, le=1)  # noqa: N815
    model_stages: dict[str, ContractStage] = Field(min_length=1)
    evaluate_config: dict[str, float] | None = None
    attachments: dict[str, list[str]] | None = None


def test_training_reaches_map50_of_0_7(trained: Trained) -> None:
    assert trained.rc == 0, (trained.dout / "monitor.txt").read_text()
    assert float(trained.result["mAP"]) >= 0.7  # type: ignore[arg-type]


def test_result_yaml_validates_against_contract(trained: Trained) -> None:
    result = ContractResult.model_validate(trained.result)
    assert result.best_stage_name in result.model_stages
    for name, stage in result.model_stages.items():
        assert stage.stage_name == name and name.isidentifier()
        for f in stage.files:
            assert (trained.dout / "models" / name / f).is_file()
    assert "model.onnx" in result.model_stages[result.best_stage_name].files
    # epochs 24, eval every 12 epochs and keep_stages 2: both stages kept
    assert set(result.model_stages) == {"epoch_12", "epoch_24"}


def test_training_writes_monitor_done_and_tensorboard(trained: Trained) -> None:
    fields = monitor_fields(trained.dout)
    assert fields[0] == "t0001" and float(fields[2]) == 1.0 and fields[3] == "3"
    assert any((trained.dout / "tensorboard").glob("events.out.tfevents.*"))


def test_stage_holds_class_names_and_config(trained: Trained) -> None:
    ckpt = checkpoint.load(trained.stage_dir() / "model.pt")
    assert ckpt.class_names == CLASSES and ckpt.img_size == 96
    assert ckpt.config["epochs"] == 24 and sum(ckpt.class_counts) > 800
    # each class's AP@.5 on the validation set, which balanced mining weighs classes by
    per_class = [ckpt.metrics[f"AP50/{k}"] for k in range(len(CLASSES))]
    assert min(per_class) > 0.5 and abs(sum(per_class) / len(per_class) - ckpt.metrics["mAP"]) < 1e-6
    used = yaml.safe_load((trained.stage_dir() / "config.yaml").read_text())
    assert used["class_names"] == CLASSES


def _small_set(data: dict[str, Path], n: int = 64) -> list[tuple[Path, Path]]:
    return voc_pairs(data["train"])[:n]


def test_resume_continues_from_stage(trained: Trained, data: dict[str, Path], tmp_path: Path) -> None:
    stage = trained.stage_dir("epoch_24")
    config = {
        **TRAIN_CONFIG,
        "epochs": 25,
        "eval_interval": 1,
        "resume": True,
        "pretrained_model_params": [str(stage / "model.pt"), str(stage / "config.yaml")],
    }
    din, dout = write_workdir(
        tmp_path, task="training", config=config, train=_small_set(data), val=voc_pairs(data["val"])[:30]
    )
    assert run_task(din, dout) == 0, (dout / "monitor.txt").read_text()
    result = yaml.safe_load((dout / "models" / "result.yaml").read_text())
    assert set(result["model_stages"]) == {"epoch_25"}  # only the one remaining epoch ran
    assert checkpoint.load(dout / "models" / "epoch_25" / "model.pt").epoch == 25
    assert result["mAP"] >= 0.5  # it kept the trained weights


def test_finetune_to_other_classes_skips_mismatched_layers(
    trained: Trained, data: dict[str, Path], tmp_path: Path
) -> None:
    config = {
        **TRAIN_CONFIG,
        "epochs": 1,
        "export_onnx": False,
        "class_names": ["circle", "square", "triangle", "x"],
        "pretrained_model_params": [str(trained.stage_dir() / "model.pt")],
    }
    din, dout = write_workdir(
        tmp_path, task="training", config=config, train=_small_set(data), val=voc_pairs(data["val"])[:30]
    )
    assert run_task(din, dout) == 0, (dout / "monitor.txt").read_text()
    new = checkpoint.load(dout / "models" / "epoch_1" / "model.pt")
    old = checkpoint.load(trained.stage_dir() / "model.pt")
    assert new.state_dict["head.cls_out.weight"].shape[0] == 4
    # a backbone tensor started from the pretrained one (one epoch moves it only a little)
    key = "backbone.stem.conv.weight"
    assert (
        torch.nn.functional.cosine_similarity(
            new.state_dict[key].flatten(), old.state_dict[key].flatten(), dim=0
        )
        > 0.9
    )


def test_coco_annotations_train(data: dict[str, Path], tmp_path: Path) -> None:
    from tests.executor.workdir import to_coco

    pairs = to_coco(_small_set(data, 40), tmp_path / "coco" / "coco-annotations.json", CLASSES)
    config = {**TRAIN_CONFIG, "epochs": 1, "export_onnx": False}
    din, dout = write_workdir(tmp_path, task="training", config=config, train=pairs, val=pairs[:10])
    assert run_task(din, dout) == 0, (dout / "monitor.txt").read_text()


@pytest.mark.parametrize("size", ["tiny", "small", "medium"])
def test_model_sizes_train_one_step(size: str) -> None:
    from ymir_executor.model import Detector, DetectorConfig

    model = Detector(DetectorConfig(num_classes=2, size=size))  # type: ignore[arg-type]
    x = torch.rand(2, 3, 64, 96)
    losses = model(
        x, torch.tensor([[[4.0, 4.0, 40.0, 30.0]], [[0.0, 0.0, 0.0, 0.0]]]), torch.tensor([[1], [-1]])
    )
    assert isinstance(losses, dict)
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"])


def test_distributed_training_over_two_processes(data: dict[str, Path], tmp_path: Path) -> None:
    """DistributedDataParallel with two ranks (gloo on the CPU: the code path several GPUs take with nccl).

    Each rank trains on its half of every epoch; rank 0 alone evaluates and writes stages, and the model it
    saves has learnt from both halves (gradients are averaged), so it is as useful as a one-process run.
    """
    from ymir_executor.config import load_train_config
    from ymir_executor.device import DevicePlan
    from ymir_executor.env import Roots, load_env
    from ymir_executor.monitor import Monitor
    from ymir_executor.train import run_training

    config = {**TRAIN_CONFIG, "epochs": 6, "batch_size_per_gpu": 16, "eval_interval": 3}
    din, dout = write_workdir(
        tmp_path, task="training", config=config, train=voc_pairs(data["train"]), val=voc_pairs(data["val"])
    )
    env = load_env(Roots(din, dout, Path("/nonexistent-img-man")))
    run_training(
        env,
        load_train_config(env.config_file),
        Monitor(env.monitor_file, env.task_id),
        plan=DevicePlan(0, cpu_processes=2),
    )
    result = ContractResult.model_validate(yaml.safe_load((dout / "models" / "result.yaml").read_text()))
    assert set(result.model_stages) <= {"epoch_3", "epoch_6"}
    assert (dout / "models" / result.best_stage_name / "model.onnx").is_file()
    assert result.mAP >= 0.5, result
    assert not list(dout.glob(".rank-error-*"))
    # rank 0 alone reports progress: one monitor.txt, no writer's temporary file left behind
    assert monitor_fields(dout)[3] == "2" and not list(dout.glob("monitor.txt*.tmp"))


def test_pseudo_labels_of_a_trained_model_are_mostly_right(trained: Trained, data: dict[str, Path]) -> None:
    """What ``pseudo_labels`` trains on: the model's confident detections, checked against the truth."""
    from ymir_executor import pseudo
    from ymir_executor.annotations import AnnotationReader
    from ymir_executor.boxes import pairwise_iou
    from ymir_executor.data import decode_all
    from ymir_executor.dataset import Item

    reader = AnnotationReader(CLASSES)
    items = [Item(img, reader.read(xml, img)) for img, xml in voc_pairs(data["val"])[:60]]
    cache = decode_all(items, size=96, workers=0, progress=lambda f: None)
    model = checkpoint.load(trained.stage_dir() / "model.pt").build().eval()
    made = pseudo.label(
        model, cache, threshold=0.4, max_boxes=100, batch_size=32, device=torch.device("cpu"), amp=False
    )
    right = found = total_made = total_true = 0
    for it, obj in zip(items, made, strict=True):
        iou = pairwise_iou(torch.from_numpy(obj.boxes), torch.from_numpy(it.objects.boxes))  # (made, true)
        same = torch.from_numpy(obj.classes)[:, None] == torch.from_numpy(it.objects.classes)[None, :]
        hit = (iou >= 0.5) & same
        right += int(hit.any(1).sum())
        found += int(hit.any(0).sum())
        total_made += len(obj.classes)
        total_true += len(it.objects.classes)
    assert total_made > 0.5 * total_true
    assert right / total_made >= 0.85  # precision of the labels it would train on
    assert found / total_true >= 0.6


def test_training_with_pseudo_labels_uses_the_pool(
    trained: Trained, data: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = {
        **TRAIN_CONFIG,
        "epochs": 2,
        "export_onnx": False,
        "pseudo_labels": True,
        "pseudo_label_ratio": 2.0,
        "pretrained_model_params": [str(trained.stage_dir() / "model.pt")],
        "repeat_factor_threshold": 0,  # each labelled image once, so the steps count the pool's share
    }
    pool = [img for img, _ in voc_pairs(data["train"])[100:160]]
    din, dout = write_workdir(
        tmp_path, task="training", config=config, train=_small_set(data, 20), val=voc_pairs(data["val"])[:20],
        candidates=pool,
    )  # fmt: skip
    with caplog.at_level("INFO", logger="ymir_executor"):
        assert run_task(din, dout) == 0, (dout / "monitor.txt").read_text()
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("pseudo-labels"))
    labelled = int(line.split(" on ")[1].split(" of ")[0])
    assert labelled >= 45 and "of 60 pool images" in line  # the images hold 1-4 shapes each
    took = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("training took"))
    assert " 4 steps " in took  # 2 epochs of 20 labelled + 40 pool images, batches of 32


def test_pseudo_labels_without_a_pool_name_the_key(data: dict[str, Path], tmp_path: Path) -> None:
    config = {**TRAIN_CONFIG, "epochs": 1, "pseudo_labels": True}
    din, dout = write_workdir(
        tmp_path, task="training", config=config, train=_small_set(data, 8), val=voc_pairs(data["val"])[:8]
    )
    assert run_task(din, dout) == 1
    fields = monitor_fields(dout)
    assert fields[4] == "300001" and "pseudo_labels" in fields[5] and "--unlabeled-revs" in fields[5]


def test_repeat_factor_sampling_lengthens_the_epoch(
    data: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every class is in most images here, so a threshold of 1.0 repeats them all a little: the epoch
    grows by the factors' sum, and the steps with it."""
    config = {**TRAIN_CONFIG, "epochs": 2, "batch_size_per_gpu": 8, "export_onnx": False}
    config["repeat_factor_threshold"] = 1.0
    din, dout = write_workdir(
        tmp_path, task="training", config=config, train=_small_set(data, 20), val=voc_pairs(data["val"])[:8]
    )
    with caplog.at_level("INFO", logger="ymir_executor"):
        assert run_task(din, dout) == 0, (dout / "monitor.txt").read_text()
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("repeat-factor"))
    shown = int(line.split(", ")[-1].split(" images per epoch")[0])
    assert "of 20 images repeated" in line and 20 < shown <= 2 * 20
    took = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("training took"))
    assert f" {2 * math.ceil(shown / 8)} steps " in took or f" {2 * math.ceil(shown / 8) + 1} steps " in took

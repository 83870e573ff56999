"""Self-describing checkpoints: weights plus everything needed to rebuild and use the model.

A checkpoint (``model.pt``) holds ``model_args`` (DetectorConfig), ``class_names``, ``img_size``, the
training ``config``, the epoch, the metrics, the training set's class counts (for class-balanced mining)
and, for resuming, the optimizer state. Loading for fine-tuning skips tensors whose shape differs (a new
class count changes the heatmap layer), as YOLOX's ``load_ckpt`` does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ymir_executor.errors import ModelError
from ymir_executor.model import Detector, DetectorConfig

FORMAT = "ymir-executor-detector/1"
WEIGHTS_FILE = "model.pt"
log = logging.getLogger(__name__)


@dataclass
class Checkpoint:
    """A loaded checkpoint."""

    path: Path
    model_args: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    class_names: list[str]
    img_size: int
    epoch: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    class_counts: list[int] = field(default_factory=list)
    optimizer: dict[str, Any] | None = None

    def build(self) -> Detector:
        """Rebuilds the network with these weights."""
        model = Detector(DetectorConfig(**self.model_args))
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise ModelError(
                path=self.path,
                problem="weights do not fit the stored model_args",
                fix="re-train the model; the file is corrupt or from another version",
            ) from exc
        return model


def save(
    path: Path,
    *,
    model: Detector,
    class_names: list[str],
    img_size: int,
    epoch: int,
    config: dict[str, Any],
    metrics: dict[str, float],
    class_counts: list[int],
    optimizer: dict[str, Any] | None,
) -> None:
    """Writes a checkpoint atomically."""
    payload = {
        "format": FORMAT,
        "model_args": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "class_names": list(class_names),
        "img_size": img_size,
        "epoch": epoch,
        "config": config,
        "metrics": metrics,
        "class_counts": list(class_counts),
        "optimizer": optimizer,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def find_weights(paths: list[str], *, map_path: Any, models_dir: Path, key: str) -> Path:
    """Picks the checkpoint among the model files the platform lists under ``key``.

    Raises:
        ModelError: If no listed file (or, with an empty list, no ``models_dir/*/model.pt``) exists.
    """
    candidates = [Path(map_path(p)) for p in paths]
    if not candidates:
        candidates = sorted(models_dir.glob(f"*/{WEIGHTS_FILE}")) + sorted(models_dir.glob(WEIGHTS_FILE))
    for cand in candidates:
        if cand.name == WEIGHTS_FILE and cand.is_file():
            return cand
    listed = ", ".join(str(c) for c in candidates) or f"nothing under {models_dir}"
    raise ModelError(
        path=listed,
        problem=f"no {WEIGHTS_FILE} found among {key}",
        fix="choose a model trained by this executor",
    )


def load(path: Path) -> Checkpoint:
    """Reads a checkpoint written by ``save``.

    Raises:
        ModelError: If the file is unreadable or was not written by this executor.
    """
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise ModelError(
            path=path,
            problem=f"cannot be loaded ({type(exc).__name__})",
            fix="choose a model trained by this executor",
        ) from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelError(
            path=path,
            problem="is not a ymir-executor checkpoint",
            fix="choose a model trained by this executor",
        )
    return Checkpoint(
        path=path,
        model_args=dict(raw["model_args"]),
        state_dict=raw["state_dict"],
        class_names=list(raw["class_names"]),
        img_size=int(raw["img_size"]),
        epoch=int(raw.get("epoch", 0)),
        config=dict(raw.get("config") or {}),
        metrics=dict(raw.get("metrics") or {}),
        class_counts=list(raw.get("class_counts") or []),
        optimizer=raw.get("optimizer"),
    )


def load_matching(model: Detector, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Loads the tensors of ``state_dict`` whose name and shape match ``model``; returns the skipped names."""
    own = model.state_dict()
    matched = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(matched))
    model.load_state_dict(matched, strict=False)
    if skipped:
        log.warning(
            "fine-tuning: %d tensors not taken from the pretrained model: %s",
            len(skipped),
            ", ".join(skipped[:8]),
        )
    return skipped

"""The task's hyper-parameters: config.yaml, validated field by field.

config.yaml is the image's template, overridden by the user's edits and then by the platform's reserved
keys. Every key has a typed field here, so an unknown or ill-typed key fails with its name. Keys that the
platform itself consumes (``export_format``, ``shm_size``, ...) are accepted and ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ymir_executor.errors import ConfigError, ObjectTypeError

ModelSize = Literal["tiny", "small", "medium"]
MiningAlgorithm = Literal["balanced", "hybrid", "random", "entropy", "aldd", "cald", "kcenter"]


class _Reserved(BaseModel):
    """Keys the platform writes into every config.yaml."""

    model_config = ConfigDict(extra="forbid")
    task_id: str = "default-task"
    class_names: list[str] = Field(default_factory=list)
    gpu_id: str = ""
    gpu_count: int = Field(default=0, ge=0)
    object_type: int | list[int] = 2
    # Consumed by the platform or by other images; accepted so the shared templates validate.
    export_format: str = "ark:raw"
    shm_size: str = "16G"
    openpai_enable: bool = False
    run_training: bool = False
    run_mining: bool = False
    run_infer: bool = False
    text_prompt: str = ""

    @field_validator("object_type")
    @classmethod
    def _detection_only(cls, value: int | list[int]) -> int | list[int]:
        types = value if isinstance(value, list) else [value]
        if 2 not in types:
            raise ValueError("object_type_unsupported")
        return value

    @field_validator("class_names")
    @classmethod
    def _distinct_names(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("class names must be distinct")
        return value


class TrainConfig(_Reserved):
    """Training hyper-parameters (``training-template.yaml``)."""

    pretrained_model_params: list[str] = Field(default_factory=list)
    resume: bool = False
    model_size: ModelSize = "small"
    img_size: int = Field(default=640, ge=32, le=4096, multiple_of=32)
    epochs: int = Field(default=60, ge=1)
    max_train_minutes: float = Field(default=0.0, ge=0.0)
    batch_size_per_gpu: int = Field(default=32, ge=1)
    workers_per_gpu: int = Field(default=4, ge=0)
    cache_images: Literal["auto", "none", "ram", "device"] = "auto"
    cache_max_gb: float = Field(default=8.0, ge=0.0)
    learning_rate: float = Field(default=2e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(default=0.05, ge=0.0)
    warmup_epochs: float = Field(default=1.0, ge=0.0)
    min_lr_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    grad_clip: float = Field(default=10.0, ge=0.0)
    ema_decay: float = Field(default=0.999, ge=0.0, lt=1.0)
    amp: bool = True
    channels_last: bool = True
    flip_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    scale_jitter: float = Field(default=0.3, ge=0.0, lt=1.0)
    translate: float = Field(default=0.1, ge=0.0, le=0.5)
    color_jitter: float = Field(default=0.3, ge=0.0, le=1.0)
    mosaic_prob: float = Field(default=0.3, ge=0.0, le=1.0)
    eval_interval: int = Field(default=5, ge=1)
    keep_stages: int = Field(default=3, ge=1)
    conf_threshold: float = Field(default=0.001, ge=0.0, le=1.0)
    iou_threshold: float = Field(default=0.6, gt=0.0, le=1.0)
    max_boxes: int = Field(default=100, ge=1)
    export_onnx: bool = True
    onnx_opset: int = Field(default=17, ge=11, le=21)
    seed: int = 0
    log_interval: int = Field(default=20, ge=1)
    cuda_graph: bool = True
    pseudo_labels: bool = False
    pseudo_label_threshold: float = Field(default=0.4, gt=0.0, le=1.0)
    pseudo_label_ratio: float = Field(default=1.0, ge=0.0)
    # repeat-factor sampling (LVIS): an image whose rarest class is held by fewer than this share of the
    # training images shows sqrt(threshold / share) times per epoch; 0: every image once; auto: below
    repeat_factor_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | Literal["auto"] = "auto"

    def repeat_threshold(self) -> float:
        """The repeat-factor threshold in effect. ``auto`` is 0.3, the value measured on the mining benchmark
        (10 classes, docs/benchmarks.md), and 3 / the number of classes from 11 classes on: about the share
        of the images an average class holds when an image holds 3 objects, so a set of many classes does
        not lengthen its epochs several times, as a fixed 0.3 would (80 classes: 0.0375; LVIS's 1,203:
        0.0025, near LVIS's 0.001). Never above 0.3, so two or three classes that each fill a third of the
        images repeat nothing; 0 for one class, which has no other class to be balanced against."""
        if self.repeat_factor_threshold != "auto":
            return float(self.repeat_factor_threshold)
        n = len(self.class_names)
        return 0.0 if n < 2 else min(0.3, 3.0 / n)


class PredictConfig(_Reserved):
    """Mining and inference parameters (``mining-template.yaml`` merged with ``infer-template.yaml``)."""

    model_params_path: list[str] = Field(default_factory=list)
    img_size: int = Field(default=0, ge=0, le=4096, multiple_of=32)
    batch_size_per_gpu: int = Field(default=64, ge=1)
    workers_per_gpu: int = Field(default=8, ge=0)
    amp: bool = True
    channels_last: bool = True
    backend: Literal["torch", "onnx"] = "torch"
    gpu_decode: bool = True
    # mining
    mining_algorithm: MiningAlgorithm = "balanced"
    topk: int = Field(default=0, ge=0)
    mining_conf_threshold: float = Field(default=0.05, ge=0.0, le=1.0)
    class_distribution_scores: list[float] | str = ""
    novelty_radius: float = Field(default=1.0, ge=0.0)
    hybrid_balance: float = Field(default=0.5, ge=0.0)
    class_balance: float = Field(default=0.5, ge=0.0)
    novelty_features: Literal["box", "image"] = "box"
    mining_difficulty: Literal["validation", "pool"] = "validation"
    mining_views: str = "auto"
    cald_beta: float = Field(default=1.3, gt=0.0)
    seed: int = 0
    # inference
    conf_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    iou_threshold: float = Field(default=0.6, gt=0.0, le=1.0)
    max_boxes: int = Field(default=100, ge=1)

    @field_validator("mining_views")
    @classmethod
    def _known_views(cls, value: str) -> str:
        names = [v.strip() for v in value.split(",") if v.strip()]
        if value.strip() != "auto" and (not names or any(v not in ("flip", "scale", "crop") for v in names)):
            raise ValueError("must be auto, or a comma list of flip, scale, crop, e.g. 'scale,crop'")
        return value.strip()

    def class_weights(self, n_classes: int) -> list[float]:
        """Per-class weights from ``class_distribution_scores`` (YMIR's comma list), all 1.0 when empty."""
        raw = self.class_distribution_scores
        values = [float(v) for v in raw.split(",") if v.strip()] if isinstance(raw, str) else list(raw)
        if not values:
            return [1.0] * n_classes
        if len(values) != n_classes:
            raise ConfigError(
                field="class_distribution_scores",
                problem=f"has {len(values)} weights for {n_classes} classes",
                fix="give one weight per class, or leave it empty",
            )
        if any(not v >= 0 for v in values):
            raise ConfigError(
                field="class_distribution_scores",
                problem=f"has a weight that is not >= 0: {raw}",
                fix="give weights >= 0 (0 leaves a class out)",
            )
        return values


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            field="config.yaml",
            problem=f"{path} does not exist",
            fix="write the task's config next to env.yaml",
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(
            field="config.yaml",
            problem=f"is not valid YAML ({exc})".replace("\n", " "),
            fix="fix the YAML syntax",
        ) from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            field="config.yaml", problem="is not a mapping", fix="write flat `key: value` lines"
        )
    return raw


_T = TypeVar("_T", bound="_Reserved")


def _validate(model: type[_T], raw: dict[str, Any]) -> _T:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errs = exc.errors()
        err = errs[0]
        # a union field (``0.3`` or ``auto``) fails once per alternative, each loc ending in the
        # alternative's tag: name the key alone, and say every alternative
        key = [p for i, p in enumerate(err["loc"]) if i == 0 or isinstance(p, int)]
        field = ".".join(str(p) for p in key) or "config.yaml"
        msg = "; or ".join(dict.fromkeys(e["msg"] for e in errs if e["loc"][:1] == err["loc"][:1]))
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(model.model_fields))
            raise ConfigError(
                field=field, problem="unknown key", fix=f"remove it or use one of: {allowed}"
            ) from exc
        if "object_type_unsupported" in str(err.get("msg", "")):
            raise ObjectTypeError(raw.get("object_type")) from exc
        raise ConfigError(
            field=field, problem=f"{msg} (got {err.get('input')!r})", fix="correct the value"
        ) from exc


def load_train_config(path: Path) -> TrainConfig:
    """Reads and validates a training config.yaml."""
    cfg = _validate(TrainConfig, _read_yaml(path))
    if not cfg.class_names:
        raise ConfigError(field="class_names", problem="is empty", fix="choose at least one training class")
    return cfg


def load_predict_config(path: Path) -> PredictConfig:
    """Reads and validates a mining and/or inference config.yaml."""
    return _validate(PredictConfig, _read_yaml(path))

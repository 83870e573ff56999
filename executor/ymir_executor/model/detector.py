"""The detector: backbone -> neck -> head, with losses in training and dense predictions otherwise."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from ymir_executor.model.backbone import Backbone
from ymir_executor.model.decode import peaks
from ymir_executor.model.head import Head
from ymir_executor.model.losses import detection_loss, ltrb_to_boxes
from ymir_executor.model.neck import Neck

STRIDE = 4
# (backbone widths, residual blocks per stage, neck/head width) per size
SIZES: dict[str, tuple[tuple[int, int, int, int], tuple[int, int, int, int], int]] = {
    "tiny": ((16, 32, 64, 128), (1, 1, 1, 1), 32),
    "small": ((24, 48, 96, 192), (1, 2, 2, 1), 48),
    "medium": ((32, 64, 128, 256), (1, 2, 3, 2), 64),
}


@dataclass(frozen=True)
class DetectorConfig:
    """What it takes to rebuild the network; stored in every checkpoint."""

    num_classes: int
    size: Literal["tiny", "small", "medium"] = "small"  # width and depth preset, see SIZES

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints."""
        return asdict(self)


class Dense(NamedTuple):
    """Dense predictions on the stride-4 grid."""

    heat: torch.Tensor  # (B, C, H/4, W/4) class probabilities
    boxes: torch.Tensor  # (B, 4, H/4, W/4) XYXY input pixels, one box per cell
    feature: torch.Tensor  # (B, D) pooled neck feature (for diversity in mining)
    fmap: torch.Tensor | None = None  # (B, D, H/4, W/4) the neck map itself (box features in mining)


class Detector(nn.Module):
    """Anchor-free centre-point detector.

    Input: images (B, 3, H, W) float in 0..1, H and W multiples of 32. ``forward(x, boxes, classes)`` returns
    the losses; ``forward(x)`` returns ``Dense`` predictions.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths, depths, width = SIZES[cfg.size]
        self.backbone = Backbone(widths, depths)
        self.neck = Neck(widths, width)
        self.head = Head(width, cfg.num_classes)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-4 neck map (B, width, H/4, W/4) of images (B, 3, H, W) in 0..1."""
        x = (x - self.mean) / self.std
        feat: torch.Tensor = self.neck(self.backbone(x))
        return feat

    def forward(
        self, x: torch.Tensor, boxes: torch.Tensor | None = None, classes: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor] | Dense:
        feat = self.features(x)  # (B, D, H/4, W/4)
        logits, ltrb = self.head(feat)  # (B, C, H/4, W/4), (B, 4, H/4, W/4)
        if boxes is not None and classes is not None:
            return detection_loss(logits, ltrb, boxes, classes, STRIDE)
        heat = torch.sigmoid(logits.float())
        pooled = feat.float().mean(dim=(2, 3))  # (B, D)
        return Dense(heat, ltrb_to_boxes(ltrb, STRIDE), pooled, feat)

    def predict(self, x: torch.Tensor) -> Dense:
        """Dense predictions; the typed counterpart of ``forward(x)``."""
        out = self(x)
        assert isinstance(out, Dense)
        return out


class ExportWrapper(nn.Module):
    """What ONNX exports: the dense maps plus decoded top-``k`` detections, so a consumer needs no decoder.

    The detections are ``decode.peaks`` (3x3 max-pool peaks, top-``k`` over classes and cells) and the box of
    each peak's cell, in model-input pixels. There is no score threshold and no NMS in the graph: the
    consumer picks both, as ``decode.decode`` does after the same ``peaks``.
    """

    def __init__(self, model: Detector, *, topk: int) -> None:
        super().__init__()
        self.model = model
        self.topk = topk

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model.predict(x)
        scores, classes, cells = peaks(out.heat, self.topk)  # (B, K) each
        flat = out.boxes.flatten(2)  # (B, 4, H/4 * W/4)
        picked = flat.gather(2, cells[:, None, :].expand(-1, 4, -1)).permute(0, 2, 1)  # (B, K, 4) XYXY
        return out.heat, out.boxes, out.feature, picked, scores, classes

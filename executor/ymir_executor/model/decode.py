"""Turns dense predictions into detections: peak picking on the heatmap, top-k, threshold, NMS."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ymir_executor.boxes import batched_nms


@dataclass
class Detections:
    """Detections of one image, in the pixels of the image as the model saw it (before un-letterboxing)."""

    boxes: torch.Tensor  # (K, 4) XYXY
    scores: torch.Tensor  # (K,)
    classes: torch.Tensor  # (K,) long


def peaks(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``k`` local maxima (3x3) of heatmaps (B, C, H, W) -> scores, classes, cell indices, each (B, k)."""
    b, c, h, w = heat.shape
    keep = F.max_pool2d(heat, 3, stride=1, padding=1) == heat
    flat = (heat * keep).reshape(b, c * h * w)
    k = min(k, c * h * w)
    scores, idx = flat.topk(k, dim=1)  # (B, k)
    return scores, idx // (h * w), idx % (h * w)


def decode(
    heat: torch.Tensor,
    boxes: torch.Tensor,
    *,
    conf_threshold: float,
    max_boxes: int,
    iou_threshold: float | None = None,
) -> list[Detections]:
    """Detections per image from heatmaps (B, C, H, W) and per-cell boxes (B, 4, H, W).

    Args:
        conf_threshold: Drop detections scoring below this.
        max_boxes: At most this many detections per image.
        iou_threshold: Class-wise NMS threshold; ``None`` keeps every peak.
    """
    b = heat.shape[0]
    scores, classes, cells = peaks(heat.float(), max_boxes)  # (B, k) each
    flat = boxes.float().reshape(b, 4, -1)  # (B, 4, HW)
    picked = flat.gather(2, cells[:, None, :].expand(b, 4, cells.shape[1])).permute(0, 2, 1)  # (B, k, 4)
    out = []
    for i in range(b):
        sel = scores[i] >= conf_threshold
        d = Detections(picked[i][sel], scores[i][sel], classes[i][sel])
        if iou_threshold is not None and len(d.scores) > 1:
            kept = batched_nms(d.boxes, d.scores, d.classes, iou_threshold)
            d = Detections(d.boxes[kept], d.scores[kept], d.classes[kept])
        out.append(d)
    return out

"""Box layouts, conversion, IoU and non-maximum suppression, in pure torch.

Layouts (``BoxMode``): ``XYXY`` is (x0, y0, x1, y1) with exclusive max, used everywhere inside the
executor; ``XYWH`` is (x, y, width, height), used at the contract's edges (infer-result.json, COCO).
All coordinates are pixels of the image the boxes belong to.
"""

from __future__ import annotations

from enum import Enum

import torch


class BoxMode(Enum):
    """How the four numbers of a box are laid out."""

    XYXY = "xyxy"
    XYWH = "xywh"


def convert(boxes: torch.Tensor, src: BoxMode, dst: BoxMode) -> torch.Tensor:
    """Converts ``boxes`` (..., 4) from layout ``src`` to ``dst``."""
    if src == dst:
        return boxes
    a, b, c, d = boxes.unbind(-1)
    if src == BoxMode.XYXY:
        return torch.stack((a, b, c - a, d - b), dim=-1)
    return torch.stack((a, b, a + c, b + d), dim=-1)


def area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of XYXY boxes (..., 4) -> (...); degenerate boxes have area 0."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every XYXY box in ``a`` (N, 4) with every one in ``b`` (M, 4) -> (N, M)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    inter = (rb - lt).clamp(min=0).prod(-1)  # (N, M)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return inter / union.clamp(min=1e-9)


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Elementwise generalised-IoU loss ``1 - GIoU`` of matched XYXY boxes (..., 4) -> (...)."""
    lt = torch.maximum(pred[..., :2], target[..., :2])
    rb = torch.minimum(pred[..., 2:], target[..., 2:])
    # products written out: the gradient of prod() looks for zeros on the host (no CUDA graph can hold it)
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area(pred) + area(target) - inter
    iou = inter / union.clamp(min=1e-6)
    hull = (
        torch.maximum(pred[..., 2:], target[..., 2:]) - torch.minimum(pred[..., :2], target[..., :2])
    ).clamp(min=0)
    hull_area = (hull[..., 0] * hull[..., 1]).clamp(min=1e-6)
    return 1.0 - iou + (hull_area - union) / hull_area


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression.

    Args:
        boxes: (N, 4) XYXY.
        scores: (N,).
        iou_threshold: A box is dropped when its IoU with a kept, higher-scoring box exceeds this.

    Returns:
        Indices of the kept boxes (K,), highest score first.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    iou = pairwise_iou(boxes[order], boxes[order]).cpu()  # (N, N), sorted by score
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep: list[int] = []
    over = iou > iou_threshold
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= over[i]
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Class-wise NMS: boxes of different classes never suppress each other. Shapes as in ``nms``."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    offset = classes.to(boxes.dtype)[:, None] * (boxes.max() + 1.0)  # (N, 1) moves classes apart
    return nms(boxes + offset, scores, iou_threshold)

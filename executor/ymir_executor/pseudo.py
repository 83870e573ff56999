"""Pseudo-labels: the unlabelled pool trained on with a model's own confident detections (self-training).

An active-learning round labels a few hundred images while thousands wait in the pool. With
``pseudo_labels: true`` the platform passes the pool as the task's candidate index, the model the
training starts from (the EMA weights; at round 1 and later the previous round's model) labels each pool
image with its detections scoring at least ``pseudo_label_threshold``, and every epoch trains on all the
labelled images plus ``pseudo_label_ratio`` times as many pool images drawn anew. Without a pretrained
model the labels are made halfway through, by the model trained so far.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ymir_executor.annotations import Objects
from ymir_executor.boxes import batched_nms
from ymir_executor.dataset import Batch
from ymir_executor.device import autocast
from ymir_executor.model import Detector
from ymir_executor.model.decode import peaks

NMS_IOU = 0.6


@torch.no_grad()
def label(
    model: Detector,
    cache: Batch,
    *,
    threshold: float,
    max_boxes: int,
    batch_size: int,
    device: torch.device,
    amp: bool,
) -> list[Objects]:
    """The model's detections scoring at least ``threshold`` on each cached image, in original pixels.

    Args:
        cache: Letterboxed pool images (N, 3, S, S) uint8 with their scales.

    Returns:
        One ``Objects`` per image (boxes XYXY in the image's own pixels), empty where nothing is confident.
    """
    model.eval()
    out: list[Objects] = []
    scales = cache.scales.tolist()
    for start in range(0, len(cache.pixels), batch_size):
        img = cache.pixels[start : start + batch_size].to(device).float() / 255.0  # (B, 3, S, S)
        with autocast(device, amp):
            dense = model.predict(img)
        b = img.shape[0]
        scores, classes, cells = peaks(dense.heat.float(), max_boxes)  # (B, k) each
        flat = dense.boxes.float().reshape(b, 4, -1)  # (B, 4, HW)
        picked = flat.gather(2, cells[:, None, :].expand(b, 4, cells.shape[1])).permute(0, 2, 1)  # (B, k, 4)
        scores, classes, picked = scores.cpu(), classes.cpu(), picked.cpu()  # one copy per batch
        for i in range(b):
            sel = scores[i] >= threshold
            boxes, sc, cl = picked[i][sel], scores[i][sel], classes[i][sel]
            if len(sc) > 1:
                kept = batched_nms(boxes, sc, cl, NMS_IOU)
                boxes, cl = boxes[kept], cl[kept]
            s = scales[start + i]
            out.append(Objects((boxes / s).numpy().astype(np.float32), cl.numpy().astype(np.int64)))
    return out


def epoch_members(
    *, n_labelled: int, n_pool: int, ratio: float, labelled_pool: bool, seed: int
) -> torch.Tensor:
    """Indices of one epoch's images: every labelled one (0..n_labelled-1), then, once the pool carries
    labels, ``ratio`` times as many pool images (n_labelled..) drawn without replacement."""
    labelled = torch.arange(n_labelled)
    if not labelled_pool or n_pool == 0 or ratio <= 0:
        return labelled
    k = min(n_pool, math.ceil(ratio * n_labelled))
    drawn = torch.randperm(n_pool, generator=torch.Generator().manual_seed(seed))[:k] + n_labelled
    return torch.cat((labelled, drawn))

"""Mining scores: per-batch uncertainty scores on the device, and the pool-level orderings.

Every function here works on a batch of dense predictions, so mining streams: the pool needs memory for
one score, one pooled feature vector (D floats) and one class vector (C floats) per image only.
Higher scores mean "label this first".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ymir_executor.boxes import pairwise_iou
from ymir_executor.model.decode import peaks
from ymir_executor.model.detector import Dense

EPS = 1e-6
ALDD_CELL = 8  # max-pool cell of ALDD, in stride-4 cells (32 input pixels, as YMIR's YOLO ports use)


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy in bits of Bernoulli(p), elementwise, in 0..1."""
    p = p.clamp(EPS, 1 - EPS)
    return -(p * torch.log2(p) + (1 - p) * torch.log2(1 - p))


def location_peaks(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` 3x3 maxima of the class-max heatmap -> scores (B, k), class probabilities (B, k, C)."""
    b, c, h, w = heat.shape
    top = heat.max(1).values  # (B, H, W) objectness
    keep = F.max_pool2d(top[:, None], 3, stride=1, padding=1)[:, 0] == top
    scores, cells = (top * keep).reshape(b, h * w).topk(min(k, h * w), dim=1)  # (B, k)
    probs = heat.reshape(b, c, h * w).gather(2, cells[:, None].expand(b, c, cells.shape[1]))  # (B, C, k)
    return scores, probs.permute(0, 2, 1)


def entropy_scores(out: Dense, *, conf_threshold: float, k: int = 100) -> torch.Tensor:
    """Confidence-weighted mean entropy of the image's detections -> (B,), 0..1.

    A detection is a local maximum of the objectness (class-max) heatmap scoring >= ``conf_threshold``.
    Its entropy is that of the class distribution at that point, normalised by log C: high when the model
    sees an object but cannot tell its class. With one class, the binary entropy of the score is used.
    Averaging over detections, not summing as YMIR's images do, keeps crowded images from winning just by
    holding many boxes; an image with no detection scores 0.
    """
    scores, probs = location_peaks(out.heat, k)  # (B, k), (B, k, C)
    c = probs.shape[-1]
    if c > 1:
        q = probs / probs.sum(-1, keepdim=True).clamp(min=EPS)
        ent = -(q * torch.log(q.clamp(min=EPS))).sum(-1) / math.log(c)  # (B, k)
    else:
        ent = binary_entropy(scores)
    w = scores * (scores >= conf_threshold).float()
    return (ent * w).sum(1) / w.sum(1).clamp(min=EPS)


def aldd_scores(out: Dense, class_weights: torch.Tensor) -> torch.Tensor:
    """ALDD (Aghdam et al. 2019): entropy of the 3x3-mean minus mean of the 3x3 entropies, max per cell, mean.

    Args:
        class_weights: (C,) weight of each class's map in the sum.

    Returns:
        (B,) scores.
    """
    p = out.heat.float()  # (B, C, H, W)
    mean_p = F.avg_pool2d(p, 3, stride=1, padding=1, count_include_pad=False)
    mean_h = F.avg_pool2d(binary_entropy(p), 3, stride=1, padding=1, count_include_pad=False)
    s = (binary_entropy(mean_p) - mean_h).clamp(min=0)  # (B, C, H, W) disagreement per pixel
    s = (s * class_weights.view(1, -1, 1, 1)).sum(1, keepdim=True)  # (B, 1, H, W)
    cell = min(ALDD_CELL, s.shape[-1], s.shape[-2])
    return F.max_pool2d(s, cell, stride=cell, ceil_mode=True).mean(dim=(1, 2, 3))


def class_vectors(out: Dense, k: int = 100) -> torch.Tensor:
    """Highest peak score per class (B, C): what the image seems to contain."""
    b, c = out.heat.shape[:2]
    scores, classes, _ = peaks(out.heat, k)  # (B, k)
    vec = torch.zeros(b, c, device=out.heat.device)
    return vec.scatter_reduce(1, classes, scores, reduce="amax", include_self=True)


def _detections(
    out: Dense, k: int, conf: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Location peaks as (boxes (B,k,4), scores (B,k), class distributions (B,k,C), valid (B,k))."""
    b, c, h, w = out.heat.shape
    top = out.heat.max(1).values  # (B, H, W)
    keep = F.max_pool2d(top[:, None], 3, stride=1, padding=1)[:, 0] == top
    scores, cells = (top * keep).reshape(b, h * w).topk(min(k, h * w), dim=1)  # (B, k)
    boxes = (
        out.boxes.reshape(b, 4, h * w).gather(2, cells[:, None].expand(b, 4, cells.shape[1])).permute(0, 2, 1)
    )
    probs = (
        out.heat.reshape(b, c, h * w).gather(2, cells[:, None].expand(b, c, cells.shape[1])).permute(0, 2, 1)
    )
    dist = probs / probs.sum(-1, keepdim=True).clamp(min=EPS)  # (B, k, C) which class, given an object
    return boxes, scores, dist, scores >= conf


def _js(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (natural log, 0..ln 2) over the last axis."""
    m = (p + q) / 2

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * (torch.log(a.clamp(min=EPS)) - torch.log(b.clamp(min=EPS)))).sum(-1)

    return (kl(p, m) + kl(q, m)) / 2


def cald_views(img: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, list[str]]:
    """The augmented views CALD compares with the original: flip, 0.8x scale, cutout -> (3B, 3, S, S)."""
    b, _, s, _ = img.shape
    flipped = img.flip(-1)
    small = torch.full_like(img, 114 / 255)
    t = int(round(s * 0.8))
    small[..., :t, :t] = F.interpolate(img, size=(t, t), mode="bilinear", align_corners=False)
    cut = img.clone()
    patch = max(4, s // 6)
    pos = torch.randint(0, s - patch, (b, 2, 2), generator=gen, device=gen.device).tolist()
    for i in range(b):
        for y, x in pos[i]:
            cut[i, :, y : y + patch, x : x + patch] = 114 / 255
    return torch.cat((flipped, small, cut)), ["flip", "scale", "cutout"]


def cald_scores(
    ref: Dense, views: Dense, *, img_size: int, conf_threshold: float, beta: float
) -> torch.Tensor:
    """CALD (Yu et al. 2022): 1 - mean over views of the least consistent detection's consistency -> (B,).

    Consistency of a reference detection with its best-IoU match in a view is
    ``|IoU + (m + m')/2 * (1 - JS(p || p')) - beta|``. An image without reference detections scores 1 (first).
    """
    b = ref.heat.shape[0]
    k = 50
    r_boxes, r_scores, r_dist, r_ok = _detections(ref, k, conf_threshold)
    per_view = []
    for v in range(3):
        sl = slice(v * b, (v + 1) * b)
        view = Dense(views.heat[sl], views.boxes[sl], views.feature[sl])
        a_boxes, a_scores, a_dist, a_ok = _detections(view, k, 0.01)
        expected = r_boxes.clone()  # reference boxes moved into the view's frame
        if v == 0:
            expected[..., 0], expected[..., 2] = img_size - r_boxes[..., 2], img_size - r_boxes[..., 0]
        elif v == 1:
            expected = r_boxes * 0.8
        iou = torch.stack([pairwise_iou(expected[i], a_boxes[i]) for i in range(b)])  # (B, k, k)
        iou = iou.masked_fill(~a_ok[:, None, :], -1.0)
        best_iou, j = iou.max(-1)  # (B, k)
        m2 = a_scores.gather(1, j)
        d2 = a_dist.gather(1, j[..., None].expand_as(a_dist))
        c = (best_iou.clamp(min=0) + (r_scores + m2) / 2 * (1 - _js(r_dist, d2) / math.log(2)) - beta).abs()
        c = c.masked_fill(~r_ok, math.inf).min(1).values.clamp(max=1.0)  # (B,) least consistent, init 1
        c = torch.where(a_ok.any(1), c, torch.zeros_like(c))
        per_view.append(c)
    consistency = torch.stack(per_view, 1).mean(1)  # (B,)
    consistency = torch.where(r_ok.any(1), consistency, torch.zeros_like(consistency))
    return 1.0 - consistency


def kcenter_order(
    features: torch.Tensor, k: int, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy k-centre selection (Sener & Savarese 2018) on L2-normalised features (N, D).

    Starts at the point farthest from the mean and repeatedly adds the point farthest from every chosen
    one (times its weight, when ``weights`` (N,) is given). Returns the chosen indices in pick order (k,)
    and each point's final distance to its nearest chosen point (N,).
    """
    f = F.normalize(features.float(), dim=1)
    n = f.shape[0]
    k = min(k, n)
    w = torch.ones(n, device=f.device) if weights is None else weights.float().clamp(min=EPS)
    dist = (f - f.mean(0, keepdim=True)).norm(dim=1)  # (N,) start: farthest from the mean
    picks = torch.empty(k, dtype=torch.long, device=f.device)
    for t in range(k):
        i = int(torch.argmax(dist * w))
        picks[t] = i
        dist = torch.minimum(dist if t else torch.full_like(dist, math.inf), (f - f[i]).norm(dim=1))
    return picks, dist

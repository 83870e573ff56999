"""Mining scores: per-batch uncertainty scores on the device, and the pool-level orderings.

Every function here works on a batch of dense predictions, so mining streams: the pool needs memory for
one score, one pooled feature vector (D floats) and one class vector (C floats) per image only.
Higher scores mean "label this first".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ymir_executor.boxes import area
from ymir_executor.images import PAD_VALUE
from ymir_executor.model.decode import peaks
from ymir_executor.model.detector import Dense

EPS = 1e-6
ALDD_CELL = 3  # ALDD's neighbourhood and region side, in stride-4 cells (12 input pixels)
CALD_REF_SHARE = 0.5  # CALD's reference detections score at least this share of the image's strongest peak
CALD_SCALE = 0.8  # CALD's rescaled view
GREY = PAD_VALUE / 255  # letterbox padding, also the fill of CALD's rescale margin and cutout


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy in bits of Bernoulli(p), elementwise, in 0..1."""
    p = p.clamp(EPS, 1 - EPS)
    return -(p * torch.log2(p) + (1 - p) * torch.log2(1 - p))


def _peak_cells(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` 3x3 maxima of the class-max heatmap (B, C, H, W) -> scores, flat cells, each (B, k)."""
    b, _, h, w = heat.shape
    top = heat.max(1).values  # (B, H, W) objectness
    keep = F.max_pool2d(top[:, None], 3, stride=1, padding=1)[:, 0] == top
    scores, cells = (top * keep).reshape(b, h * w).topk(min(k, h * w), dim=1)
    return scores, cells


def _at(maps: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Values of maps (B, D, H, W) at flat cells (B, k) -> (B, k, D)."""
    b, d = maps.shape[:2]
    return maps.reshape(b, d, -1).gather(2, cells[:, None].expand(b, d, cells.shape[1])).permute(0, 2, 1)


def location_peaks(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` 3x3 maxima of the class-max heatmap -> scores (B, k), class probabilities (B, k, C)."""
    scores, cells = _peak_cells(heat, k)
    return scores, _at(heat, cells)


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


def aldd_scores(out: Dense, mirrored: Dense, class_weights: torch.Tensor) -> torch.Tensor:
    """ALDD (Aghdam et al. 2019): how much the heatmaps of an image and of its mirror image disagree -> (B,).

    The two predictions are the ensemble. A pixel scores the entropy of their mean minus their mean entropy
    (BALD's mutual information: high only where the views disagree, not where both are merely unsure), per
    class, weighted by ``class_weights`` and summed. Each map is first max-pooled over the 3x3 neighbourhood
    the paper compares a pixel with: a CenterNet peak is a sharp Gaussian, so its fall-off between
    neighbouring cells, or a one-cell shift between the views, is not disagreement (comparing raw
    neighbours ranks the most confident objects first). The image scores its worst region, the highest
    3x3 mean, so a cluttered image does not win by holding many slightly unstable spots.

    Args:
        mirrored: Predictions on the horizontally flipped images.
        class_weights: (C,) weight of each class's map in the sum.
    """
    cell = min(ALDD_CELL, out.heat.shape[-1], out.heat.shape[-2])

    def region_max(p: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(p.float(), cell, stride=1, padding=cell // 2)

    views = torch.stack((region_max(out.heat), region_max(mirrored.heat.flip(-1))))  # (2, B, C, H, W)
    mi = (binary_entropy(views.mean(0)) - binary_entropy(views).mean(0)).clamp(min=0)  # (B, C, H, W)
    s = (mi * class_weights.view(1, -1, 1, 1)).sum(1, keepdim=True)  # (B, 1, H, W)
    s = F.avg_pool2d(s, cell, stride=1, padding=cell // 2, count_include_pad=False)
    return s.flatten(1).amax(1)


def class_vectors(out: Dense, k: int = 100) -> torch.Tensor:
    """Highest peak score per class (B, C): what the image seems to contain."""
    b, c = out.heat.shape[:2]
    scores, classes, _ = peaks(out.heat, k)  # (B, k)
    vec = torch.zeros(b, c, device=out.heat.device)
    return vec.scatter_reduce(1, classes, scores, reduce="amax", include_self=True)


def _detections(out: Dense, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``k`` location peaks as (boxes (B,k,4), scores (B,k), class distributions (B,k,C)), best first."""
    scores, cells = _peak_cells(out.heat, k)
    probs = _at(out.heat, cells)
    dist = probs / probs.sum(-1, keepdim=True).clamp(min=EPS)  # which class, given an object
    return _at(out.boxes, cells), scores, dist


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every XYXY box of ``a`` (B, N, 4) with every one of ``b`` (B, M, 4) -> (B, N, M)."""
    lt = torch.maximum(a[:, :, None, :2], b[:, None, :, :2])
    rb = torch.minimum(a[:, :, None, 2:], b[:, None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (area(a)[:, :, None] + area(b)[:, None, :] - inter).clamp(min=EPS)


def _js(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (natural log, 0..ln 2) over the last axis."""
    m = (p + q) / 2

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * (torch.log(a.clamp(min=EPS)) - torch.log(b.clamp(min=EPS)))).sum(-1)

    return (kl(p, m) + kl(q, m)) / 2


def cald_views(img: torch.Tensor, ref: Dense, gen: torch.Generator) -> torch.Tensor:
    """The views CALD compares with the images (B, 3, S, S): flip, 0.8x rescale, cutout -> (3B, 3, S, S).

    The rescaled image sits top-left on grey. CALD's cutout hides part of a detected object (10-40% of its
    box), since a patch on the background tests nothing: here a grey patch of half the width and height of
    the strongest peak's box ``ref`` predicts, at a random place inside that box.
    """
    b, _, s, _ = img.shape
    small = torch.full_like(img, GREY)
    t = int(round(s * CALD_SCALE))
    small[..., :t, :t] = F.interpolate(img, size=(t, t), mode="bilinear", align_corners=False)
    box = _detections(ref, 1)[0][:, 0].clamp(0, s)  # (B, 4)
    size = ((box[:, 2:] - box[:, :2]) / 2).clamp(min=2.0)  # (B, 2) patch width, height
    u = torch.rand(b, 2, generator=gen, device=gen.device).to(img.device)  # patch place in the box
    lo = box[:, :2] + u * (box[:, 2:] - box[:, :2] - size).clamp(min=0)  # (B, 2) patch x0, y0
    grid = torch.arange(s, device=img.device, dtype=box.dtype)
    inside_x = (grid >= lo[:, :1]) & (grid < lo[:, :1] + size[:, :1])  # (B, S)
    inside_y = (grid >= lo[:, 1:]) & (grid < lo[:, 1:] + size[:, 1:])
    cut = torch.where((inside_y[:, :, None] & inside_x[:, None, :])[:, None], GREY, img)
    return torch.cat((img.flip(-1), small, cut))


def _consistency(
    expected: torch.Tensor, scores: torch.Tensor, dist: torch.Tensor, view: Dense
) -> torch.Tensor:
    """CALD's ``m = IoU + (s + s')/2 * (1 - JS(p || p'))`` (B, k), 0..2, of each reference detection.

    Args:
        expected: (B, k, 4) the reference boxes moved into the view's frame.
        scores, dist: (B, k) scores and (B, k, C) class distributions of the references.
        view: Predictions on the view; each reference is matched with its peak of highest IoU.
    """
    v_boxes, v_scores, v_dist = _detections(view, expected.shape[1])
    iou, j = _iou(expected, v_boxes).max(-1)  # (B, k)
    v_scores = torch.where(iou > 0, v_scores.gather(1, j), torch.zeros_like(iou))  # no overlap: no match
    v_dist = v_dist.gather(1, j[..., None].expand_as(dist))
    return iou + (scores + v_scores) / 2 * (1 - _js(dist, v_dist) / math.log(2))


def cald_scores(
    ref: Dense, views: Dense, *, img_size: int, conf_threshold: float, beta: float
) -> torch.Tensor:
    """CALD (Yu et al. 2022): 1 - the consistency of the image's least consistent detection -> (B,), 0..1.

    References are the peaks scoring at least ``conf_threshold`` and half the image's best, and always the
    best one: an image without a confident detection is judged by its strongest weak peak, whose low score
    alone keeps its consistency low, so it ranks high, as CALD ranks images without detections first. Each
    is matched in every view of ``cald_views`` (``_consistency``). CALD takes ``|m - beta|`` to skip the
    weak background boxes of a two-stage detector; those are no references here, and a detection that is
    the image's best and still inconsistent is what should be labelled, so ``m`` is only capped: from
    ``beta`` on a detection counts as learnt (consistency ``min(m, beta) / beta``). An image's consistency
    is the mean over views of its least consistent reference's.
    """
    b = ref.heat.shape[0]
    r_boxes, r_scores, r_dist = _detections(ref, 50)
    r_ok = (r_scores >= max(conf_threshold, EPS)) & (r_scores >= CALD_REF_SHARE * r_scores[:, :1])
    r_ok[:, 0] = True
    flipped = r_boxes.clone()
    flipped[..., 0], flipped[..., 2] = img_size - r_boxes[..., 2], img_size - r_boxes[..., 0]
    per_view = []
    for v, expected in enumerate((flipped, r_boxes * CALD_SCALE, r_boxes)):  # the views' frames
        view = Dense(*(t[v * b : (v + 1) * b] for t in views))
        c = _consistency(expected, r_scores, r_dist, view).clamp(max=beta) / max(beta, EPS)
        per_view.append(c.masked_fill(~r_ok, math.inf).min(1).values)  # (B,) least consistent reference
    return 1.0 - torch.stack(per_view, 1).mean(1)


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

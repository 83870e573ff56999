"""COCO-style box evaluation with faster-coco-eval.

Metrics: ``mAP`` = AP at IoU 0.5 (what result.yaml reports, matching the platform's default evaluator),
``mAP50_95`` = AP averaged over IoU 0.5:0.95, ``mAR`` = AR@100 over IoU 0.5:0.95, and ``tp/fp/fn`` counted
at IoU 0.5 for detections scoring at least ``count_threshold``.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import numpy as np
import torch
from faster_coco_eval import COCO, COCOeval_faster

from ymir_executor.annotations import Objects
from ymir_executor.boxes import pairwise_iou
from ymir_executor.model import Detections

logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)


def coco_metrics(
    gts: list[Objects],
    dets: list[Detections],
    sizes: list[tuple[int, int]],
    num_classes: int,
    count_threshold: float = 0.3,
) -> dict[str, float]:
    """Evaluates detections against ground truth, image by image in the same order.

    Args:
        gts: Ground truth per image, XYXY original pixels.
        dets: Detections per image, XYXY original pixels.
        sizes: (width, height) per image.
        num_classes: Number of classes.
        count_threshold: Score above which a detection counts for tp/fp.
    """
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, ((w, h), gt) in enumerate(zip(sizes, gts, strict=True)):
        images.append({"id": i + 1, "width": int(w), "height": int(h), "file_name": f"{i}.jpg"})
        for box, cls in zip(gt.boxes.tolist(), gt.classes.tolist(), strict=True):
            bw, bh = box[2] - box[0], box[3] - box[1]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(cls) + 1,
                    "bbox": [box[0], box[1], bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
    for i, det in enumerate(dets):
        for box, score, cls in zip(
            det.boxes.tolist(), det.scores.tolist(), det.classes.tolist(), strict=True
        ):
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": int(cls) + 1,
                    "score": float(score),
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                }
            )
    counts = _counts(gts, dets, count_threshold)
    if not anns:
        return {"mAP": 0.0, "mAP50_95": 0.0, "mAR": 0.0, **counts}
    gt_json: dict[str, Any] = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_json)
        if not results:
            return {"mAP": 0.0, "mAP50_95": 0.0, "mAR": 0.0, **counts}
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval_faster(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(s)) for s in ev.stats]
    return {"mAP": stats[1], "mAP50_95": stats[0], "mAR": stats[8], **counts, **_class_ap50(ev)}


def _class_ap50(ev: Any) -> dict[str, float]:
    """``AP50/<class index>`` of each class the validation set holds (mining weighs classes by them)."""
    precision = np.asarray(ev.eval["precision"])  # (IoU thresholds, recall points, classes, areas, max dets)
    out = {}
    for k in range(precision.shape[2]):
        p = precision[0, :, k, 0, -1]
        if (p > -1).any():
            out[f"AP50/{k}"] = float(p[p > -1].mean())
    return out


def _counts(gts: list[Objects], dets: list[Detections], thr: float) -> dict[str, float]:
    """Greedy one-to-one matching at IoU 0.5, class-aware: true/false positives and misses."""
    tp = fp = fn = 0
    for gt, det in zip(gts, dets, strict=True):
        keep = det.scores >= thr
        boxes, classes = det.boxes[keep], det.classes[keep]
        order = det.scores[keep].argsort(descending=True)
        gt_boxes = torch.from_numpy(gt.boxes)
        gt_cls = torch.from_numpy(gt.classes)
        used = np.zeros(len(gt_cls), bool)
        iou = pairwise_iou(boxes[order].cpu(), gt_boxes) if len(gt_cls) and len(order) else None
        for r, j in enumerate(order.tolist()):
            hit = -1
            if iou is not None:
                cand = (iou[r] >= 0.5) & (gt_cls == classes[j].cpu()) & torch.from_numpy(~used)
                if bool(cand.any()):
                    hit = int((iou[r] * cand).argmax())
            if hit >= 0:
                used[hit] = True
                tp += 1
            else:
                fp += 1
        fn += int((~used).sum())
    return {"tp": tp, "fp": fp, "fn": fn}

"""Predictions against ground truth: COCO mAP, per-class AP and PR curves, confusion, box marks.

The numbers come from faster-coco-eval (the same as pycocotools, several times faster), so "mAP"
means one thing everywhere in YMIR whatever an executor claims. The per-box TP/FP/FN marks come
from our own matching at one IoU threshold (COCO's greedy rule: predictions by descending score
take the best-overlapping free ground-truth box of their class), done on all boxes at once by
joining the two tables, so browsing "false positives of class cat" is a column filter. There is no
size cap (YMIR skipped evaluation above 50,000 images or 20 classes).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mir.ops.common import take_ids
from mir.store.repo import Snapshot
from mir.store.schema import Mark

IOU_THRS = "0.50:0.95:0.05"


def _coco_dicts(
    snap: Snapshot, class_ids: Sequence[int], conf_thr: float
) -> tuple[dict[str, Any], list[Any]]:
    ids = snap.assets["asset_id"].to_pylist()
    image_ids = {a: i + 1 for i, a in enumerate(ids)}
    gt_doc: dict[str, Any] = {
        "images": [
            {"id": i + 1, "width": w, "height": h}
            for i, (w, h) in enumerate(
                zip(snap.assets["width"].to_pylist(), snap.assets["height"].to_pylist(), strict=True)
            )
        ],
        "categories": [{"id": c + 1, "name": str(c)} for c in class_ids],
        "annotations": [],
    }
    wanted = pa.array(list(class_ids), pa.int32())
    snap = Snapshot(
        assets=snap.assets,
        gt=take_ids(snap.gt, snap.assets["asset_id"]),
        pred=take_ids(snap.pred, snap.assets["asset_id"]),
    )
    gt = snap.gt.filter(pc.is_in(snap.gt["class_id"], value_set=wanted)) if snap.gt.num_rows else snap.gt
    for n, (a, c, x, y, w, h) in enumerate(
        zip(*(gt[k].to_pylist() for k in ("asset_id", "class_id", "x", "y", "w", "h")), strict=True)
    ):
        gt_doc["annotations"].append(
            {
                "id": n + 1,
                "image_id": image_ids[a],
                "category_id": c + 1,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
        )
    pred = snap.pred
    if pred.num_rows:
        pred = pred.filter(
            pc.and_(
                pc.is_in(pred["class_id"], value_set=wanted),
                pc.greater_equal(pred["score"], pa.scalar(conf_thr, pa.float32())),
            )
        )
    dts = [
        {"image_id": image_ids[a], "category_id": c + 1, "bbox": [x, y, w, h], "score": s}
        for a, c, x, y, w, h, s in zip(
            *(pred[k].to_pylist() for k in ("asset_id", "class_id", "x", "y", "w", "h", "score")), strict=True
        )
    ]
    return gt_doc, dts


def coco_metrics(snap: Snapshot, class_ids: Sequence[int], conf_thr: float = 0.0) -> dict[str, Any]:
    """mAP@[.5:.95], mAP@.5, mAP@.75, AR@100, and per class AP, AP50 and the PR curve at IoU .5."""
    from faster_coco_eval import COCO, COCOeval_faster

    logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)
    gt_doc, dts = _coco_dicts(snap, class_ids, conf_thr)
    empty = {
        "map50_95": 0.0,
        "map50": 0.0,
        "map75": 0.0,
        "ar100": 0.0,
        "per_class": {str(c): {"ap": 0.0, "ap50": 0.0} for c in class_ids},
        "pr_curves": {},
    }
    if not gt_doc["annotations"] or not dts:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_doc)
        dt = gt.loadRes(dts)
        ev = COCOeval_faster(gt, dt, "bbox")
        ev.params.catIds = [c + 1 for c in class_ids]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(s) for s in ev.stats]
    precision = np.asarray(ev.eval["precision"])  # (T iou, R recall, K class, A area, M maxdets)
    scores = np.asarray(ev.eval["scores"])
    recall_pts = np.asarray(ev.params.recThrs)
    per_class: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    for k, c in enumerate(class_ids):
        p_all = precision[:, :, k, 0, -1]
        valid = p_all[p_all > -1]
        p50 = precision[0, :, k, 0, -1]
        per_class[str(c)] = {
            "ap": float(valid.mean()) if valid.size else 0.0,
            "ap50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else 0.0,
        }
        curves[str(c)] = {
            "recall": [round(float(r), 4) for r in recall_pts],
            "precision": [round(max(float(p), 0.0), 4) for p in p50],
            "score": [round(max(float(s), 0.0), 4) for s in scores[0, :, k, 0, -1]],
        }
    return {
        "map50_95": max(stats[0], 0.0),
        "map50": max(stats[1], 0.0),
        "map75": max(stats[2], 0.0),
        "ar100": max(stats[8], 0.0),
        "per_class": per_class,
        "pr_curves": curves,
    }


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) xywh arrays."""
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _pairs(gt: pa.Table, pred: pa.Table, *, same_class: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (gt row, pred row, IoU) pairs on the same asset (and class), IoU > 0."""
    keys = ["asset_id", "class_id"] if same_class else ["asset_id"]
    g = gt.select([*keys, "x", "y", "w", "h"]).append_column("_g", pa.array(np.arange(gt.num_rows)))
    p = pred.select([*keys, "x", "y", "w", "h"]).append_column("_p", pa.array(np.arange(pred.num_rows)))
    joined = g.join(p, keys, join_type="inner", left_suffix="_gt", right_suffix="_pr", use_threads=False)
    if joined.num_rows == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    a = np.stack([joined[f"{k}_gt"].to_numpy() for k in "xywh"], axis=1).astype(np.float64)
    b = np.stack([joined[f"{k}_pr"].to_numpy() for k in "xywh"], axis=1).astype(np.float64)
    iou = _iou(a, b)
    keep = iou > 0
    return joined["_g"].to_numpy()[keep], joined["_p"].to_numpy()[keep], iou[keep]


def mark_boxes(
    snap: Snapshot, class_ids: Sequence[int], *, iou_thr: float = 0.5, conf_thr: float = 0.0
) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """Set ``mark``/``link`` on every gt and pred box; return both tables and per-class counts + confusion."""
    gt, pred = snap.gt, snap.pred
    n_gt, n_pred = gt.num_rows, pred.num_rows
    gt_mark = np.full(n_gt, int(Mark.FN), np.int8)
    pred_mark = np.full(n_pred, int(Mark.FP), np.int8)
    gt_link = np.full(n_gt, -1, np.int32)
    pred_link = np.full(n_pred, -1, np.int32)
    wanted = {int(c) for c in class_ids}
    gt_cls = gt["class_id"].to_numpy() if n_gt else np.zeros(0, np.int32)
    pred_cls = pred["class_id"].to_numpy() if n_pred else np.zeros(0, np.int32)
    pred_score = pred["score"].to_numpy() if n_pred else np.zeros(0, np.float32)
    gt_mark[~np.isin(gt_cls, list(wanted))] = int(Mark.IGNORED)
    ignored_pred = ~np.isin(pred_cls, list(wanted)) | (pred_score < conf_thr)
    pred_mark[ignored_pred] = int(Mark.IGNORED)
    if n_gt and n_pred:
        g, p, iou = _pairs(gt, pred, same_class=True)
        ok = (iou >= iou_thr) & ~ignored_pred[p] & (gt_mark[g] != int(Mark.IGNORED))
        g, p, iou = g[ok], p[ok], iou[ok]
        order = np.lexsort((-iou, -pred_score[p].astype(np.float64), p))
        order = order[np.argsort(-pred_score[p[order]].astype(np.float64), kind="stable")]
        gt_taken = np.zeros(n_gt, bool)
        pred_done = np.zeros(n_pred, bool)
        gt_index = gt["index"].to_numpy()
        pred_index = pred["index"].to_numpy()
        for gi, pi in zip(g[order].tolist(), p[order].tolist(), strict=True):
            if pred_done[pi] or gt_taken[gi]:
                continue
            pred_done[pi] = gt_taken[gi] = True
            pred_mark[pi], gt_mark[gi] = int(Mark.TP), int(Mark.MTP)
            pred_link[pi], gt_link[gi] = gt_index[gi], pred_index[pi]
    counts: dict[str, dict[str, int]] = {}
    for c in sorted(wanted):
        counts[str(c)] = {
            "tp": int(((pred_cls == c) & (pred_mark == Mark.TP)).sum()),
            "fp": int(((pred_cls == c) & (pred_mark == Mark.FP)).sum()),
            "fn": int(((gt_cls == c) & (gt_mark == Mark.FN)).sum()),
            "gt": int((gt_cls == c).sum()),
            "pred": int(((pred_cls == c) & ~ignored_pred).sum()),
        }
    confusion = _confusion(gt, pred, gt_cls, pred_cls, gt_mark, pred_mark, sorted(wanted), iou_thr)
    gt_out = gt.set_column(gt.schema.get_field_index("mark"), "mark", pa.array(gt_mark, pa.int8()))
    gt_out = gt_out.set_column(gt.schema.get_field_index("link"), "link", pa.array(gt_link, pa.int32()))
    pred_out = pred.set_column(pred.schema.get_field_index("mark"), "mark", pa.array(pred_mark, pa.int8()))
    pred_out = pred_out.set_column(
        pred.schema.get_field_index("link"), "link", pa.array(pred_link, pa.int32())
    )
    return gt_out, pred_out, {"counts": counts, "confusion": confusion}


def _confusion(
    gt: pa.Table,
    pred: pa.Table,
    gt_cls: np.ndarray,
    pred_cls: np.ndarray,
    gt_mark: np.ndarray,
    pred_mark: np.ndarray,
    classes: list[int],
    iou_thr: float,
) -> dict[str, Any]:
    """Rows = true class (last row: background), columns = predicted class (last column: missed)."""
    pos = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    matrix = np.zeros((k + 1, k + 1), np.int64)
    for c in classes:
        matrix[pos[c], pos[c]] = int(((pred_cls == c) & (pred_mark == Mark.TP)).sum())
    fp = np.flatnonzero(pred_mark == Mark.FP)
    explained = np.zeros(len(pred_cls), bool)
    if fp.size and gt.num_rows:
        g, p, iou = _pairs(gt, pred, same_class=False)
        sel = np.isin(p, fp) & (iou >= iou_thr) & (gt_cls[g] != pred_cls[p]) & np.isin(gt_cls[g], classes)
        g, p, iou = g[sel], p[sel], iou[sel]
        best = np.lexsort((-iou, p))
        seen: set[int] = set()
        for gi, pi in zip(g[best].tolist(), p[best].tolist(), strict=True):
            if pi in seen:
                continue
            seen.add(pi)
            explained[pi] = True
            matrix[pos[int(gt_cls[gi])], pos[int(pred_cls[pi])]] += 1
    for pi in fp[~explained[fp]]:
        matrix[k, pos[int(pred_cls[pi])]] += 1
    for c in classes:
        matrix[pos[c], k] = int(((gt_cls == c) & (gt_mark == Mark.FN)).sum())
    return {"classes": [str(c) for c in classes], "matrix": matrix.tolist()}


def evaluate(
    snap: Snapshot, class_ids: Sequence[int] | None = None, *, conf_thr: float = 0.0, iou_mark: float = 0.5
) -> tuple[Snapshot, dict[str, Any]]:
    """Evaluate the predictions of ``snap`` against its ground truth; returns it marked, and the result."""
    if class_ids is None:
        used = set(snap.gt["class_id"].to_pylist()) | set(snap.pred["class_id"].to_pylist())
        class_ids = sorted(used)
    class_ids = [int(c) for c in class_ids]
    metrics = coco_metrics(snap, class_ids, conf_thr)
    gt, pred, marks = mark_boxes(snap, class_ids, iou_thr=iou_mark, conf_thr=conf_thr)
    for c, counts in marks["counts"].items():
        metrics["per_class"].setdefault(c, {"ap": 0.0, "ap50": 0.0}).update(counts)
    result = {
        "state": "ready" if snap.gt.num_rows and snap.pred.num_rows else "no_gt_or_pred",
        "config": {"iou_thrs": IOU_THRS, "iou_mark": iou_mark, "conf_thr": conf_thr, "class_ids": class_ids},
        "images": snap.assets.num_rows,
        **metrics,
        "confusion": marks["confusion"],
    }
    marked = Snapshot(assets=snap.assets, gt=gt, pred=pred, pred_meta=snap.pred_meta, evaluation=result)
    return marked, result

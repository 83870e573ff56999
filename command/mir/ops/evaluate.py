"""``mir evaluate``: predictions against ground truth of one version, stored with a new version.

The new version holds the same assets and boxes, every box marked TP / FP / FN (or matched /
ignored) so browsing errors is a filter on the ``mark`` column, and the evaluation result
(mAP@[.5:.95], mAP@.5, per-class AP, PR curves, confusion) in its commit record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mir.errors import InvalidArgsError
from mir.evaluation import evaluate
from mir.labels import Labels
from mir.ops.common import dst_rev, load_sources, parent_of
from mir.ops.select import split_names
from mir.store.repo import Commit, Repo, Snapshot, Task


def evaluate_dataset(
    *,
    root: Path,
    src_revs: str,
    dst: str,
    class_names: str | list[str] = "",
    conf_thr: float = 0.0,
    iou_thr: float = 0.5,
    user: str = "",
) -> tuple[Commit, dict[str, Any]]:
    """Evaluate ``src_revs`` (one version holding gt and pred) and commit the marked copy as ``dst``."""
    if not 0 <= conf_thr < 1:
        raise InvalidArgsError(f"--conf-thr must be in [0, 1), got {conf_thr}", fix="e.g. --conf-thr 0.05")
    if not 0 < iou_thr < 1:
        raise InvalidArgsError(f"--iou-thr must be in (0, 1), got {iou_thr}", fix="e.g. --iou-thr 0.5")
    repo = Repo(root)
    dst_r = dst_rev(repo, dst)
    sources = load_sources(repo, src_revs)
    if len(sources) != 1:
        raise InvalidArgsError("evaluate takes one source revision", fix="merge the versions first")
    snap = sources[0].snap
    if snap.gt.num_rows == 0 or snap.pred.num_rows == 0:
        side = "ground truth" if snap.gt.num_rows == 0 else "predictions"
        raise InvalidArgsError(
            f"{src_revs} has no {side} to evaluate",
            fix="import ground truth (--gt-dir) and predictions (--pred-dir or mir infer)",
        )
    names = split_names(class_names)
    class_ids = repo.labels().ids_of(names, where="--class-names") if names else None
    marked, result = evaluate(snap, class_ids, conf_thr=conf_thr, iou_mark=iou_thr)
    labels = repo.labels()
    result["class_names"] = {c: labels.name_of(int(c)) for c in result["per_class"]}

    def build(_labels: Labels) -> Snapshot:
        return marked

    task = Task(
        type="evaluate",
        tid=dst_r.tid or "",
        user=user,
        src_revs=src_revs,
        params={"conf_thr": conf_thr, "iou_thr": iou_thr, "class_names": names},
    )
    commit = repo.commit(dst=dst_r, task=task, build=build, parent=parent_of(sources))
    return commit, result

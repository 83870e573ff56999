"""``mir copy``: a version of another mir repository into this one, class ids remapped by name.

Class ids are local to a label file, so boxes are carried over by class *name*: each source id is
turned into its name in the source labels, then into this repository's id (aliases included).
Image bytes are not copied; both repositories are expected to share the media location.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from mir.errors import UnknownClassesError
from mir.labels import Labels, load_labels
from mir.ops.common import dst_rev
from mir.revs import parse_rev
from mir.store.repo import Commit, Repo, Snapshot, Task

CopyStrategy = Literal["stop", "ignore", "add"]


def _remap(boxes: pa.Table, mapping: np.ndarray) -> pa.Table:
    if boxes.num_rows == 0:
        return boxes
    new_ids = mapping[boxes["class_id"].to_numpy()]
    keep = new_ids >= 0
    boxes = boxes.set_column(
        boxes.schema.get_field_index("class_id"), "class_id", pa.array(new_ids, pa.int32())
    )
    return boxes.filter(pa.array(keep)) if not keep.all() else boxes


def copy_dataset(
    *,
    root: Path,
    src_root: Path,
    src_revs: str,
    dst: str,
    src_label_file: Path | None = None,
    unknown_types_strategy: CopyStrategy = "stop",
    drop_annotations: bool = False,
    user: str = "",
) -> Commit:
    """Copy ``src_revs`` of the repository at ``src_root`` as version ``dst`` here."""
    repo = Repo(root)
    dst_r = dst_rev(repo, dst)
    src_repo = Repo(src_root)
    src_commit = src_repo.resolve(parse_rev(src_revs, allow_tvt=False))
    snap = src_repo.read(src_commit)
    src_labels = load_labels(src_label_file) if src_label_file else src_repo.labels()
    used = sorted(set(snap.gt["class_id"].to_pylist()) | set(snap.pred["class_id"].to_pylist()))

    def build(labels: Labels) -> Snapshot:
        if drop_annotations:
            return Snapshot(assets=snap.assets)
        table = labels.lookup()
        names = {cid: src_labels.name_of(cid) for cid in used}
        unknown = sorted({n for n in names.values() if n not in table})
        if unknown and unknown_types_strategy == "stop":
            raise UnknownClassesError(
                unknown,
                where=f"{src_root} ({src_revs})",
                fix="pass --unknown-types-strategy ignore (drop those boxes) or add",
            )
        if unknown and unknown_types_strategy == "add":
            for n in unknown:
                labels.add(n)
            table = labels.lookup()
        size = (max(used) + 1) if used else 0
        mapping = np.full(size, -1, np.int32)
        for cid, name in names.items():
            mapping[cid] = table.get(name, -1)
        return Snapshot(
            assets=snap.assets,
            gt=_remap(snap.gt, mapping),
            pred=_remap(snap.pred, mapping),
            pred_meta=dict(snap.pred_meta),
        )

    task = Task(
        type="copy",
        tid=dst_r.tid or "",
        user=user,
        src_revs=f"{src_root}:{src_revs}",
        params={
            "src_root": str(src_root),
            "unknown_types_strategy": unknown_types_strategy,
            "drop_annotations": drop_annotations,
        },
        model=src_commit.task.get("model"),
        executor=str(src_commit.task.get("executor") or ""),
    )
    return repo.commit(dst=dst_r, task=task, build=build)

"""``mir diff``: what changed between two versions, by asset id (vectorised joins)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mir.revs import parse_rev
from mir.store.repo import Repo


@dataclass
class Diff:
    """Differences between two versions, by asset id."""

    added_assets: list[str]
    removed_assets: list[str]
    changed_gt: list[str]
    changed_pred: list[str]
    changed_type: list[str]

    def counts(self) -> dict[str, int]:
        """Sizes of each list."""
        return {k: len(v) for k, v in self.__dict__.items()}


def _box_digest(boxes: pa.Table) -> pa.Table:
    """Per asset, an order-independent fingerprint of its boxes (class and geometry)."""
    if boxes.num_rows == 0:
        return pa.table(
            {
                "asset_id": pa.array([], pa.string()),
                "h_sum": pa.array([], pa.uint64()),
                "n": pa.array([], pa.int64()),
            }
        )
    parts = [pc.cast(boxes[c], pa.string()) for c in ("class_id", "x", "y", "w", "h", "rotation", "score")]
    joined = pc.binary_join_element_wise(*parts, "|")
    raw = np.array([hash(s) & 0xFFFFFFFFFFFF for s in joined.to_pylist()], dtype=np.uint64)
    t = pa.table({"asset_id": boxes["asset_id"], "h": pa.array(raw, pa.uint64())})
    return (
        t.group_by("asset_id")
        .aggregate([("h", "sum"), ([], "count_all")])
        .rename_columns(["asset_id", "h_sum", "n"])
    )


def _changed(old: pa.Table, new: pa.Table, common: pa.Array) -> list[str]:
    a = _box_digest(old).filter(pc.is_in(pc.field("asset_id"), value_set=common)) if old.num_rows else None
    b = _box_digest(new).filter(pc.is_in(pc.field("asset_id"), value_set=common)) if new.num_rows else None
    if a is None and b is None:
        return []
    empty = pa.table(
        {
            "asset_id": pa.array([], pa.string()),
            "h_sum": pa.array([], pa.uint64()),
            "n": pa.array([], pa.int64()),
        }
    )
    joined = (a or empty).join(
        b or empty, "asset_id", join_type="full outer", left_suffix="_a", right_suffix="_b"
    )
    differs = pc.or_kleene(
        pc.not_equal(joined["h_sum_a"], joined["h_sum_b"]), pc.not_equal(joined["n_a"], joined["n_b"])
    )
    differs = pc.fill_null(differs, True)
    return sorted(joined.filter(differs)["asset_id"].to_pylist())


def diff(*, root: Path, a: str, b: str) -> Diff:
    """Assets added and removed from ``a`` to ``b``, and shared assets whose gt, pred or type changed."""
    repo = Repo(root)
    sa = repo.read(repo.resolve(parse_rev(a, allow_tvt=False)))
    sb = repo.read(repo.resolve(parse_rev(b, allow_tvt=False)))
    ids_a = sa.assets["asset_id"].combine_chunks()
    ids_b = sb.assets["asset_id"].combine_chunks()
    added = sb.assets.filter(pc.invert(pc.is_in(ids_b, value_set=ids_a)))["asset_id"].to_pylist()
    removed = sa.assets.filter(pc.invert(pc.is_in(ids_a, value_set=ids_b)))["asset_id"].to_pylist()
    common = sb.assets.filter(pc.is_in(ids_b, value_set=ids_a))["asset_id"].combine_chunks()
    ta = sa.assets.select(["asset_id", "tvt"]).filter(pc.is_in(ids_a, value_set=common))
    tb = sb.assets.select(["asset_id", "tvt"]).filter(pc.is_in(ids_b, value_set=common))
    j = ta.join(tb, "asset_id", left_suffix="_a", right_suffix="_b")
    changed_type = sorted(j.filter(pc.not_equal(j["tvt_a"], j["tvt_b"]))["asset_id"].to_pylist())
    return Diff(
        added_assets=sorted(added),
        removed_assets=sorted(removed),
        changed_gt=_changed(sa.gt, sb.gt, common),
        changed_pred=_changed(sa.pred, sb.pred, common),
        changed_type=changed_type,
    )

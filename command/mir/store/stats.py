"""Summary statistics of a snapshot, computed once at commit time (vectorised) so ``show`` and the
backend read a few hundred bytes of JSON instead of scanning a million rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from mir.store.schema import TVT_NAMES, Tvt

if TYPE_CHECKING:
    from mir.store.repo import Snapshot


def _value_counts(arr: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    if len(arr) == 0:
        return {}
    counts = pc.value_counts(arr)
    return {
        str(k): int(v)
        for k, v in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    }


def tag_counts(tags: pa.ChunkedArray) -> dict[str, dict[str, int]]:
    """``{key: {value: count}}`` over a column of tag maps (one count per row holding the pair)."""
    chunks = [c for c in tags.chunks if len(c)]
    if not chunks:
        return {}
    keys = pa.concat_arrays([c.keys for c in chunks])
    items = pa.concat_arrays([c.items for c in chunks])
    if len(keys) == 0:
        return {}
    pairs = pa.table({"k": keys, "v": items}).group_by(["k", "v"]).aggregate([([], "count_all")])
    out: dict[str, dict[str, int]] = {}
    for k, v, n in zip(
        pairs["k"].to_pylist(), pairs["v"].to_pylist(), pairs["count_all"].to_pylist(), strict=True
    ):
        out.setdefault(str(k), {})[str(v)] = int(n)
    return out


def annotation_stats(boxes: pa.Table, asset_count: int) -> dict[str, Any]:
    """Boxes, images with boxes, and per class (by id) the number of images and of boxes."""
    if boxes.num_rows == 0:
        return {
            "boxes": 0,
            "positive_assets": 0,
            "negative_assets": asset_count,
            "class_images": {},
            "class_boxes": {},
            "tags": {},
        }
    positive = len(pc.unique(boxes["asset_id"]))
    class_boxes = _value_counts(boxes["class_id"])
    per_image = boxes.select(["class_id", "asset_id"]).group_by(["class_id", "asset_id"]).aggregate([])
    class_images = _value_counts(per_image["class_id"])
    return {
        "boxes": boxes.num_rows,
        "positive_assets": positive,
        "negative_assets": asset_count - positive,
        "class_images": class_images,
        "class_boxes": class_boxes,
        "tags": tag_counts(boxes["tags"]),
    }


def snapshot_stats(snap: Snapshot) -> dict[str, Any]:
    """Everything ``mir show`` prints, as JSON-ready dicts keyed by strings."""
    assets = snap.assets
    n = assets.num_rows
    tvt = _value_counts(assets["tvt"]) if n else {}
    by_tvt = {TVT_NAMES[Tvt(int(k))]: v for k, v in tvt.items()}
    return {
        "assets": n,
        "tvt": {name: by_tvt.get(name, 0) for name in TVT_NAMES.values()},
        "bytes": int(pc.sum(assets["byte_size"]).as_py() or 0) if n else 0,
        "formats": _value_counts(assets["image_format"]) if n else {},
        "image_tags": tag_counts(assets["tags"]) if n else {},
        "gt": annotation_stats(snap.gt, n),
        "pred": annotation_stats(snap.pred, n),
    }

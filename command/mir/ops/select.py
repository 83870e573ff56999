"""Selecting assets: by class (``filter``), by type and tag, and by random sampling.

All are asset-level: a kept asset keeps every one of its boxes, as in YMIR. These functions work
on snapshots in memory so ``fuse`` can chain them; :mod:`mir.ops.filtering` and
:mod:`mir.ops.sampling` wrap them as commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mir.errors import InvalidArgsError
from mir.labels import Labels
from mir.ops.common import keep_assets
from mir.store.repo import Snapshot
from mir.store.schema import TVT_PREFIXES, Tvt

AnnoSource = Literal["gt", "pred", "any"]
_TVT_WORDS = {"train": Tvt.TRAIN, "val": Tvt.VAL, "test": Tvt.TEST, "unknown": Tvt.UNKNOWN, **TVT_PREFIXES}


def split_names(text: str | Sequence[str] | None) -> list[str]:
    """``"a;b, c"`` or a list into clean names (both ';' and ',' separate)."""
    if text is None:
        return []
    parts = text.replace(",", ";").split(";") if isinstance(text, str) else list(text)
    return [p.strip() for p in parts if p.strip()]


def _assets_with(snap: Snapshot, class_ids: Sequence[int], src: AnnoSource) -> pa.Array:
    """Asset ids having at least one box of ``class_ids`` on the chosen side(s)."""
    tables = {"gt": [snap.gt], "pred": [snap.pred], "any": [snap.gt, snap.pred]}[src]
    value_set = pa.array(list(class_ids), pa.int32())
    found = [t.filter(pc.is_in(t["class_id"], value_set=value_set))["asset_id"] for t in tables if t.num_rows]
    if not found:
        return pa.array([], pa.string())
    return pc.unique(pa.chunked_array([c for f in found for c in f.chunks], pa.string()))


def filter_by_classes(
    snap: Snapshot,
    labels: Labels,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    src: AnnoSource = "any",
) -> Snapshot:
    """Keep assets that have an included class (if any given) and no excluded class.

    ``any`` looks at ground truth *and* predictions (YMIR's ``any`` looked at gt only).
    """
    if src not in ("gt", "pred", "any"):
        raise InvalidArgsError(f"unknown --filter-anno-src {src!r}", fix="use gt, pred or any")
    inc = labels.ids_of(include, where="--cis/-p") if include else []
    exc = labels.ids_of(exclude, where="--ex-cis/-P") if exclude else []
    if not inc and not exc:
        return snap
    ids = snap.assets["asset_id"]
    mask = pa.array(np.ones(len(ids), bool))
    if inc:
        mask = pc.and_(mask, pc.is_in(ids, value_set=_assets_with(snap, inc, src)))
    if exc:
        mask = pc.and_(mask, pc.invert(pc.is_in(ids, value_set=_assets_with(snap, exc, src))))
    return keep_assets(snap, mask)


def parse_tvt(values: str | Sequence[str]) -> list[Tvt]:
    """``"train;val"`` / ``tr,va`` into asset types."""
    out = []
    for v in split_names(values):
        if v.lower() not in _TVT_WORDS:
            raise InvalidArgsError(
                f"unknown asset type {v!r}", fix="use train, val, test or unknown (or tr, va, te)"
            )
        out.append(_TVT_WORDS[v.lower()])
    return out


def filter_by_tvt(snap: Snapshot, types: Sequence[Tvt]) -> Snapshot:
    """Keep assets of the given types."""
    if not types:
        return snap
    return keep_assets(
        snap, pc.is_in(snap.assets["tvt"], value_set=pa.array([int(t) for t in types], pa.int8()))
    )


def _tag_mask(assets: pa.Table, spec: str) -> pa.Array:
    """Assets whose image tags match ``key`` or ``key=value``."""
    key, eq, value = spec.partition("=")
    key = key.strip()
    if not key:
        raise InvalidArgsError(f"empty tag key in {spec!r}", fix="write key or key=value")
    found = pc.map_lookup(assets["tags"], pa.scalar(key, pa.string()), "first")
    if eq:
        return pc.fill_null(pc.equal(found, pa.scalar(value.strip(), pa.string())), False)
    return pc.is_valid(found)


def filter_by_tags(snap: Snapshot, *, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Snapshot:
    """Keep assets carrying any of ``include`` tags (``key`` or ``key=value``) and none of ``exclude``."""
    if not include and not exclude or snap.assets.num_rows == 0:
        return snap
    assets = snap.assets
    mask = pa.array(np.ones(assets.num_rows, bool))
    if include:
        any_inc = pa.array(np.zeros(assets.num_rows, bool))
        for spec in include:
            any_inc = pc.or_(any_inc, _tag_mask(assets, spec))
        mask = pc.and_(mask, any_inc)
    for spec in exclude:
        mask = pc.and_(mask, pc.invert(_tag_mask(assets, spec)))
    return keep_assets(snap, mask)


def sample(snap: Snapshot, *, count: int | None = None, rate: float | None = None, seed: int = 0) -> Snapshot:
    """A uniform random subset of ``count`` assets, or ``rate`` of them (floor), reproducible by ``seed``.

    The kept assets stay in their original order; a count above the size keeps everything.
    """
    if (count is None) == (rate is None):
        raise InvalidArgsError("give exactly one of --count and --rate", fix="e.g. --count 100 or --rate 0.2")
    n = snap.assets.num_rows
    if count is not None:
        if count <= 0:
            raise InvalidArgsError(
                f"--count must be a positive number of assets, got {count}", fix="e.g. --count 100"
            )
        k = min(count, n)
    else:
        assert rate is not None
        if not 0 < rate <= 1:
            raise InvalidArgsError(f"--rate must be in (0, 1], got {rate}", fix="e.g. --rate 0.2 keeps 20%")
        k = int(n * rate)
    if k >= n:
        return snap
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, size=k, replace=False))
    mask = np.zeros(n, bool)
    mask[chosen] = True
    return keep_assets(snap, pa.array(mask))

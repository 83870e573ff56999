"""Helpers shared by the write operations: opening sources, selecting assets, building tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mir.revs import Rev, parse_rev, parse_revs
from mir.store import schema
from mir.store.repo import Commit, Repo, Snapshot


@dataclass
class Source:
    """One source revision of an operation, resolved and loaded."""

    rev: Rev
    commit: Commit
    snap: Snapshot


def load_sources(repo: Repo, revs: str | Sequence[Rev]) -> list[Source]:
    """Resolve and read every revision of ``--src-revs``."""
    parsed = parse_revs(revs) if isinstance(revs, str) else list(revs)
    out = []
    for rev in parsed:
        commit = repo.resolve(rev)
        out.append(Source(rev=rev, commit=commit, snap=repo.read(commit)))
    return out


def parent_of(sources: Sequence[Source]) -> Rev:
    """Where a new branch starts: the commit of the first source (YMIR: the host's branch)."""
    first = sources[0].rev
    return Rev(branch=first.branch, tid=first.tid)


def dst_rev(repo: Repo, text: str) -> Rev:
    """Parse ``--dst-rev`` (needs ``@tid``) and fail early if it is already taken."""
    rev = parse_rev(text, need_tid=True, allow_tvt=False)
    repo.check_new(rev)
    return rev


def keep_assets(snap: Snapshot, mask: pa.Array | pa.ChunkedArray) -> Snapshot:
    """The snapshot restricted to the assets where ``mask`` (aligned with ``snap.assets``) is true."""
    assets = snap.assets.filter(mask)
    return restrict(snap, assets)


def restrict(snap: Snapshot, assets: pa.Table) -> Snapshot:
    """``snap`` with ``assets`` as its asset table and only the annotations of those assets."""
    ids = assets["asset_id"]
    gt = (
        snap.gt.filter(pc.is_in(snap.gt["asset_id"], value_set=_values(ids))) if snap.gt.num_rows else snap.gt
    )
    pred = (
        snap.pred.filter(pc.is_in(snap.pred["asset_id"], value_set=_values(ids)))
        if snap.pred.num_rows
        else snap.pred
    )
    return Snapshot(assets=assets, gt=gt, pred=pred, pred_meta=dict(snap.pred_meta), evaluation=None)


def drop_ids(table: pa.Table, ids: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Rows of ``table`` whose ``asset_id`` is not in ``ids``."""
    if table.num_rows == 0 or len(ids) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table["asset_id"], value_set=_values(ids))))


def take_ids(table: pa.Table, ids: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Rows of ``table`` whose ``asset_id`` is in ``ids``."""
    if table.num_rows == 0:
        return table
    return table.filter(pc.is_in(table["asset_id"], value_set=_values(ids)))


def _values(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    return ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids


def box_index(asset_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Per-asset running number (0, 1, 2...) of each box, in table order."""
    n = len(asset_ids)
    if n == 0:
        return pa.array([], pa.int32())
    codes = pc.dictionary_encode(_values(asset_ids)).indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    ranks = np.empty(n, dtype=np.int32)
    ranks[order] = np.arange(n) - run_start
    return pa.array(ranks, pa.int32())


def annotations_table(columns: dict[str, pa.Array | pa.ChunkedArray | list[object]]) -> pa.Table:
    """Build an ``ANNOTATIONS`` table; missing columns get their defaults."""
    n = len(columns["asset_id"])
    defaults: dict[str, pa.Array] = {
        "rotation": pa.array(np.zeros(n, np.float32)),
        "score": pa.array(np.full(n, -1.0, np.float32)),
        "quality": pa.array(np.full(n, -1.0, np.float32)),
        "tags": pa.nulls(n, schema.TAGS_TYPE),
        "mark": pa.array(np.zeros(n, np.int8)),
        "link": pa.array(np.full(n, -1, np.int32)),
    }
    if "index" not in columns:
        columns = {
            **columns,
            "index": box_index(
                pa.array(columns["asset_id"], pa.string())
                if isinstance(columns["asset_id"], list)
                else columns["asset_id"]
            ),
        }
    arrays = []
    for f in schema.ANNOTATIONS:
        value = columns.get(f.name, defaults.get(f.name))
        if value is None:
            raise KeyError(f"annotation column {f.name!r} missing")
        arr = value if isinstance(value, pa.Array | pa.ChunkedArray) else pa.array(value, f.type)
        arrays.append(arr.cast(f.type) if arr.type != f.type else arr)
    return pa.Table.from_arrays(arrays, schema=schema.ANNOTATIONS)


def absolute(path: str | Path) -> Path:
    """``path`` made absolute against the current directory."""
    return Path(path).expanduser().absolute()

"""``mir merge``: the union of several versions with YMIR's host/guest semantics.

The first source is the host, the rest are guests, applied one after another. For each guest,
assets, ground truth and predictions are merged *independently* by asset id (as YMIR does per
map): ``stop`` refuses any shared asset, ``host`` keeps the host's record of a shared asset,
``guest`` takes the guest's. A ``tr:``/``va:``/``te:`` prefix sets the type of every asset of
that source. Assets of ``--ex-src-revs`` are removed from the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mir.errors import InvalidArgsError, MergeConflictError
from mir.ops.common import Source, drop_ids, dst_rev, load_sources, parent_of
from mir.progress import Progress, ProgressFn
from mir.store import schema
from mir.store.repo import Commit, Repo, Snapshot, Task

Strategy = Literal["stop", "host", "guest"]
STRATEGIES = ("stop", "host", "guest")


@dataclass
class MergeResult:
    """The merged content and what happened to shared assets."""

    snap: Snapshot
    shared: int


def with_tvt(src: Source) -> Snapshot:
    """The source's snapshot with the asset type its ``tr:/va:/te:`` prefix asks for."""
    snap = src.snap
    if src.rev.tvt is None or snap.assets.num_rows == 0:
        return snap
    tvt = pa.array(np.full(snap.assets.num_rows, int(src.rev.tvt), np.int8), pa.int8())
    assets = snap.assets.set_column(
        snap.assets.schema.get_field_index("tvt"), schema.ASSETS.field("tvt"), tvt
    )
    return Snapshot(assets=assets, gt=snap.gt, pred=snap.pred, pred_meta=snap.pred_meta)


def _merge_table(host: pa.Table, guest: pa.Table, strategy: Strategy) -> pa.Table:
    """Merge one table (assets, gt or pred) by asset id."""
    if guest.num_rows == 0:
        return host
    if host.num_rows == 0:
        return guest
    if strategy == "guest":
        return pa.concat_tables([drop_ids(host, pc.unique(guest["asset_id"])), guest])
    return pa.concat_tables([host, drop_ids(guest, pc.unique(host["asset_id"]))])


def merge_sources(
    sources: Sequence[Source], *, strategy: Strategy = "stop", exclude: Sequence[Source] = ()
) -> MergeResult:
    """Merge loaded sources in memory (used by merge, fuse, train and mining)."""
    if strategy not in STRATEGIES:
        raise InvalidArgsError(f"unknown merge strategy {strategy!r}", fix="use stop, host or guest")
    if not sources:
        raise InvalidArgsError("no source revision", fix="pass --src-revs")
    host_src = sources[0]
    result = with_tvt(host_src)
    shared_total = 0
    for guest_src in sources[1:]:
        guest = with_tvt(guest_src)
        joint = pc.is_in(guest.assets["asset_id"], value_set=result.assets["asset_id"].combine_chunks())
        shared = int(pc.sum(joint).as_py() or 0) if guest.assets.num_rows else 0
        if shared and strategy == "stop":
            example = guest.assets.filter(joint)["asset_id"][0].as_py()
            raise MergeConflictError(str(host_src.rev), str(guest_src.rev), shared, example)
        shared_total += shared
        result = Snapshot(
            assets=_merge_table(result.assets, guest.assets, strategy),
            gt=_merge_table(result.gt, guest.gt, strategy),
            pred=_merge_table(result.pred, guest.pred, strategy),
            pred_meta=result.pred_meta,
        )
    if len(sources) > 1:
        result.pred_meta = {"merged_from": [str(s.rev) for s in sources]} if result.pred.num_rows else {}
    for ex in exclude:
        ids = ex.snap.assets["asset_id"]
        result = Snapshot(
            assets=drop_ids(result.assets, ids),
            gt=drop_ids(result.gt, ids),
            pred=drop_ids(result.pred, ids),
            pred_meta=result.pred_meta,
        )
    return MergeResult(snap=result, shared=shared_total)


def merge(
    *,
    root: Path,
    src_revs: str,
    dst: str,
    ex_src_revs: str = "",
    strategy: Strategy = "stop",
    user: str = "",
    progress: ProgressFn | None = None,
) -> Commit:
    """Merge ``src_revs`` (host first) minus ``ex_src_revs`` into the new version ``dst``."""
    repo = Repo(root)
    dst_r = dst_rev(repo, dst)
    prog = Progress(progress, bar=False)
    sources = load_sources(repo, src_revs)
    exclude = load_sources(repo, ex_src_revs) if ex_src_revs.strip() else []
    prog.update(0.3, "merging")
    merged = merge_sources(sources, strategy=strategy, exclude=exclude)
    task = Task(
        type="merge",
        tid=dst_r.tid or "",
        user=user,
        src_revs=src_revs,
        params={"strategy": strategy, "ex_src_revs": ex_src_revs, "shared_assets": merged.shared},
    )
    commit = repo.commit(dst=dst_r, task=task, build=lambda _labels: merged.snap, parent=parent_of(sources))
    prog.done("merged")
    return commit

"""Paging through a dataset version's assets straight from mir's Parquet tables.

A version is immutable, so everything derived from it is cached by commit id: the loaded tables,
per-asset box ranges (boxes sorted by asset once), and the row sets of each filter. A page is then a
slice of an index array plus the boxes of at most ``limit`` assets — no scan per request, which is
what keeps pages of a million-image version fast (YMIR needed MongoDB and a Go service for this).

Tables are kept as single chunks: Arrow's ``take`` on a chunked array concatenates the chunks first, which
cost ~7 ms per page of a million-image version (Parquet reads come in 256k-row chunks).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mir.store.repo import Repo
from mir.store.schema import TVT_NAMES, Mark

MARKS = {"tp": Mark.TP, "fp": Mark.FP, "fn": Mark.FN, "mtp": Mark.MTP, "ignored": Mark.IGNORED}
TVTS = {name: int(t) for t, name in TVT_NAMES.items()}


@dataclass
class _Side:
    """One side's boxes sorted by asset, with each asset's [start, end) range. The columns are also
    NumPy views of the same memory: indexing those is cheaper than an Arrow ``take`` for one page."""

    boxes: pa.Table
    starts: np.ndarray
    ends: np.ndarray
    class_ids: np.ndarray
    marks: np.ndarray
    xywhs: tuple[np.ndarray, ...]  # x, y, w, h, score


@dataclass
class VersionIndex:
    """Everything needed to page one version."""

    assets: pa.Table
    gt: _Side
    pred: _Side
    filters: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _id_set: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # what a page shows: the numbers as NumPy arrays, the rest taken from Arrow
        self.page_columns = self.assets.select(["asset_id", "tags", "image_format"])
        self.sizes = (self.assets["width"].to_numpy(), self.assets["height"].to_numpy())
        self.tvts = self.assets["tvt"].to_numpy()

    @property
    def ids(self) -> frozenset[str]:
        """The version's asset ids (a set, built on first use: only image requests need it)."""
        if self._id_set is None:
            self._id_set = frozenset(self.assets["asset_id"].to_pylist())
        return self._id_set


_BOX_COLUMNS = ["class_id", "x", "y", "w", "h", "score", "mark"]


def _side(boxes: pa.Table, asset_ids: pa.Array, n_assets: int) -> _Side:
    if boxes.num_rows == 0:
        z = np.zeros(n_assets, np.int64)
        floats = tuple(np.zeros(0, np.float32) for _ in range(5))
        return _Side(boxes.select(_BOX_COLUMNS), z, z, np.zeros(0, np.int32), np.zeros(0, np.int8), floats)
    found = pc.index_in(boxes["asset_id"], value_set=asset_ids)
    pos = pc.fill_null(found, n_assets).to_numpy().astype(np.int64)  # boxes of unknown assets sort last
    order = np.argsort(pos, kind="stable")
    sorted_boxes = boxes.select(_BOX_COLUMNS).take(pa.array(order)).combine_chunks()
    sorted_pos = pos[order]
    starts = np.searchsorted(sorted_pos, np.arange(n_assets), side="left")
    ends = np.searchsorted(sorted_pos, np.arange(n_assets), side="right")
    # one chunk after combine_chunks and, the columns not being nullable, views of the same memory
    cols = {c: sorted_boxes[c].chunk(0).to_numpy(zero_copy_only=False) for c in _BOX_COLUMNS}
    xywhs = (cols["x"], cols["y"], cols["w"], cols["h"], cols["score"])
    return _Side(sorted_boxes, starts, ends, cols["class_id"], cols["mark"], xywhs)


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """Inode, mtime and size of a file (None if missing): a change of any means the file changed."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class BrowseCache:
    """An LRU of :class:`VersionIndex` by (repository, commit)."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self.items: OrderedDict[tuple[str, str], VersionIndex] = OrderedDict()
        self.lock = threading.Lock()
        self.building: dict[tuple[str, str], threading.Lock] = {}
        # (repository, rev) -> (stamp of refs.json, commit id): resolving a rev reads refs.json and
        # commit.json; refs.json is replaced atomically on every change, so its stamp tells when to again
        self.resolved: dict[tuple[str, str], tuple[tuple[int, int, int] | None, str]] = {}

    def cached(self, repo_root: Path, rev: str) -> VersionIndex | None:
        """The index of ``rev`` if it is built and ``rev`` still names the same commit (one ``stat``;
        no file is read), else None: then :meth:`get` builds or finds it."""
        hit = self.resolved.get((str(repo_root), rev))
        if hit is None or hit[0] != file_stamp(repo_root / ".mir" / "refs.json"):
            return None
        key = (str(repo_root), hit[1])
        with self.lock:
            index = self.items.get(key)
            if index is not None:
                self.items.move_to_end(key)
        return index

    def get(self, repo_root: Path, rev: str) -> VersionIndex:
        """The index of ``rev`` in the repository at ``repo_root`` (built on first use, once: concurrent
        first requests wait for the one building it rather than each loading the version)."""
        repo = Repo(repo_root)
        stamp = file_stamp(repo.mir / "refs.json")
        commit = repo.resolve(rev)
        key = (str(repo_root), commit.id)
        with self.lock:
            if len(self.resolved) > 1024:
                self.resolved.clear()
            self.resolved[(str(repo_root), rev)] = (stamp, commit.id)
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            build_lock = self.building.setdefault(key, threading.Lock())
        with build_lock:
            with self.lock:
                if key in self.items:
                    self.items.move_to_end(key)
                    return self.items[key]
            index = _build(repo, commit)
            with self.lock:
                self.items[key] = index
                self.building.pop(key, None)
                while len(self.items) > self.capacity:
                    self.items.popitem(last=False)
        return index


def _build(repo: Repo, commit: Any) -> VersionIndex:
    snap = repo.read(commit)
    assets = snap.assets.combine_chunks()
    ids = assets["asset_id"].chunk(0) if assets["asset_id"].num_chunks else pa.array([], pa.string())
    n = assets.num_rows
    return VersionIndex(assets=assets, gt=_side(snap.gt, ids, n), pred=_side(snap.pred, ids, n))


def _asset_rows_with(side: _Side, keep_box: np.ndarray, n_assets: int) -> np.ndarray:
    """Assets having at least one box where ``keep_box``."""
    counts = np.zeros(n_assets + 1, np.int64)
    if keep_box.any():
        box_idx = np.flatnonzero(keep_box)
        # boxes are sorted by asset: a box belongs to the first asset whose range ends after it
        owners = np.searchsorted(side.ends, box_idx, side="right")
        counts[owners] = 1
    return np.flatnonzero(counts[:n_assets])


def cached_rows(
    index: VersionIndex,
    *,
    class_ids: list[int] | None,
    side: str,
    mark: str | None,
    tvt: str | None,
    tag: str | None,
) -> np.ndarray | None:
    """The rows :func:`select_rows` gives, if that filter was already computed, else None."""
    key = (tuple(class_ids or ()), side, mark, tvt, tag)
    with index.lock:
        return index.filters.get(key)


def select_rows(
    index: VersionIndex,
    *,
    class_ids: list[int] | None,
    side: str,
    mark: str | None,
    tvt: str | None,
    tag: str | None,
) -> np.ndarray:
    """Asset rows matching the filters (cached per version)."""
    key = (tuple(class_ids or ()), side, mark, tvt, tag)
    with index.lock:
        if key in index.filters:
            return index.filters[key]
    n = index.assets.num_rows
    rows = np.arange(n)
    if class_ids is not None or mark is not None:
        sides = {"gt": [index.gt], "pred": [index.pred], "any": [index.gt, index.pred]}[side]
        hit = np.zeros(n, bool)
        for s in sides:
            keep = np.ones(len(s.class_ids), bool)
            if class_ids is not None:
                keep &= np.isin(s.class_ids, class_ids)
            if mark is not None:
                keep &= s.marks == int(MARKS[mark])
            hit[_asset_rows_with(s, keep, n)] = True
        rows = rows[hit]
    if tvt is not None:
        tvts = index.assets["tvt"].to_numpy()
        rows = rows[tvts[rows] == TVTS[tvt]]
    if tag is not None:
        key_name, eq, value = tag.partition("=")
        found = pc.map_lookup(index.assets["tags"], pa.scalar(key_name, pa.string()), "first")
        ok = pc.fill_null(pc.equal(found, pa.scalar(value, pa.string())) if eq else pc.is_valid(found), False)
        mask = ok.to_numpy(zero_copy_only=False)
        rows = rows[mask[rows]]
    with index.lock:
        index.filters[key] = rows
    return rows


_MARK_NAMES = {int(v): k for k, v in MARKS.items()}


def _page_boxes(side: _Side, chosen: np.ndarray, names: dict[int, str]) -> list[list[dict[str, Any]]]:
    """The boxes of each chosen asset (one fancy index per column)."""
    starts, ends = side.starts[chosen], side.ends[chosen]
    counts = ends - starts
    total = int(counts.sum())
    if total == 0:
        return [[] for _ in range(len(chosen))]
    # box rows start..end of every chosen asset, concatenated
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    rows = offsets + np.arange(total)
    class_ids, marks = side.class_ids[rows].tolist(), side.marks[rows].tolist()
    xs, ys, ws, hs, scores = (c[rows].tolist() for c in side.xywhs)  # float32 -> float, as Arrow does
    out = []
    pos = 0
    for c in counts.tolist():
        out.append(
            [
                {
                    "class_name": names.get(class_ids[i], str(class_ids[i])),
                    "x": xs[i],
                    "y": ys[i],
                    "w": ws[i],
                    "h": hs[i],
                    "score": scores[i] if scores[i] >= 0 else None,
                    "mark": _MARK_NAMES.get(marks[i]),
                }
                for i in range(pos, pos + c)
            ]
        )
        pos += c
    return out


_TVT_NAMES = {int(t): name for t, name in TVT_NAMES.items()}


def page(
    index: VersionIndex, rows: np.ndarray, offset: int, limit: int, names: dict[int, str]
) -> list[dict[str, Any]]:
    """The assets of one page with their boxes."""
    chosen = rows[offset : offset + limit]
    if len(chosen) == 0:
        return []
    cols = index.page_columns.take(pa.array(chosen)).to_pydict()
    widths, heights = (a[chosen].tolist() for a in index.sizes)
    tvts = index.tvts[chosen].tolist()
    gt = _page_boxes(index.gt, chosen, names)
    pred = _page_boxes(index.pred, chosen, names)
    return [
        {
            "asset_id": asset_id,
            "width": width,
            "height": height,
            "tvt": _TVT_NAMES[tvt],
            "tags": dict(tags or []),
            "image_format": image_format,
            "gt": g,
            "pred": p,
        }
        for asset_id, width, height, tvt, tags, image_format, g, p in zip(
            cols["asset_id"], widths, heights, tvts, cols["tags"], cols["image_format"], gt, pred, strict=True
        )
    ]

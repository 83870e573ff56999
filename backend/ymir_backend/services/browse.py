"""Paging through a dataset version's assets straight from mir's Parquet tables.

A version is immutable, so everything derived from it is cached by commit id: the loaded tables,
per-asset box ranges (boxes sorted by asset once), and the row sets of each filter. A page is then a
slice of an index array plus the boxes of at most ``limit`` assets — no scan per request, which is
what keeps pages of a million-image version fast (YMIR needed MongoDB and a Go service for this).

Tables are kept as single chunks: Arrow's ``take`` on a chunked array concatenates the chunks first, which
cost ~7 ms per page of a million-image version (Parquet reads come in 256k-row chunks).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mir.store.repo import Repo
from mir.store.schema import TVT_NAMES, Mark

log = logging.getLogger(__name__)

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
    _id_set: Container[str] | None = None

    def __post_init__(self) -> None:
        # what a page shows: the numbers as NumPy arrays, the rest taken from Arrow
        self.page_columns = self.assets.select(["asset_id", "tags", "image_format"])
        self.sizes = (self.assets["width"].to_numpy(), self.assets["height"].to_numpy())
        self.tvts = self.assets["tvt"].to_numpy()

    @property
    def ids(self) -> Container[str]:
        """The version's asset ids, for ``in`` (built on first use: only image requests need it)."""
        if self._id_set is None:
            column = self.assets["asset_id"]
            ids = column.chunk(0) if column.num_chunks else pa.array([], pa.string())
            self._id_set = _sorted_ids(ids) or frozenset(ids.to_pylist())
        return self._id_set

    def has(self, asset_id: str) -> bool | None:
        """Whether the version holds ``asset_id``; None while its id set is not built (then :attr:`ids`,
        which can take a second for a million assets)."""
        ids = self._id_set
        return None if ids is None else asset_id in ids


_HEX = np.full(256, 255, np.uint8)
_HEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)


class _SortedIds:
    """Asset ids (40 hex digits: SHA-1s) for ``in``: the first 16 digits of each as sorted 64-bit keys,
    with the row of each key for the exact comparison. Built with NumPy in ~0.1 s for a million ids; a
    frozenset of as many Python strings took over a second holding the GIL (every request waited)."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray, ids: pa.Array) -> None:
        self.keys, self.rows, self.ids = keys, rows, ids

    def __contains__(self, asset_id: object) -> bool:
        if not isinstance(asset_id, str) or len(asset_id) != 40:
            return False
        try:
            key = np.uint64(int(asset_id[:16], 16))
        except ValueError:
            return False
        lo = np.searchsorted(self.keys, key, "left")
        hi = np.searchsorted(self.keys, key, "right")
        return any(self.ids[int(self.rows[j])].as_py() == asset_id for j in range(int(lo), int(hi)))


def _sorted_ids(ids: pa.Array) -> _SortedIds | None:
    """The ids as :class:`_SortedIds`, or None unless every one is 40 characters starting with 16 lowercase
    hex digits (then a set does)."""
    n = len(ids)
    if n == 0 or ids.type != pa.string() or ids.null_count:
        return None
    offsets = np.frombuffer(ids.buffers()[1], np.int32, count=n + 1, offset=ids.offset * 4)
    if not (np.diff(offsets) == 40).all():
        return None
    raw = np.frombuffer(ids.buffers()[2], np.uint8, count=40 * n, offset=int(offsets[0])).reshape(n, 40)
    digits = _HEX[raw[:, :16]]
    if (digits == 255).any():
        return None
    keys = np.zeros(n, np.uint64)
    for i in range(16):
        keys |= digits[:, i].astype(np.uint64) << np.uint64(60 - 4 * i)
    rows = np.argsort(keys, kind="stable")
    return _SortedIds(keys[rows], rows, ids)


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
        self._warm_queue: queue.Queue[tuple[Path, str]] | None = None

    def warm(self, repo_root: Path, rev: str) -> None:
        """Build the index of ``rev`` (and its id set) in the background, one version at a time, so that
        the version's first page and images need not wait for it: loading a million-asset version takes
        seconds. Called when a version becomes ready and, for the latest ones, when the API starts."""
        with self.lock:
            if self._warm_queue is None:
                self._warm_queue = queue.Queue()
                threading.Thread(target=self._warm_loop, daemon=True, name="ymir-browse-warm").start()
        self._warm_queue.put((repo_root, rev))

    def _warm_loop(self) -> None:
        assert self._warm_queue is not None
        while True:
            repo_root, rev = self._warm_queue.get()
            try:
                _ = self.get(repo_root, rev).ids
            except Exception:  # noqa: BLE001 - a version that cannot be loaded fails its own requests
                log.warning("could not load %s of %s ahead of its first page", rev, repo_root, exc_info=True)
            finally:
                self._warm_queue.task_done()

    def wait_warm(self) -> None:
        """Until every version asked to :meth:`warm` is loaded (for tests and benchmarks)."""
        if self._warm_queue is not None:
            self._warm_queue.join()

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

"""Dataset versions for the asset browser, committed straight into a mir repository (no import task),
plus the database rows that make them a project's ``ready`` version: for GUI tests that need exact
boxes, predictions, marks and tags, and for ``bench/web_bench.py``'s 1,000,000-image version.

* :func:`commit_boxes` — a few images given one by one (gt and predictions with scores and marks, tags,
  train/val/test type).
* :func:`commit_bulk` — ``n`` assets built with NumPy: ``real`` distinct tiny JPEGs stored in the media
  folder (the first ``real`` assets: what a browser bench looks at) and random ids for the rest (rows
  only: their images are never requested), ~``boxes`` gt boxes per asset; optionally one asset with
  ``crowded`` boxes first.
* :func:`register` — the dataset group and ready version rows (by SQLAlchemy, on the given database).
"""

from __future__ import annotations

import hashlib
import io
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from mir.labels import Labels
from mir.ops import history
from mir.ops.common import annotations_table
from mir.revs import Rev
from mir.store import media, schema
from mir.store.repo import Repo, Snapshot, Task


@dataclass
class Img:
    """One image of :func:`commit_boxes`: boxes are (class, x, y, w, h[, score], mark) in pixels."""

    width: int
    height: int
    color: tuple[int, int, int]
    gt: Sequence[tuple[Any, ...]] = ()
    pred: Sequence[tuple[Any, ...]] = ()
    tags: dict[str, str] = field(default_factory=dict)
    tvt: int = 1  # schema.Tvt: 1 train, 2 val, 3 test, 0 unknown


def jpeg(width: int, height: int, color: tuple[int, int, int], quality: int = 85) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _repo(root: Path) -> Repo:
    if not (root / ".mir").exists():
        history.init(root=root)
    return Repo(root)


def _assets_table(
    ids: Sequence[str] | pa.Array,
    widths: np.ndarray,
    heights: np.ndarray,
    sizes: np.ndarray,
    tvts: np.ndarray,
    tags: pa.Array,
) -> pa.Table:
    n = len(ids)
    return pa.Table.from_arrays(
        [
            pa.array(ids, pa.string()) if not isinstance(ids, pa.Array) else ids,
            pa.array(widths.astype(np.int32)),
            pa.array(heights.astype(np.int32)),
            pa.array(np.full(n, 3, np.int8)),
            pa.array(["jpeg"] * n, pa.string()),
            pa.array(sizes.astype(np.int64)),
            pa.array(tvts.astype(np.int8)),
            pa.array([f"img_{i:07d}.jpg" for i in range(n)], pa.string()),
            pa.array(np.full(n, 1_700_000_000, np.int64)),
            tags,
        ],
        schema=schema.ASSETS,
    )


def commit_boxes(workplace: Path, project_id: int, images: Sequence[Img]) -> tuple[str, list[str]]:
    """Commit ``images`` as a new version of ``repos/project-<id>``; returns (rev, asset ids in order)."""
    blobs = [jpeg(i.width, i.height, i.color) for i in images]
    ids = [hashlib.sha1(b).hexdigest() for b in blobs]
    for aid, b in zip(ids, blobs, strict=True):
        media.store_bytes(workplace / "media", aid, b)
    tags = pa.array([list(i.tags.items()) or None for i in images], schema.TAGS_TYPE)
    assets = _assets_table(
        ids,
        np.array([i.width for i in images]),
        np.array([i.height for i in images]),
        np.array([len(b) for b in blobs]),
        np.array([i.tvt for i in images]),
        tags,
    )

    def side(labels: Labels, which: str) -> pa.Table:
        rows = [(ids[k], box) for k, img in enumerate(images) for box in getattr(img, which)]
        cols: dict[str, Any] = {
            "asset_id": [a for a, _ in rows],
            "class_id": [
                labels.id_of(b[0]) if labels.id_of(b[0]) is not None else labels.add(b[0]) for _, b in rows
            ],
            "x": [b[1] for _, b in rows],
            "y": [b[2] for _, b in rows],
            "w": [b[3] for _, b in rows],
            "h": [b[4] for _, b in rows],
            "mark": [int(b[-1]) for _, b in rows],
        }
        if which == "pred":
            cols["score"] = [b[5] for _, b in rows]
        return annotations_table(cols)

    branch = f"browse-{uuid.uuid4().hex[:8]}"
    _repo(workplace / f"repos/project-{project_id}").commit(
        dst=Rev(branch, "t1"),
        task=Task(type="import", tid="t1"),
        build=lambda labels: Snapshot(assets=assets, gt=side(labels, "gt"), pred=side(labels, "pred")),
    )
    return f"{branch}@t1", ids


def commit_bulk(
    workplace: Path,
    project_id: int,
    n: int,
    *,
    real: int,
    boxes: float = 2.0,
    classes: Sequence[str] = ("circle", "square", "triangle"),
    crowded: int = 0,
    seed: int = 7,
) -> dict[str, Any]:
    """An ``n``-asset version (see the module's note); returns its rev and timings."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    real = min(real, n)
    # real images: 48x48 JPEGs, each a distinct flat colour plus a distinct pixel pattern (distinct bytes)
    blobs = []
    base = np.zeros((48, 48, 3), np.uint8)
    for i in range(real):
        px = base.copy()
        px[:, :] = ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)
        px[i % 48, (i // 48) % 48] = 255 - px[0, 0]
        px[(i // 2304) % 48, 47 - (i % 48)] = (i // 2304 * 7) % 256
        buf = io.BytesIO()
        Image.fromarray(px).save(buf, "JPEG", quality=80)
        blobs.append(buf.getvalue())
    ids = [hashlib.sha1(b).hexdigest() for b in blobs]
    for aid, b in zip(ids, blobs, strict=True):
        media.store_bytes(workplace / "media", aid, b)
    t_images = time.perf_counter() - t0
    hexed = rng.integers(0, 256, size=(n - real) * 20, dtype=np.uint8).tobytes().hex()
    ids += [hexed[i : i + 40] for i in range(0, 40 * (n - real), 40)]
    widths = np.full(n, 48)
    heights = np.full(n, 48)
    sizes = np.array([len(b) for b in blobs] + [800] * (n - real))
    if crowded:
        big = jpeg(1000, 1000, (90, 120, 150))
        ids[0] = hashlib.sha1(big).hexdigest()
        media.store_bytes(workplace / "media", ids[0], big)
        widths[0] = heights[0] = 1000
        sizes[0] = len(big)
    per_asset = rng.poisson(max(boxes - 1, 0), n).astype(np.int64) + 1
    if crowded:
        per_asset[0] = crowded
    owner = np.repeat(np.arange(n), per_asset)
    nb = len(owner)
    bw = rng.uniform(0.1, 0.5, nb) * widths[owner]
    bh = rng.uniform(0.1, 0.5, nb) * heights[owner]
    bx = rng.uniform(0, 1, nb) * (widths[owner] - bw)
    by = rng.uniform(0, 1, nb) * (heights[owner] - bh)
    if crowded:  # a 25 x 20 lattice of 30 px boxes
        k = np.arange(crowded)
        bx[:crowded], by[:crowded] = (k % 25) * 40 + 2, (k // 25) * 40 + 2
        bw[:crowded] = bh[:crowded] = 30
    id_array = pa.array(ids, pa.string())
    assets = _assets_table(
        id_array, widths, heights, sizes, np.ones(n, np.int8), pa.nulls(n, schema.TAGS_TYPE)
    )
    cls = rng.integers(0, len(classes), nb)

    def build(labels: Labels) -> Snapshot:
        lut = np.array([labels.id_of(c) if labels.id_of(c) is not None else labels.add(c) for c in classes])
        gt = annotations_table(
            {
                "asset_id": id_array.take(pa.array(owner)),
                "class_id": pa.array(lut[cls].astype(np.int32)),
                "x": pa.array(bx.astype(np.float32)),
                "y": pa.array(by.astype(np.float32)),
                "w": pa.array(bw.astype(np.float32)),
                "h": pa.array(bh.astype(np.float32)),
            }
        )
        return Snapshot(assets=assets, gt=gt)

    branch = f"bulk-{uuid.uuid4().hex[:8]}"
    _repo(workplace / f"repos/project-{project_id}").commit(
        dst=Rev(branch, "t1"), task=Task(type="import", tid="t1"), build=build
    )
    return {
        "rev": f"{branch}@t1",
        "assets": n,
        "real_images": real,
        "gt_boxes": nb,
        "images_s": round(t_images, 1),
        "commit_s": round(time.perf_counter() - t0, 1),
    }


def register(db_url: str, project_id: int, rev: str, n: int, stats: dict[str, Any] | None = None) -> int:
    """A dataset group and its ready version 1 at ``rev``; returns the version's id."""
    from ymir_backend.db import Database
    from ymir_backend.models import DatasetGroup, DatasetVersion

    db = Database(db_url)
    try:
        with db.sessions() as s:
            group = DatasetGroup(project_id=project_id, name=f"browse-{uuid.uuid4().hex[:6]}")
            s.add(group)
            s.flush()
            dv = DatasetVersion(
                group_id=group.id,
                project_id=project_id,
                version_num=1,
                rev=rev,
                state="ready",
                asset_count=n,
                gt_stats=stats or {},
            )
            s.add(dv)
            s.commit()
            return int(dv.id)
    finally:
        db.engine.dispose()

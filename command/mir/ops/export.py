"""``mir export``: a version's images and annotations as files other tools read.

Images go to ``<asset-dir>/<sha1[-2:]>/<sha1>.<ext>`` (copied, or hard-linked with ``--link``)
with ``<asset-dir>/index.tsv`` listing them; each annotation side goes to its folder in the chosen
format with an ``index.tsv`` of ``image<TAB>annotation``. Export is read-only: it commits nothing
(YMIR committed an empty "export" branch each time).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa

from mir import formats
from mir.errors import InputFileError
from mir.formats.base import ExportSelection
from mir.images import EXTENSIONS
from mir.ops.common import absolute, take_ids
from mir.ops.select import filter_by_tvt, parse_tvt, split_names
from mir.parallel import chunked, pool
from mir.progress import Progress, ProgressFn
from mir.revs import parse_rev
from mir.store import media
from mir.store.repo import Repo, Snapshot


@dataclass
class ExportReport:
    """Counts of what was written."""

    assets: int
    gt_boxes: int
    pred_boxes: int
    asset_index: Path
    gt_index: Path | None
    pred_index: Path | None


def _place_chunk(chunk: list[tuple[str, str]], media_location: str, link: bool) -> str | None:
    """Worker: copy (or hard-link) assets; returns an error message or None.

    Plain ``os`` calls and as few system calls per image as possible: export writes one file per
    image, and on a busy disk creating files is what an export costs.
    """
    made: set[str] = set()
    for asset_id, target in chunk:
        src = os.path.join(media_location, asset_id[-2:], asset_id)
        try:
            size = os.stat(src).st_size
        except FileNotFoundError:
            found = media.locate(Path(media_location), asset_id)
            if found is None:
                return f"asset {asset_id} is missing from the media location {media_location}"
            src, size = str(found), found.stat().st_size
        try:
            if os.stat(target).st_size == size:
                continue
        except FileNotFoundError:
            pass
        folder = os.path.dirname(target)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        tmp = os.path.join(folder, f".{os.path.basename(target)}.tmp")
        if link:
            try:
                os.link(src, tmp)
            except FileExistsError:
                os.unlink(tmp)
                os.link(src, tmp)
            except OSError:  # another file system: copy instead
                _copy(src, tmp)
        else:
            _copy(src, tmp)
        os.replace(tmp, target)
    return None


def _copy(src: str, dst: str) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def class_mapping(snap: Snapshot, names: list[str], ids: list[int]) -> tuple[Snapshot, list[str]]:
    """Keep boxes of ``ids`` and renumber them to their position in ``names``."""
    lut = np.full(max([*ids, 0]) + 1, -1, np.int32)
    for pos, cid in enumerate(ids):
        lut[cid] = pos

    def remap(boxes: pa.Table) -> pa.Table:
        if boxes.num_rows == 0:
            return boxes
        cls = boxes["class_id"].to_numpy()
        mapped = np.where(cls < len(lut), lut[np.minimum(cls, len(lut) - 1)], -1)
        boxes = boxes.set_column(
            boxes.schema.get_field_index("class_id"), "class_id", pa.array(mapped, pa.int32())
        )
        return boxes.filter(pa.array(mapped >= 0))

    return Snapshot(
        assets=snap.assets, gt=remap(snap.gt), pred=remap(snap.pred), pred_meta=snap.pred_meta
    ), names


def export_dataset(
    *,
    root: Path,
    src_rev: str,
    asset_dir: Path,
    media_location: Path,
    gt_dir: Path | None = None,
    pred_dir: Path | None = None,
    anno_format: str = "voc",
    class_names: str | list[str] = "",
    link: bool = False,
    tvt: str = "",
    progress: ProgressFn | None = None,
    bar: bool | None = None,
    original_names: bool = False,
    relative_to: Path | None = None,
) -> ExportReport:
    """Write the images of ``src_rev`` and (optionally) its gt / predictions in ``anno_format``.

    ``original_names`` writes each image under its imported file name, directly in ``asset_dir``
    (a name taken by another image gets ``_<asset id prefix>`` before the suffix), and names its
    annotation file after it, so the folder imports again as it is. ``relative_to`` makes the paths in
    the index files (and Label Studio's ``data.image``) relative to that folder, so an export still
    works after it is moved or downloaded."""
    repo = Repo(root)
    rev = parse_rev(src_rev, allow_tvt=False)
    commit = repo.resolve(rev)
    fmt = formats.resolve_format(anno_format) if anno_format not in ("none", "") else "none"
    media_location = absolute(media_location)
    if not media_location.is_dir():
        raise InputFileError(media_location, "media location does not exist", fix="check --media-location")
    snap = repo.read(commit)
    if tvt:
        snap = filter_by_tvt(snap, parse_tvt(tvt))
    labels = repo.labels()
    wanted = split_names(class_names)
    if wanted:
        ids = labels.ids_of(wanted, where="--class-names")
        names = [labels.name_of(i) for i in ids]
    else:
        used = sorted(set(snap.gt["class_id"].to_pylist()) | set(snap.pred["class_id"].to_pylist()))
        ids, names = used, [labels.name_of(i) for i in used]
    snap, names = class_mapping(snap, names, ids)
    prog = Progress(progress, bar=bar)
    asset_dir = absolute(asset_dir)
    prog.phase(0.0, 0.8)
    assets = place_assets(
        snap.assets, asset_dir, media_location, link=link, progress=prog, original_names=original_names
    )
    if relative_to is not None:
        base = absolute(relative_to)
        shown = [os.path.relpath(p, base) for p in assets["image_path"].to_pylist()]
        assets = assets.set_column(
            assets.schema.get_field_index("image_path"), "image_path", pa.array(shown, pa.string())
        )
    paths = assets["image_path"].to_pylist()
    asset_index = asset_dir / "index.tsv"
    write_lines(asset_index, paths)
    prog.phase(0.8, 1.0)
    gt_index = pred_index = None
    for side, folder in (("gt", gt_dir), ("pred", pred_dir)):
        if folder is None or fmt == "none":
            continue
        index = write_annotations(
            assets, snap.table(side), names, fmt, absolute(folder), side, relative_to=relative_to
        )
        if side == "gt":
            gt_index = index
        else:
            pred_index = index
    prog.done("exported")
    return ExportReport(
        assets=len(paths),
        gt_boxes=snap.gt.num_rows if gt_dir else 0,
        pred_boxes=snap.pred.num_rows if pred_dir else 0,
        asset_index=asset_index,
        gt_index=gt_index,
        pred_index=pred_index,
    )


def original_file_names(assets: pa.Table) -> list[str]:
    """One file name per asset: its imported name, made unique (case-insensitively, by stem, since
    annotation files are matched by stem) with ``_<asset id prefix>``; the image's suffix is added
    where the name has none."""
    taken: set[str] = set()
    out = []
    for asset_id, origin, fmt in zip(
        assets["asset_id"].to_pylist(),
        assets["origin_name"].to_pylist(),
        assets["image_format"].to_pylist(),
        strict=True,
    ):
        name = os.path.basename(str(origin or "")).strip()
        stem, suffix = os.path.splitext(name)
        if not stem or stem.startswith("."):
            stem, suffix = asset_id, ""
        suffix = suffix or f".{EXTENSIONS.get(fmt, 'img')}"
        if stem.lower() in taken:
            stem = f"{stem}_{asset_id[:8]}"
            while stem.lower() in taken:  # pragma: no cover - needs a clash of 8 hex digits too
                stem = f"{stem}_{asset_id}"
        taken.add(stem.lower())
        out.append(stem + suffix)
    return out


def place_assets(
    assets: pa.Table,
    asset_dir: Path,
    media_location: Path,
    *,
    link: bool,
    progress: Progress | None = None,
    original_names: bool = False,
) -> pa.Table:
    """Copy (or hard-link) every asset to ``<asset_dir>/<hh>/<sha1>.<ext>`` (or, with
    ``original_names``, ``<asset_dir>/<imported name>``) in worker processes; returns ``assets`` with an
    ``image_path`` column (and ``file_stem`` with ``original_names``)."""
    asset_dir.mkdir(parents=True, exist_ok=True)
    ids_list = assets["asset_id"].to_pylist()
    if original_names:
        file_names = original_file_names(assets)
        paths = [str(asset_dir / n) for n in file_names]
        assets = assets.append_column(
            "file_stem", pa.array([os.path.splitext(n)[0] for n in file_names], pa.string())
        )
    else:
        exts = [EXTENSIONS.get(f, "img") for f in assets["image_format"].to_pylist()]
        paths = [str(asset_dir / a[-2:] / f"{a}.{e}") for a, e in zip(ids_list, exts, strict=True)]
    chunks = chunked(list(zip(ids_list, paths, strict=True)), 512)
    with pool(len(ids_list), min_items=2048) as workers:
        fn = partial(_place_chunk, media_location=str(media_location), link=link)
        for done, err in enumerate(workers.imap(fn, chunks), start=1):
            if err:
                raise InputFileError(
                    media_location, err, fix="check --media-location (the one used at import)"
                )
            if progress is not None:
                progress.update(done / len(chunks), "writing images")
    return assets.append_column("image_path", pa.array(paths, pa.string()))


def write_annotations(
    assets: pa.Table,
    boxes: pa.Table,
    names: list[str],
    fmt: str,
    folder: Path,
    side: str,
    *,
    relative_to: Path | None = None,
) -> Path:
    """Write one side's boxes (class ids already positions in ``names``) and its ``index.tsv`` (paths
    relative to ``relative_to`` when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    if fmt in _PER_ASSET_FORMATS and assets.num_rows >= 2 * _ANNO_CHUNK:
        # one file per asset: write them from the worker processes, a chunk of assets each
        chunks = []
        for start in range(0, assets.num_rows, _ANNO_CHUNK):
            part = assets.slice(start, _ANNO_CHUNK)
            chunks.append((part, take_ids(boxes, part["asset_id"])))
        with pool(assets.num_rows, min_items=1) as workers:
            fn = partial(_write_chunk, fmt=fmt, names=names, folder=str(folder), side=side)
            for done in workers.imap(fn, chunks):
                written.update(done)
    else:
        written = _write_chunk((assets, boxes), fmt=fmt, names=names, folder=str(folder), side=side)
    lookup = dict(zip(assets["asset_id"].to_pylist(), assets["image_path"].to_pylist(), strict=True))
    if relative_to is not None:
        base = absolute(relative_to)
        written = {a: os.path.relpath(p, base) for a, p in written.items()}
    index = folder / "index.tsv"
    write_lines(index, [f"{lookup[a]}\t{p}" for a, p in written.items() if a in lookup])
    return index


_PER_ASSET_FORMATS = ("voc", "ark", "yolo")
_ANNO_CHUNK = 4096


def _write_chunk(
    part: tuple[pa.Table, pa.Table], *, fmt: str, names: list[str], folder: str, side: str
) -> dict[str, str]:
    """Worker: write the annotation files of some assets."""
    assets, boxes = part
    selection = ExportSelection(
        assets=assets, boxes=boxes, class_names=names, side="pred" if side == "pred" else "gt"
    )
    return formats.WRITERS[fmt](selection, Path(folder))


def write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)

"""``mir import``: images from an index file plus gt and/or predictions, as one new version.

Every image is read once: hashed (sha1 = asset id), its header inspected, its bytes stored in the
media location. That work is spread over the CPU cores in chunks; annotation files of per-image
formats are parsed by the same workers. Everything is checked before anything is published, so
a bad line anywhere leaves the repository untouched.

The images may also be entries of a zip archive (``archive=``): each worker reads them straight
from the archive, so an uploaded zip of many small images is never unpacked onto disk first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from mir import formats, images
from mir.errors import InputFileError, InvalidArgsError, UnknownClassesError
from mir.formats.base import ReadResult
from mir.labels import Labels, check_label, normalise
from mir.ops.common import absolute, annotations_table, box_index, dst_rev
from mir.parallel import chunked, pool
from mir.progress import Progress, ProgressFn
from mir.revs import Rev, parse_rev
from mir.store import media, schema
from mir.store.lock import media_lock
from mir.store.repo import Commit, Repo, Snapshot, Task

log = logging.getLogger(__name__)

UnknownStrategy = Literal["stop", "ignore", "add"]
BoxStrategy = Literal["stop", "clip", "drop"]
_CHUNK = 256
_METADATA_SUFFIXES = (".tsv", ".txt", ".csv", ".xml", ".json", ".yaml", ".yml")
_EDGE_TOLERANCE = 1.0  # pixels; VOC's 1-based inclusive boxes may touch x = width


@dataclass
class IndexLine:
    """One image named by the index file."""

    line: int
    path: str  # absolute, or relative to the index file's folder already joined


@dataclass
class ImportReport:
    """What an import did, for the CLI and the controller."""

    commit: Commit
    assets: int
    duplicates: int
    new_media: int
    gt_boxes: int
    pred_boxes: int
    ignored_boxes: dict[str, int] = field(default_factory=dict)
    added_classes: list[str] = field(default_factory=list)


def read_index(index_file: Path, *, members: bool = False) -> list[IndexLine]:
    """Image paths of an index file: one per line (first tab-separated column), relative paths
    resolved against the index file's folder (kept as they are with ``members``: entries of a zip
    archive); blank lines and ``#`` comments are skipped."""
    try:
        text = index_file.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InputFileError(index_file, "index file does not exist", fix="check --index-file") from e
    except UnicodeDecodeError as e:
        raise InputFileError(
            index_file,
            f"index file is not UTF-8 text ({e.reason} at byte {e.start})",
            fix="the index must list one image path per line",
        ) from e
    except OSError as e:
        raise InputFileError(index_file, f"cannot read index file ({e.strerror})") from e
    base = str(index_file.parent)
    lines = []
    for no, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("\t", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        lines.append(IndexLine(no, entry if members or entry.startswith("/") else os.path.join(base, entry)))
    if not lines:
        raise InputFileError(
            index_file,
            "index file lists no images",
            fix="write one image path per line (absolute, or relative to the index file)",
        )
    return lines


_ZIPS: dict[tuple[int, str], zipfile.ZipFile] = {}
_ZIPS_LOCK = threading.Lock()


def _archive(path: str) -> zipfile.ZipFile:
    """The archive opened once per process (forked workers must not share the parent's file offset;
    threads share one: zipfile serialises their reads)."""
    key = (os.getpid(), path)
    with _ZIPS_LOCK:
        zf = _ZIPS.get(key)
        if zf is None:
            zf = _ZIPS[key] = zipfile.ZipFile(path)
        return zf


def _close_archives() -> None:
    """Close this process' open archives (an uploaded zip is deleted after its import)."""
    with _ZIPS_LOCK:
        for key in [k for k in _ZIPS if k[0] == os.getpid()]:
            _ZIPS.pop(key).close()


def _read_image(path: str, archive: str | None) -> bytes | str | None:
    """The bytes of one image, a problem (str), or None for a line to skip (a folder)."""
    if archive is not None:
        try:
            return _archive(archive).read(path)
        except KeyError:
            return "is not an entry of the archive"
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
            return f"the archive entry is damaged ({e})"
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return "image file does not exist"
    except IsADirectoryError:
        return None  # `find DIR > index` lists folders too (YMIR's README does this)
    except OSError as e:
        return f"cannot read image file ({e.strerror})"


def _ingest_chunk(
    chunk: list[tuple[int, str]], media_location: str, archive: str | None = None
) -> dict[str, Any]:
    """Worker: hash, inspect and store each image of a chunk; stops at the first bad one."""
    out: dict[str, list[Any]] = {
        k: [] for k in ("line", "asset_id", "width", "height", "channels", "image_format", "byte_size")
    }
    created = skipped = 0
    location = Path(media_location)
    for line, path in chunk:
        if path.lower().endswith(_METADATA_SUFFIXES):
            skipped += 1  # an export's own index or annotation files, listed by `find`
            continue
        data = _read_image(path, archive)
        if data is None:
            skipped += 1
            continue
        if isinstance(data, str):
            return {"error": (line, path, data)}
        try:
            info = images.inspect(data)
        except images.ImageProblem as e:
            return {"error": (line, path, str(e))}
        asset_id = hashlib.sha1(data).hexdigest()
        if media.store_bytes(location, asset_id, data):
            created += 1
        out["line"].append(line)
        out["asset_id"].append(asset_id)
        out["width"].append(info.width)
        out["height"].append(info.height)
        out["channels"].append(info.channels)
        out["image_format"].append(info.image_format)
        out["byte_size"].append(len(data))
    return {"rows": out, "created": created, "skipped": skipped}


def import_dataset(
    *,
    root: Path,
    index_file: Path,
    dst: str,
    media_location: Path,
    gt_dir: Path | None = None,
    pred_dir: Path | None = None,
    anno_format: str = "auto",
    src_rev: str | None = None,
    unknown_types_strategy: UnknownStrategy = "stop",
    invalid_box_strategy: BoxStrategy = "stop",
    user: str = "",
    progress: ProgressFn | None = None,
    bar: bool | None = None,
    archive: Path | None = None,
) -> ImportReport:
    """Import the images of ``index_file`` (and their annotations) as version ``dst`` (branch@tid).

    With ``archive`` (a zip file), the index lines name entries of that archive, read from it
    directly; the caller has checked the archive's entries (sizes, names) before.
    """
    repo = Repo(root)
    dst_r = dst_rev(repo, dst)
    parent = parse_rev(src_rev, allow_tvt=False) if src_rev else None
    if parent is not None:
        repo.resolve(parent)
    if unknown_types_strategy not in ("stop", "ignore", "add"):
        raise InvalidArgsError(
            f"unknown --unknown-types-strategy {unknown_types_strategy!r}", fix="use stop, ignore or add"
        )
    media_location = absolute(media_location)
    index_file = absolute(index_file)
    prog = Progress(progress, bar=bar)
    lines = read_index(index_file, members=archive is not None)
    if archive is not None:
        archive = absolute(archive)
    for d, flag in ((gt_dir, "--gt-dir"), (pred_dir, "--pred-dir")):
        if d is not None and not Path(d).exists():
            raise InputFileError(Path(d), "does not exist", fix=f"check {flag}")
    with media_lock(media_location, exclusive=False):  # from the first stored image to the commit: gc waits
        return _import_locked(
            repo=repo, dst_r=dst_r, parent=parent, lines=lines, index_file=index_file,
            media_location=media_location, gt_dir=gt_dir, pred_dir=pred_dir, anno_format=anno_format,
            unknown_types_strategy=unknown_types_strategy, invalid_box_strategy=invalid_box_strategy,
            user=user, prog=prog, archive=archive,
        )  # fmt: skip


def _import_locked(
    *,
    repo: Repo,
    dst_r: Rev,
    parent: Rev | None,
    lines: list[IndexLine],
    index_file: Path,
    media_location: Path,
    gt_dir: Path | None,
    pred_dir: Path | None,
    anno_format: str,
    unknown_types_strategy: UnknownStrategy,
    invalid_box_strategy: BoxStrategy,
    user: str,
    prog: Progress,
    archive: Path | None,
) -> ImportReport:
    """:func:`import_dataset` once its arguments are checked, under the media location's shared lock."""
    # 1. images: hash, inspect, store
    chunks = chunked([(ln.line, ln.path) for ln in lines], _CHUNK)
    rows: dict[str, list[Any]] = {
        k: [] for k in ("line", "asset_id", "width", "height", "channels", "image_format", "byte_size")
    }
    created = skipped_dirs = 0
    ingest = partial(
        _ingest_chunk, media_location=str(media_location), archive=str(archive) if archive else None
    )
    with pool(len(lines)) as workers, _archives_closed():
        prog.phase(0.0, 0.7)
        for done, result in enumerate(workers.imap(ingest, chunks), start=1):
            if "error" in result:
                line, path, problem = result["error"]
                if archive is not None:
                    raise InputFileError(
                        archive, f"{path}: {problem}", fix="fix or remove this image in the archive"
                    )
                raise InputFileError(
                    index_file,
                    f"{path}: {problem}",
                    line=line,
                    fix="fix or remove this line of the index file",
                )
            for k, v in result["rows"].items():
                rows[k].extend(v)
            created += result["created"]
            skipped_dirs += result["skipped"]
            prog.update(done / len(chunks), "reading images")
        if skipped_dirs:
            log.warning("skipped %d index line(s) naming folders or index/annotation files", skipped_dirs)
        if not rows["asset_id"]:
            raise InputFileError(
                index_file,
                "index file lists no image files, only folders",
                fix="list image files, one per line",
            )
        line_to_path = {ln.line: ln.path for ln in lines}
        assets, stems, duplicates = _asset_table(rows, line_to_path)

        # 2. annotations
        prog.phase(0.7, 0.95)
        sizes = {
            stem: (w, h) for stem, w, h in zip(stems["stem"], stems["width"], stems["height"], strict=True)
        }
        read_gt = _read_side(gt_dir, anno_format, stems["stem"], sizes, workers.map, "gt", index_file, stems)
        prog.update(0.5, "reading annotations")
        read_pred = _read_side(
            pred_dir, anno_format, stems["stem"], sizes, workers.map, "pred", index_file, stems
        )
        prog.update(1.0, "reading annotations")

    stem_to_asset = dict(zip(stems["stem"], stems["asset_id"], strict=True))
    gt_raw = _attach(read_gt, stem_to_asset, assets, invalid_box_strategy)
    pred_raw = _attach(read_pred, stem_to_asset, assets, invalid_box_strategy)
    if read_gt is not None and read_gt.image_tags.num_rows:
        assets = _with_image_tags(assets, read_gt.image_tags, stem_to_asset)
    pred_meta = _pred_meta(pred_dir)
    task = Task(
        type="import",
        tid=dst_r.tid or "",
        user=user,
        src_revs=str(index_file),
        params={
            "index_file": str(index_file),
            "gt_dir": str(gt_dir or ""),
            "pred_dir": str(pred_dir or ""),
            "anno_format": anno_format,
            "unknown_types_strategy": unknown_types_strategy,
            "media_location": str(media_location),
        },
    )
    summary: dict[str, Any] = {}

    def build(labels: Labels) -> Snapshot:
        declared = (read_gt.declared_classes if read_gt else []) + (
            read_pred.declared_classes if read_pred else []
        )
        gt, ign_gt, added_gt = _resolve_classes(gt_raw, labels, unknown_types_strategy, declared)
        pred, ign_pred, added_pred = _resolve_classes(pred_raw, labels, unknown_types_strategy, declared)
        summary.update(ignored={**ign_gt, **ign_pred}, added=sorted(set(added_gt + added_pred)))
        task.params["new_types"] = summary["ignored"] if unknown_types_strategy != "add" else {}
        return Snapshot(assets=assets, gt=gt, pred=pred, pred_meta=pred_meta)

    prog.phase(0.95, 1.0)
    prog.update(0.0, "committing")
    commit = repo.commit(dst=dst_r, task=task, build=build, parent=parent)
    prog.done("imported")
    return ImportReport(
        commit=commit,
        assets=assets.num_rows,
        duplicates=duplicates,
        new_media=created,
        gt_boxes=commit.stats["gt"]["boxes"],
        pred_boxes=commit.stats["pred"]["boxes"],
        ignored_boxes=summary["ignored"],
        added_classes=summary["added"],
    )


@contextmanager
def _archives_closed() -> Iterator[None]:
    try:
        yield
    finally:
        _close_archives()


def _asset_table(
    rows: dict[str, list[Any]], line_to_path: dict[int, str]
) -> tuple[pa.Table, dict[str, list[Any]], int]:
    """Assets in index order with duplicates (same content) collapsed onto their first line."""
    ids = rows["asset_id"]
    first_index: dict[str, int] = {}
    keep: list[int] = []
    for i, asset_id in enumerate(ids):
        if asset_id not in first_index:
            first_index[asset_id] = i
            keep.append(i)
    duplicates = len(ids) - len(keep)
    if duplicates:
        log.warning("%d image(s) have the same content as an earlier line and are stored once", duplicates)
    now = int(time.time())
    k = np.asarray(keep, dtype=np.int64)
    names = [os.path.basename(line_to_path[rows["line"][i]]) for i in keep]
    assets = pa.Table.from_arrays(
        [
            pa.array([ids[i] for i in keep], pa.string()),
            pa.array(np.asarray(rows["width"], np.int32)[k] if len(k) else [], pa.int32()),
            pa.array(np.asarray(rows["height"], np.int32)[k] if len(k) else [], pa.int32()),
            pa.array(np.asarray(rows["channels"], np.int8)[k] if len(k) else [], pa.int8()),
            pa.array([rows["image_format"][i] for i in keep], pa.string()),
            pa.array(np.asarray(rows["byte_size"], np.int64)[k] if len(k) else [], pa.int64()),
            pa.array(np.zeros(len(k), np.int8), pa.int8()),
            pa.array(names, pa.string()),
            pa.array(np.full(len(k), now, np.int64), pa.int64()),
            pa.nulls(len(k), schema.TAGS_TYPE),
        ],
        schema=schema.ASSETS,
    )
    # stems used to match annotation files: every index line, so a duplicate's annotations still land
    stems: dict[str, list[Any]] = {"stem": [], "asset_id": [], "width": [], "height": [], "line": []}
    seen_stem: dict[str, int] = {}
    for i, asset_id in enumerate(ids):
        line = rows["line"][i]
        stem = os.path.splitext(os.path.basename(line_to_path[line]))[0]
        if stem in seen_stem:
            j = seen_stem[stem]
            if ids[j] != asset_id:
                stems.setdefault("clash", []).append((stem, rows["line"][j], line))
            continue
        seen_stem[stem] = i
        stems["stem"].append(stem)
        stems["asset_id"].append(asset_id)
        stems["width"].append(rows["width"][i])
        stems["height"].append(rows["height"][i])
        stems["line"].append(line)
    return assets, stems, duplicates


def _read_side(
    source: Path | None,
    anno_format: str,
    stem_list: Sequence[str],
    sizes: dict[str, tuple[int, int]],
    map_fn: Any,
    side: str,
    index_file: Path,
    stems: dict[str, list[Any]],
) -> ReadResult | None:
    if source is None:
        return None
    if stems.get("clash"):
        stem, a, b = stems["clash"][0]
        raise InputFileError(
            index_file,
            f"lines {a} and {b} are different images with the same file stem {stem!r}",
            line=b,
            fix="annotations are matched by file stem; rename one of the images",
        )
    source = absolute(source)
    if anno_format == "auto" and formats.holds_no_files(source):
        log.info("%s holds no files: the %s side is imported without annotations", source, side)
        return None
    fmt = formats.detect(source) if anno_format == "auto" else formats.resolve_format(anno_format)
    reader = formats.READERS[fmt]
    kwargs: dict[str, Any] = {"stems": stem_list, "map_fn": map_fn, "sizes": sizes, "side": side}
    result: ReadResult = reader(source, **kwargs)
    for warning in result.warnings:
        log.warning("%s: %s", source, warning)
    return result


def _attach(
    read: ReadResult | None, stem_to_asset: dict[str, str], assets: pa.Table, strategy: BoxStrategy
) -> pa.Table | None:
    """Raw boxes with their asset id and checked against the image size."""
    if read is None:
        return None
    boxes = read.boxes
    if boxes.num_rows == 0:
        return boxes.append_column("asset_id", pa.array([], pa.string()))
    keys = pa.array(list(stem_to_asset.keys()), pa.string())
    vals = pa.array(list(stem_to_asset.values()), pa.string())
    pos = pc.index_in(boxes["name"], value_set=keys)
    known = pc.is_valid(pos)
    unknown_count = len(boxes) - pc.sum(known).as_py() if len(boxes) else 0
    if unknown_count:
        log.warning("%d box(es) belong to images not in the index and are skipped", unknown_count)
        boxes = boxes.filter(known)
        pos = pc.index_in(boxes["name"], value_set=keys)
    asset_ids = pc.take(vals, pos)
    boxes = boxes.append_column("asset_id", asset_ids)
    # image sizes
    apos = pc.index_in(boxes["asset_id"], value_set=assets["asset_id"].combine_chunks())
    width = pc.take(assets["width"], apos).to_numpy().astype(np.float32)
    height = pc.take(assets["height"], apos).to_numpy().astype(np.float32)
    x = boxes["x"].to_numpy()
    y = boxes["y"].to_numpy()
    w = boxes["w"].to_numpy()
    h = boxes["h"].to_numpy()
    zero = (w <= 0) | (h <= 0)
    tol = _EDGE_TOLERANCE
    outside = (x < -tol) | (y < -tol) | (x + w > width + tol) | (y + h > height + tol)
    bad = zero | outside
    if bad.any():
        if strategy == "stop":
            i = int(np.flatnonzero(bad)[0])
            row = boxes.slice(i, 1).to_pylist()[0]
            what = (
                f"box {row['class_name']!r} has zero or negative size (w={w[i]:g}, h={h[i]:g})"
                if zero[i]
                else f"box {row['class_name']!r} x={x[i]:g} y={y[i]:g} w={w[i]:g} h={h[i]:g} lies outside "
                f"the {int(width[i])}x{int(height[i])} image {row['name']!r}"
            )
            raise InputFileError(
                row["file"],
                f"{what} ({int(bad.sum())} bad box(es) in all)",
                line=row["line"] or None,
                fix="fix the box, or import with --invalid-boxes clip (or drop)",
            )
        if strategy == "drop":
            boxes = boxes.filter(pa.array(~bad))
        else:
            boxes = boxes.filter(pa.array(~zero))
            keep = ~zero
            x0 = np.clip(x[keep], 0, width[keep])
            y0 = np.clip(y[keep], 0, height[keep])
            x1 = np.clip(x[keep] + w[keep], 0, width[keep])
            y1 = np.clip(y[keep] + h[keep], 0, height[keep])
            valid = (x1 - x0 > 0) & (y1 - y0 > 0)
            boxes = boxes.set_column(boxes.schema.get_field_index("x"), "x", pa.array(x0, pa.float32()))
            boxes = boxes.set_column(boxes.schema.get_field_index("y"), "y", pa.array(y0, pa.float32()))
            boxes = boxes.set_column(boxes.schema.get_field_index("w"), "w", pa.array(x1 - x0, pa.float32()))
            boxes = boxes.set_column(boxes.schema.get_field_index("h"), "h", pa.array(y1 - y0, pa.float32()))
            boxes = boxes.filter(pa.array(valid))
    # within tolerance: clip onto the image so stored boxes never leave it
    if boxes.num_rows:
        apos = pc.index_in(boxes["asset_id"], value_set=assets["asset_id"].combine_chunks())
        width = pc.take(assets["width"], apos).to_numpy().astype(np.float32)
        height = pc.take(assets["height"], apos).to_numpy().astype(np.float32)
        x = boxes["x"].to_numpy()
        y = boxes["y"].to_numpy()
        x1 = np.minimum(x + boxes["w"].to_numpy(), width)
        y1 = np.minimum(y + boxes["h"].to_numpy(), height)
        x = np.maximum(x, 0)
        y = np.maximum(y, 0)
        for name, arr in (("x", x), ("y", y), ("w", x1 - x), ("h", y1 - y)):
            boxes = boxes.set_column(boxes.schema.get_field_index(name), name, pa.array(arr, pa.float32()))
    return boxes


def _resolve_classes(
    raw: pa.Table | None, labels: Labels, strategy: UnknownStrategy, declared: list[str]
) -> tuple[pa.Table, dict[str, int], list[str]]:
    """Class names to ids through the labels (aliases included), applying the unknown-types strategy."""
    if raw is None or raw.num_rows == 0:
        return schema.empty(schema.ANNOTATIONS), {}, []
    enc = pc.dictionary_encode(raw["class_name"].combine_chunks())
    distinct = [str(n) for n in enc.dictionary.to_pylist()]
    for name in distinct:
        try:
            check_label(name)
        except Exception as e:
            first = int(np.flatnonzero(enc.indices.to_numpy() == distinct.index(name))[0])
            row = raw.slice(first, 1).to_pylist()[0]
            raise InputFileError(
                row["file"],
                f"invalid class name {name!r}: {e}",
                line=row["line"] or None,
                fix="class names may not contain ',' or ';'; rename it in the annotation",
            ) from e
    table = labels.lookup()
    unknown = sorted({normalise(n) for n in distinct if normalise(n) not in table})
    added: list[str] = []
    ignored: dict[str, int] = {}
    codes = enc.indices.to_numpy()
    if unknown and strategy == "stop":
        where = []
        for name in unknown[:3]:
            d = [i for i, n in enumerate(distinct) if normalise(n) == name][0]
            row = raw.slice(int(np.flatnonzero(codes == d)[0]), 1).to_pylist()[0]
            where.append(f"{row['file']}{':' + str(row['line']) if row['line'] else ''}")
        raise UnknownClassesError(unknown, where="the annotations (first at " + ", ".join(where) + ")")
    if unknown and strategy == "add":
        for name in unknown:
            labels.add(name)
        added = unknown
        table = labels.lookup()
    ids = np.array([table.get(normalise(n), -1) for n in distinct], dtype=np.int32)
    class_ids = ids[codes] if len(codes) else np.zeros(0, np.int32)
    keep = class_ids >= 0
    if not keep.all():
        for name in unknown:
            codes_of = [i for i, n in enumerate(distinct) if normalise(n) == name]
            ignored[name] = int(np.isin(codes, codes_of).sum())
        raw = raw.filter(pa.array(keep))
        class_ids = class_ids[keep]
    del declared  # declared-but-unused classes are not added: a label file holds classes with data
    gt = annotations_table(
        {
            "asset_id": raw["asset_id"],
            "class_id": pa.array(class_ids, pa.int32()),
            "x": raw["x"],
            "y": raw["y"],
            "w": raw["w"],
            "h": raw["h"],
            "rotation": raw["rotation"],
            "score": raw["score"],
            "quality": raw["quality"],
            "tags": raw["tags"],
        }
    )
    return _dedupe(gt), ignored, added


def _dedupe(boxes: pa.Table) -> pa.Table:
    """Drop exact duplicate boxes (same asset, class and geometry), as YMIR does, and renumber."""
    if boxes.num_rows == 0:
        return boxes
    key = boxes.select(["asset_id", "class_id", "x", "y", "w", "h", "rotation"])
    first = (
        key.append_column("_row", pa.array(np.arange(boxes.num_rows)))
        .group_by(["asset_id", "class_id", "x", "y", "w", "h", "rotation"], use_threads=False)
        .aggregate([("_row", "min")])
    )
    if first.num_rows == boxes.num_rows:
        return boxes
    rows = np.sort(first["_row_min"].to_numpy())
    deduped = boxes.take(pa.array(rows))
    return deduped.set_column(
        deduped.schema.get_field_index("index"), "index", box_index(deduped["asset_id"])
    )


def _with_image_tags(assets: pa.Table, tags: pa.Table, stem_to_asset: dict[str, str]) -> pa.Table:
    """Attach image-level tags (VOC ``<cks>``) read from the ground truth to their assets."""
    by_asset: dict[str, Any] = {}
    for name, t in zip(tags["name"].to_pylist(), tags["tags"].to_pylist(), strict=True):
        asset_id = stem_to_asset.get(name)
        if asset_id is not None and t:
            by_asset[asset_id] = t
    column = pa.array([by_asset.get(a) for a in assets["asset_id"].to_pylist()], schema.TAGS_TYPE)
    return assets.set_column(assets.schema.get_field_index("tags"), "tags", column)


def _pred_meta(pred_dir: Path | None) -> dict[str, Any]:
    """YMIR's optional ``meta.yaml`` beside predictions (model, eval class names, executor config)."""
    if pred_dir is None:
        return {}
    meta = Path(pred_dir) / "meta.yaml"
    if not meta.is_file():
        return {"source": str(pred_dir)}
    try:
        data = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise InputFileError(meta, f"not valid YAML ({e})", fix="repair meta.yaml or remove it") from e
    if not isinstance(data, dict):
        raise InputFileError(meta, "expected a mapping", fix="repair meta.yaml or remove it")
    return {"source": str(pred_dir), **data}

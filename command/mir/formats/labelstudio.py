"""Label Studio's JSON export (a list of tasks) with RectangleLabels results.

A result item holds percent coordinates of ``original_width`` x ``original_height``; we convert them
to pixels rounded to 2 decimals. Label Studio rotates a rectangle (degrees, clockwise) about its
top-left corner; mir (like YMIR) keeps the box unrotated around its centre plus an angle in multiples
of pi, so rotated boxes are converted through their centre.

Reading: a task matches an image by the stem of ``data.image`` (URL, path, or ``?d=`` local-files
URL); Label Studio prefixes uploaded files with ``<8 hex>-``, so the stem without that prefix is tried
too, then ``data.ext_id`` (which our writer sets to the asset id). Ground truth is the latest
non-cancelled annotation of a task; predictions are the latest prediction. Writing: one task per
asset into ``labelstudio-tasks.json``, ground truth as ``annotations``, predictions as ``predictions``
with a score per region. Box tags and quality have no place in Label Studio and are not written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import quoteattr

import pyarrow as pa

from mir.errors import InputFileError
from mir.formats import _common as common
from mir.formats.base import ExportSelection, MapFn, ReadResult, Side, Sizes, serial_map

FILE_NAME = "labelstudio-tasks.json"
FROM_NAME, TO_NAME, RESULT_TYPE = "label", "image", "rectanglelabels"
_UPLOAD_PREFIX = re.compile(r"[0-9a-f]{8}-(.+)\Z")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def labeling_config(class_names: Sequence[str]) -> str:
    """The Label Studio labeling config (XML) for drawing boxes of ``class_names`` on ``$image``."""
    labels = "".join(f"    <Label value={quoteattr(name)}/>\n" for name in class_names)
    return (
        "<View>\n"
        f'  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
        f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">\n'
        f"{labels}"
        "  </RectangleLabels>\n"
        "</View>\n"
    )


def read(
    source: Path,
    *,
    stems: Sequence[str],
    map_fn: MapFn = serial_map,
    sizes: Sizes | None = None,
    side: Side = "gt",
) -> ReadResult:
    """Read the tasks of ``source`` (the file, ``source/labelstudio-tasks.json`` or the folder's only .json).

    ``side="gt"`` reads annotations, ``"pred"`` predictions. ``sizes`` is the fallback for result
    items without ``original_width/height``. ``map_fn`` is ignored (one JSON document).
    """
    path = common.locate_json(source, FILE_NAME, "Label Studio")
    tasks = common.load_json(path)
    if not isinstance(tasks, list):
        hint = " (a COCO file? use the coco format)" if isinstance(tasks, dict) and "images" in tasks else ""
        raise InputFileError(
            path,
            f"top level is a {type(tasks).__name__}, expected a list of tasks{hint}",
            fix="export the project with export type JSON",
        )
    reader = _TaskReader(path, set(stems), sizes or {}, side)
    for i, task in enumerate(tasks):
        reader.task(task, f"[{i}]")
    boxes, image_tags = common.split_chunks([reader.columns.to_chunk()])
    return ReadResult(boxes=boxes, image_tags=image_tags, warnings=reader.warnings())


class _TaskReader:
    """Reads tasks one by one into box columns; errors name the task's JSON path (``[3].annotations...``)."""

    def __init__(self, path: Path, wanted: set[str], sizes: Sizes, side: Side) -> None:
        self.path, self.wanted, self.sizes, self.side = path, wanted, sizes, side
        self.columns = common.BoxColumns()
        self.matched: dict[str, str] = {}
        self.unmatched: list[str] = []
        self.skipped_types: dict[str, int] = {}
        self.many_predictions = 0

    def fail(self, where: str, problem: str, fix: str) -> InputFileError:
        return InputFileError(self.path, f"{where} {problem}", fix=fix)

    def task(self, task: object, where: str) -> None:
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise self.fail(
                where,
                "is not a task with a data object",
                "export the project with export type JSON (JSON_MIN and CSV are not supported)",
            )
        image = _image_url(task["data"])
        if image is None:
            raise self.fail(
                f"{where}.data",
                "holds no image URL (no 'image' key or image-like value)",
                'label the project with <Image value="$image"/>',
            )
        stem = self._match(image, task["data"].get("ext_id"))
        if stem is None:
            self.unmatched.append(image)
            return
        if stem in self.matched:
            raise self.fail(
                f"{where}.data.image",
                f"{image!r} matches image {stem!r} as does {self.matched[stem]!r}",
                "keep one task per image",
            )
        self.matched[stem] = image
        meta = task.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("cks"), dict):
            self.columns.add_image_tags(
                stem, [(str(k), str(v)) for k, v in meta["cks"].items()], file=str(self.path)
            )
        key = "annotations" if self.side == "gt" else "predictions"
        chosen = self._latest(task.get(key) or [], f"{where}.{key}")
        if chosen is None:
            return
        index, entry = chosen
        results = entry.get("result") or []
        if not isinstance(results, list):
            raise self.fail(f"{where}.{key}[{index}].result", "must be a list", "export the project again")
        # a prediction's own score stands for regions that have none
        default_score = self._number(entry, "score", f"{where}.{key}[{index}]", -1.0)
        for j, item in enumerate(results):
            self.result(item, f"{where}.{key}[{index}].result[{j}]", stem, default_score)

    def _match(self, image: str, ext_id: object) -> str | None:
        stem = common.stem_of(image)
        if stem in self.wanted:
            return stem
        prefixed = _UPLOAD_PREFIX.match(stem)
        if prefixed and prefixed.group(1) in self.wanted:
            return prefixed.group(1)
        if isinstance(ext_id, str) and ext_id in self.wanted:
            return ext_id
        return None

    def _latest(self, entries: object, where: str) -> tuple[int, dict[str, Any]] | None:
        if not isinstance(entries, list):
            raise self.fail(where, "must be a list", "export the project with export type JSON")
        candidates = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise self.fail(
                    f"{where}[{i}]", "must be an object", "export the project with export type JSON"
                )
            if not entry.get("was_cancelled"):
                order = (
                    str(entry.get("updated_at") or entry.get("created_at") or ""),
                    entry["id"] if isinstance(entry.get("id"), int) else -1,
                    i,
                )
                candidates.append((order, i, entry))
        if not candidates:
            return None
        if self.side == "pred" and len(candidates) > 1:
            self.many_predictions += 1
        _, index, entry = max(candidates, key=lambda c: c[0])
        return index, entry

    def result(self, item: object, where: str, stem: str, default_score: float) -> None:
        if not isinstance(item, dict):
            raise self.fail(where, "must be an object", "export the project again")
        kind = item.get("type")
        if kind != RESULT_TYPE:
            self.skipped_types[str(kind)] = self.skipped_types.get(str(kind), 0) + 1
            return
        value = item.get("value")
        if not isinstance(value, dict):
            raise self.fail(f"{where}.value", "is missing or not an object", "export the project again")
        x, y, w, h = (self._number(value, key, f"{where}.value") for key in ("x", "y", "width", "height"))
        degrees = self._number(value, "rotation", f"{where}.value", 0.0)
        labels = value.get(RESULT_TYPE)
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(n, str) and n.strip() for n in labels)
        ):
            raise self.fail(
                f"{where}.value.{RESULT_TYPE}",
                "must be a non-empty list of class names",
                "give every rectangle a label",
            )
        width, height = self._size(item, where, stem)
        box = _to_pixels(x, y, w, h, degrees, width, height)
        score = self._number(item, "score", where, default_score) if self.side == "pred" else -1.0
        for name in labels:
            self.columns.add_box(
                stem, name.strip(), box, file=str(self.path), line=0, rotation=degrees / 180.0, score=score
            )

    def _size(self, item: dict[str, Any], where: str, stem: str) -> tuple[float, float]:
        width, height = item.get("original_width"), item.get("original_height")
        if width is None and height is None and stem in self.sizes:
            return float(self.sizes[stem][0]), float(self.sizes[stem][1])
        for key, value in (("original_width", width), ("original_height", height)):
            if not common.json_number(value) or value <= 0:  # type: ignore[operator]
                raise self.fail(
                    f"{where}.{key}",
                    f"must be a positive number, got {value!r}",
                    "export the project again, or import the images with it so their sizes are known",
                )
        return float(width), float(height)  # type: ignore[arg-type]

    def _number(self, entry: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
        value = entry.get(key)
        if value is None and default is not None:
            return default
        if not common.json_number(value):
            raise self.fail(f"{where}.{key}", f"must be a number, got {value!r}", "export the project again")
        return float(value)  # type: ignore[arg-type]

    def warnings(self) -> list[str]:
        notes = common.unmatched_warning(self.unmatched, self.path, "task(s)")
        if self.skipped_types:
            kinds = ", ".join(f"{k} ({n})" for k, n in sorted(self.skipped_types.items()))
            notes.append(f"{self.path}: result types other than {RESULT_TYPE} were not read: {kinds}")
        if self.many_predictions:
            notes.append(
                f"{self.path}: {self.many_predictions} task(s) have several predictions; "
                "the latest of each was read"
            )
        return notes


def _image_url(data: dict[str, Any]) -> str | None:
    """The task's image reference: ``data.image``, else the first value that looks like an image path."""
    candidates = (
        [data["image"]]
        if isinstance(data.get("image"), str)
        else [
            v for v in data.values() if isinstance(v, str) and _path_of(v).lower().endswith(_IMAGE_SUFFIXES)
        ]
    )
    return _path_of(candidates[0]) if candidates else None


def _path_of(url: str) -> str:
    """The file path inside an image URL: its path, or the ``d=`` query of local-files URLs."""
    parts = urlsplit(url)
    local = parse_qs(parts.query).get("d")
    return unquote(local[0] if local else parts.path)


def _to_pixels(
    x: float, y: float, w: float, h: float, degrees: float, width: float, height: float
) -> tuple[float, float, float, float]:
    """Label Studio percent box, rotated about its top-left corner -> pixel box about its centre."""
    px, py, pw, ph = x * width / 100.0, y * height / 100.0, w * width / 100.0, h * height / 100.0
    if degrees:
        angle = math.radians(degrees)
        cx = px + pw / 2 * math.cos(angle) - ph / 2 * math.sin(angle)
        cy = py + pw / 2 * math.sin(angle) + ph / 2 * math.cos(angle)
        px, py = cx - pw / 2, cy - ph / 2
    return round(px, 2), round(py, 2), round(pw, 2), round(ph, 2)


def _to_percent(
    x: float, y: float, w: float, h: float, rotation: float, width: float, height: float
) -> dict[str, float]:
    """Inverse of :func:`_to_pixels`; ``rotation`` in multiples of pi."""
    degrees = rotation * 180.0
    if degrees:
        angle = math.radians(degrees)
        cx, cy = x + w / 2, y + h / 2
        x = cx - w / 2 * math.cos(angle) + h / 2 * math.sin(angle)
        y = cy - w / 2 * math.sin(angle) - h / 2 * math.cos(angle)
    return {
        "x": x * 100.0 / width,
        "y": y * 100.0 / height,
        "width": w * 100.0 / width,
        "height": h * 100.0 / height,
        "rotation": degrees,
    }


def write(selection: ExportSelection, out_dir: Path) -> dict[str, str]:
    """Write ``out_dir/labelstudio-tasks.json``, one task per asset in asset-id order.

    ``data.image`` is the asset's ``image_path`` (Label Studio must be able to load it: a URL or a
    path its local-files storage serves); ``data.ext_id`` and ``meta.asset_id`` carry the asset id.
    Assets without boxes get no annotation, so Label Studio lists them as unlabeled.
    """
    assets = selection.assets.sort_by("asset_id")
    items = _result_items(selection)
    key = "annotations" if selection.side == "gt" else "predictions"
    tags_column = assets.column("tags").to_pylist() if "tags" in assets.column_names else None
    tasks = []
    for i, (asset_id, image_path) in enumerate(
        zip(assets.column("asset_id").to_pylist(), assets.column("image_path").to_pylist(), strict=True)
    ):
        meta: dict[str, Any] = {"asset_id": asset_id}
        if tags_column and tags_column[i]:
            meta["cks"] = dict(tags_column[i])
        task: dict[str, Any] = {"data": {"image": str(image_path), "ext_id": asset_id}, "meta": meta}
        result = items.get(asset_id)
        if not result:
            task[key] = []
        elif selection.side == "gt":
            task[key] = [{"result": result, "was_cancelled": False, "ground_truth": False}]
        else:
            prediction: dict[str, Any] = {"model_version": "mir", "result": result}
            scores = [r["score"] for r in result if "score" in r]
            if scores:
                prediction["score"] = sum(scores) / len(scores)
            task[key] = [prediction]
        tasks.append(task)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(tasks, handle, ensure_ascii=False, indent=1)
    return dict.fromkeys(assets.column("asset_id").to_pylist(), str(path))


def _result_items(selection: ExportSelection) -> dict[str, list[dict[str, Any]]]:
    boxes = common.sorted_boxes(selection.boxes)
    sizes = {
        a: (w, h)
        for a, w, h in zip(
            *(selection.assets.column(c).to_pylist() for c in ("asset_id", "width", "height")), strict=True
        )
    }
    columns: list[pa.ChunkedArray] = [
        boxes.column(c) for c in ("asset_id", "index", "class_id", "x", "y", "w", "h", "rotation", "score")
    ]
    result: dict[str, list[dict[str, Any]]] = {}
    for asset_id, index, class_id, x, y, w, h, rotation, score in zip(
        *(c.to_pylist() for c in columns), strict=True
    ):
        width, height = sizes[asset_id]
        value: dict[str, Any] = {
            **_to_percent(x, y, w, h, rotation, width, height),
            "rectanglelabels": [selection.class_names[class_id]],
        }
        item: dict[str, Any] = {
            "id": f"b{index}",
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "type": RESULT_TYPE,
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "value": value,
        }
        if selection.side == "pred" and score >= 0:
            item["score"] = score
        result.setdefault(asset_id, []).append(item)
    return result

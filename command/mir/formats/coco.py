"""COCO detection JSON: one file with ``images``, ``categories`` and ``annotations``.

Boxes are ``bbox: [x, y, w, h]`` in pixels, continuous (no +1), which is mir's own convention, so
they are taken as they are. A prediction's score is ``score`` (COCO results) or ``confidence``
(YMIR). YMIR's extra keys round-trip: ``box_quality``, ``rotate_angle``, per-box ``tags`` and the
image-level ``cks``.

Export convention: category ids are YMIR's mapped ids, ``0..K-1`` in the order of the exported class
list, so an executor can use ``category_id`` as its class index (YMIR's exporter does the same);
image ids are ``1..N`` in asset-id order, annotation ids ``1..M``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa

from mir.errors import InputFileError
from mir.formats import _common as common
from mir.formats.base import ExportSelection, MapFn, ReadResult, Side, Sizes, serial_map

FILE_NAME = "coco-annotations.json"
_SCORE_KEYS = ("score", "confidence")


def read(
    source: Path,
    *,
    stems: Sequence[str],
    map_fn: MapFn = serial_map,
    sizes: Sizes | None = None,
    side: Side = "gt",
) -> ReadResult:
    """Read the COCO file ``source`` (or ``source/coco-annotations.json``, or the folder's only .json).

    Images are matched to ``stems`` by the stem of ``file_name``. ``map_fn``, ``sizes`` and ``side``
    are ignored: one JSON document is parsed in this process, boxes are in pixels.
    """
    path = common.locate_json(source, FILE_NAME, "COCO")
    doc = common.load_json(path)
    if not isinstance(doc, dict):
        hint = " (a Label Studio export? use the labelstudio format)" if isinstance(doc, list) else ""
        raise InputFileError(
            path,
            f"top level is a {type(doc).__name__}, expected an object{hint}",
            fix="pass a COCO file with images, categories and annotations",
        )
    check = _Checker(path)
    image_stems, unmatched = _images(doc, check, set(stems))
    categories = _categories(doc, check)
    columns = common.BoxColumns()
    for i, ann in enumerate(check.list_of(doc, "annotations", "annotations", required=False)):
        where = f"annotations[{i}]"
        ann = check.obj(ann, where)
        image_id = check.key(ann, "image_id", where)
        stem = image_stems.get(image_id) if isinstance(image_id, int | str) else None
        if stem is None:
            if isinstance(image_id, int | str) and image_id in check.all_image_ids:
                continue  # an image that is not imported (listed in the warnings)
            check.fail(
                f"{where}.image_id {image_id!r} is not the id of any entry in images",
                "make image_id refer to images[].id",
            )
        category_id = check.key(ann, "category_id", where)
        class_name = categories.get(category_id) if isinstance(category_id, int | str) else None
        if class_name is None:
            check.fail(
                f"{where}.category_id {category_id!r} is not the id of any entry in categories",
                "make category_id refer to categories[].id",
            )
        bbox = check.key(ann, "bbox", where)
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(common.json_number(v) for v in bbox)):
            check.fail(
                f"{where}.bbox must be a list of 4 numbers [x, y, w, h], got {_short(bbox)}",
                "write bbox as [x, y, width, height] in pixels",
            )
        score = next((check.number(ann, k, where) for k in _SCORE_KEYS if k in ann), -1.0)
        columns.add_box(
            stem,
            class_name.strip(),
            (float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
            file=str(path),
            line=0,
            rotation=check.number(ann, "rotate_angle", where, 0.0),
            score=score,
            quality=check.number(ann, "box_quality", where, -1.0),
            tags=check.tags(ann, "tags", where),
        )
    for image_id, stem in image_stems.items():
        if image_id in check.image_tags:
            columns.add_image_tags(stem, check.image_tags[image_id], file=str(path))
    boxes, image_tags = common.split_chunks([columns.to_chunk()])
    return ReadResult(
        boxes=boxes,
        image_tags=image_tags,
        declared_classes=[name.strip() for name in categories.values()],
        warnings=common.unmatched_warning(unmatched, path, "images entries"),
    )


class _Checker:
    """Type checks on the parsed document; each failure names the JSON path of the bad value."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.all_image_ids: set[int | str] = set()
        self.image_tags: dict[int | str, common.Tags] = {}

    def fail(self, problem: str, fix: str) -> NoReturn:
        raise InputFileError(self.path, problem, fix=fix)

    def obj(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(f"{where} must be an object, got {_short(value)}", "fix the entry")
        return value

    def key(self, entry: dict[str, Any], key: str, where: str) -> Any:
        if key not in entry:
            self.fail(f"{where}.{key} is missing", f"add {key} to every entry")
        return entry[key]

    def list_of(self, doc: dict[str, Any], key: str, where: str, *, required: bool = True) -> list[Any]:
        if key not in doc and not required:
            return []
        if key not in doc:
            self.fail(f"{where} is missing", f"add a {key} list")
        value = doc[key]
        if not isinstance(value, list):
            self.fail(f"{where} must be a list, got {_short(value)}", f"write {key} as a JSON list")
        return value

    def ident(self, entry: dict[str, Any], key: str, where: str) -> int | str:
        value = self.key(entry, key, where)
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.fail(f"{where}.{key} must be an integer or a string, got {_short(value)}", "use integer ids")
        return value

    def text(self, entry: dict[str, Any], key: str, where: str) -> str:
        value = self.key(entry, key, where)
        if not isinstance(value, str) or not value.strip():
            self.fail(
                f"{where}.{key} must be a non-empty string, got {_short(value)}", f"give every entry a {key}"
            )
        return value

    def number(self, entry: dict[str, Any], key: str, where: str, default: float = -1.0) -> float:
        if key not in entry or entry[key] is None:
            return default
        value = entry[key]
        if not common.json_number(value):
            self.fail(f"{where}.{key} must be a number, got {_short(value)}", f"write {key} as a number")
        return float(value)

    def tags(self, entry: dict[str, Any], key: str, where: str) -> common.Tags | None:
        value = entry.get(key)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.fail(
                f"{where}.{key} must be an object of strings, got {_short(value)}",
                f'write {key} as {{"name": "value"}}',
            )
        return [(str(k), v) for k, v in value.items()]


def _images(doc: dict[str, Any], check: _Checker, wanted: set[str]) -> tuple[dict[int | str, str], list[str]]:
    """``{image id: stem}`` of the images among ``wanted``, and the file names of the others."""
    image_stems: dict[int | str, str] = {}
    by_stem: dict[str, int] = {}
    unmatched: list[str] = []
    for i, entry in enumerate(check.list_of(doc, "images", "images")):
        where = f"images[{i}]"
        entry = check.obj(entry, where)
        image_id = check.ident(entry, "id", where)
        file_name = check.text(entry, "file_name", where)
        if image_id in check.all_image_ids:
            check.fail(
                f"{where}.id {image_id!r} is used by an earlier entry of images",
                "give every image its own id",
            )
        check.all_image_ids.add(image_id)
        tags = check.tags(entry, "cks", where)
        if tags:
            check.image_tags[image_id] = tags
        stem = common.stem_of(file_name.replace("\\", "/"))
        if stem not in wanted:
            unmatched.append(file_name)
            continue
        if stem in by_stem:
            check.fail(
                f"{where}.file_name {file_name!r} has the same stem as images[{by_stem[stem]}]",
                "image file names must have distinct stems",
            )
        by_stem[stem] = i
        image_stems[image_id] = stem
    return image_stems, unmatched


def _categories(doc: dict[str, Any], check: _Checker) -> dict[int | str, str]:
    categories: dict[int | str, str] = {}
    for i, entry in enumerate(check.list_of(doc, "categories", "categories")):
        where = f"categories[{i}]"
        entry = check.obj(entry, where)
        category_id = check.ident(entry, "id", where)
        name = check.text(entry, "name", where)
        if category_id in categories:
            check.fail(
                f"{where}.id {category_id!r} is used by an earlier entry of categories",
                "give every category its own id",
            )
        categories[category_id] = name
    return categories


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def write(selection: ExportSelection, out_dir: Path) -> dict[str, str]:
    """Write ``out_dir/coco-annotations.json``; every asset maps to that one file.

    ``score`` is written where ``score >= 0``, ``box_quality`` where it is known, ``rotate_angle`` and
    ``tags`` where set, the image-level tags as ``images[].cks``.
    """
    assets = selection.assets.sort_by("asset_id")
    asset_ids = assets.column("asset_id").to_pylist()
    image_ids = {asset_id: i for i, asset_id in enumerate(asset_ids, start=1)}
    tags_column = (
        assets.column("tags").to_pylist() if "tags" in assets.column_names else [None] * len(asset_ids)
    )
    images = []
    for asset_id, width, height, image_path, tags in zip(
        asset_ids,
        assets.column("width").to_pylist(),
        assets.column("height").to_pylist(),
        assets.column("image_path").to_pylist(),
        tags_column,
        strict=True,
    ):
        image: dict[str, Any] = {
            "id": image_ids[asset_id],
            "file_name": os.path.basename(str(image_path)),
            "width": width,
            "height": height,
        }
        if tags:
            image["cks"] = dict(tags)
        images.append(image)
    doc = {
        "info": {"description": "exported by mir"},
        "images": images,
        "categories": [
            {"id": i, "name": name, "supercategory": "none"} for i, name in enumerate(selection.class_names)
        ],
        "annotations": _annotations(selection.boxes, image_ids),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, ensure_ascii=False, separators=(",", ":"))
    return dict.fromkeys(asset_ids, str(path))


def _annotations(boxes: pa.Table, image_ids: dict[str, int]) -> list[dict[str, Any]]:
    boxes = common.sorted_boxes(boxes)
    x, y, w, h, rotation, score, quality = (
        common.json_values(common.num_strings(boxes.column(c)))
        for c in ("x", "y", "w", "h", "rotation", "score", "quality")
    )
    annotations: list[dict[str, Any]] = []
    for i, (asset_id, class_id, tags) in enumerate(
        zip(
            boxes.column("asset_id").to_pylist(),
            boxes.column("class_id").to_pylist(),
            boxes.column("tags").to_pylist(),
            strict=True,
        )
    ):
        ann: dict[str, Any] = {
            "id": i + 1,
            "image_id": image_ids[asset_id],
            "category_id": class_id,
            "bbox": [x[i], y[i], w[i], h[i]],
            "area": float(w[i] * h[i]),
            "iscrowd": 0,
            "segmentation": [],
        }
        if score[i] >= 0:
            ann["score"] = score[i]
        if quality[i] >= 0:
            ann["box_quality"] = quality[i]
        if rotation[i]:
            ann["rotate_angle"] = rotation[i]
        if tags:
            ann["tags"] = dict(tags)
        annotations.append(ann)
    return annotations

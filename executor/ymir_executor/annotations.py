"""Reads ground truth in the export formats the platform writes: ark txt, Pascal VOC xml, COCO json.

All readers return boxes as XYXY pixels with exclusive max (the formats' inclusive ``xmax`` becomes
``xmax + 1``) and class indices into the task's ``class_names``; objects of other classes are dropped.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ymir_executor.errors import DatasetError


@dataclass
class Objects:
    """Ground-truth objects of one image."""

    boxes: np.ndarray  # (N, 4) float32 XYXY pixels of the original image
    classes: np.ndarray  # (N,) int64 index into class_names

    @classmethod
    def empty(cls) -> Objects:
        """No objects."""
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.int64))


@dataclass
class AnnotationReader:
    """Parses annotation files by extension (``.txt`` ark, ``.xml`` VOC, ``.json`` COCO); caches COCO."""

    class_names: list[str]
    _coco: dict[Path, dict[str, Objects]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {name.lower(): i for i, name in enumerate(self.class_names)}

    def read(self, path: Path, image_path: Path) -> Objects:
        """Objects of ``image_path`` as given in ``path``."""
        if not path.is_file():
            raise DatasetError(
                path=path,
                problem="annotation file does not exist",
                fix="export the dataset again, or fix the index file",
            )
        suffix = path.suffix.lower()
        if suffix == ".txt":
            return self._ark(path)
        if suffix == ".xml":
            return self._voc(path)
        if suffix == ".json":
            return self._coco_objects(path, image_path)
        raise DatasetError(
            path=path,
            problem=f"unknown annotation type {suffix!r}",
            fix="use export_format ark:raw, voc:raw or coco:raw",
        )

    def _ark(self, path: Path) -> Objects:
        boxes, classes = [], []
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.replace("\t", ",").split(",")]
            try:
                cls_idx = int(float(parts[0]))
                x0, y0, x1, y1 = (float(v) for v in parts[1:5])
            except (ValueError, IndexError) as exc:
                raise DatasetError(
                    path=path,
                    line=n,
                    problem=f"bad ark line {line!r}",
                    fix="write `class_idx, xmin, ymin, xmax, ymax[, quality, angle]`",
                ) from exc
            if 0 <= cls_idx < len(self.class_names):
                boxes.append((x0, y0, x1 + 1, y1 + 1))
                classes.append(cls_idx)
        return _objects(boxes, classes)

    def _voc(self, path: Path) -> Objects:
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise DatasetError(
                path=path, problem=f"not valid XML ({exc})", fix="export the dataset again"
            ) from exc
        boxes, classes = [], []
        for obj in root.iter("object"):
            name = (obj.findtext("name") or "").strip().lower()
            bb = obj.find("bndbox")
            if name not in self._index or bb is None:
                continue
            try:
                x0, y0, x1, y1 = (float(bb.findtext(k) or "") for k in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError as exc:
                raise DatasetError(
                    path=path,
                    problem=f"object {name!r} has a non-numeric bndbox",
                    fix="give xmin, ymin, xmax and ymax as numbers",
                ) from exc
            boxes.append((x0, y0, x1 + 1, y1 + 1))
            classes.append(self._index[name])
        return _objects(boxes, classes)

    def _coco_objects(self, path: Path, image_path: Path) -> Objects:
        if path not in self._coco:
            self._coco[path] = self._load_coco(path)
        table = self._coco[path]
        return table.get(image_path.name, table.get(image_path.stem, Objects.empty()))

    def _load_coco(self, path: Path) -> dict[str, Objects]:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            cat_names = {int(c["id"]): str(c["name"]).lower() for c in data.get("categories", [])}
            images = {int(im["id"]): str(im["file_name"]) for im in data["images"]}
            per_image: dict[int, tuple[list[tuple[float, float, float, float]], list[int]]] = {
                i: ([], []) for i in images
            }
            for ann in data.get("annotations", []):
                name = cat_names.get(int(ann["category_id"]), "")
                if name not in self._index or int(ann["image_id"]) not in per_image:
                    continue
                x, y, w, h = (float(v) for v in ann["bbox"])
                per_image[int(ann["image_id"])][0].append((x, y, x + w, y + h))
                per_image[int(ann["image_id"])][1].append(self._index[name])
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(
                path=path,
                problem=f"not a COCO detection file ({exc!r})",
                fix="export the dataset again with coco:raw",
            ) from exc
        table: dict[str, Objects] = {}
        for image_id, file_name in images.items():
            objs = _objects(*per_image[image_id])
            base = Path(file_name).name
            table[base] = objs
            table[Path(base).stem] = objs
        return table


def _objects(boxes: list[tuple[float, float, float, float]], classes: list[int]) -> Objects:
    if not boxes:
        return Objects.empty()
    return Objects(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64))

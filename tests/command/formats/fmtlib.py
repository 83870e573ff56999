"""Helpers for the format tests: file trees, a small dataset, export selections, table comparisons."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from mir.formats.base import ExportSelection, ReadResult, Side
from mir.store import schema

CLASS_NAMES = ["cat", "dog", "Traffic Light"]


def gen(root: Path, tree: Mapping[str, str | bytes]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``root`` (dvc's ``tmp_dir.gen`` idea)."""
    for rel, content in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def asset_id(n: int) -> str:
    return hashlib.sha1(f"image-{n}".encode()).hexdigest()


@dataclass
class Box:
    """One expected box: image stem, class name, pixel xywh and the rest of RAW_BOXES."""

    name: str
    class_name: str
    x: float
    y: float
    w: float
    h: float
    rotation: float = 0.0
    score: float = -1.0
    quality: float = -1.0
    tags: dict[str, str] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        return (
            self.name,
            self.class_name,
            self.x,
            self.y,
            self.w,
            self.h,
            self.rotation,
            self.score,
            self.quality,
            tuple(sorted(self.tags.items())),
        )


def f32(value: float) -> float:
    """``value`` as stored in a float32 column, so expectations compare exactly."""
    return float(pa.array([value], pa.float32())[0].as_py())


def boxes_of(
    result: ReadResult, *, keep: Iterable[str] = ("rotation", "score", "quality", "tags")
) -> list[Box]:
    """The read boxes as sorted :class:`Box` values; fields not in ``keep`` are reset to defaults."""
    assert result.boxes.schema == schema.RAW_BOXES
    keep = set(keep)
    out = []
    for row in result.boxes.to_pylist():
        out.append(
            Box(
                row["name"],
                row["class_name"],
                row["x"],
                row["y"],
                row["w"],
                row["h"],
                row["rotation"] if "rotation" in keep else 0.0,
                row["score"] if "score" in keep else -1.0,
                row["quality"] if "quality" in keep else -1.0,
                dict(row["tags"] or []) if "tags" in keep else {},
            )
        )
    return sorted(out, key=Box.key)


def expected(
    boxes: Iterable[Box], *, keep: Iterable[str] = ("rotation", "score", "quality", "tags")
) -> list[Box]:
    """Expected boxes in float32 precision, with the fields a format drops reset to defaults."""
    keep = set(keep)
    out = [
        Box(
            b.name,
            b.class_name,
            f32(b.x),
            f32(b.y),
            f32(b.w),
            f32(b.h),
            f32(b.rotation) if "rotation" in keep else 0.0,
            f32(b.score) if "score" in keep else -1.0,
            f32(b.quality) if "quality" in keep else -1.0,
            dict(b.tags) if "tags" in keep else {},
        )
        for b in boxes
    ]
    return sorted(out, key=Box.key)


def image_tags_of(result: ReadResult) -> dict[str, dict[str, str]]:
    assert result.image_tags.schema == schema.RAW_IMAGE_TAGS
    return {row["name"]: dict(row["tags"]) for row in result.image_tags.to_pylist()}


@dataclass
class Dataset:
    """A small export selection: three assets (the last without boxes) and their boxes."""

    assets: list[dict[str, Any]]
    boxes: list[Box]  # ``name`` is the asset id
    class_names: list[str]
    image_tags: dict[str, dict[str, str]]

    @property
    def stems(self) -> list[str]:
        return [a["asset_id"] for a in self.assets]

    @property
    def sizes(self) -> dict[str, tuple[int, int]]:
        return {a["asset_id"]: (a["width"], a["height"]) for a in self.assets}

    def selection(self, side: Side = "gt", boxes: list[Box] | None = None) -> ExportSelection:
        return make_selection(
            self.assets,
            self.boxes if boxes is None else boxes,
            self.class_names,
            image_tags=self.image_tags,
            side=side,
        )


def make_selection(
    assets: list[dict[str, Any]],
    boxes: list[Box],
    class_names: list[str],
    *,
    image_tags: Mapping[str, Mapping[str, str]] | None = None,
    side: Side = "gt",
) -> ExportSelection:
    """Build the Arrow tables import/export would hand a writer; ``Box.name`` is the asset id."""
    tags = image_tags or {}
    asset_table = pa.table(
        {
            "asset_id": pa.array([a["asset_id"] for a in assets], pa.string()),
            "width": pa.array([a["width"] for a in assets], pa.int32()),
            "height": pa.array([a["height"] for a in assets], pa.int32()),
            "channels": pa.array([3] * len(assets), pa.int8()),
            "image_format": pa.array(["jpeg"] * len(assets), pa.string()),
            "origin_name": pa.array([f"{a['asset_id']}.jpg" for a in assets], pa.string()),
            "image_path": pa.array([f"/export/images/{a['asset_id']}.jpg" for a in assets], pa.string()),
            "tags": pa.array(
                [list(tags[a["asset_id"]].items()) if a["asset_id"] in tags else None for a in assets],
                schema.TAGS_TYPE,
            ),
        }
    )
    index: dict[str, int] = {}
    rows: dict[str, list[Any]] = {name: [] for name in schema.ANNOTATIONS.names}
    for box in boxes:
        index[box.name] = index.get(box.name, -1) + 1
        values = {
            "asset_id": box.name,
            "index": index[box.name],
            "class_id": class_names.index(box.class_name),
            "x": box.x,
            "y": box.y,
            "w": box.w,
            "h": box.h,
            "rotation": box.rotation,
            "score": box.score,
            "quality": box.quality,
            "tags": list(box.tags.items()) or None,
            "mark": 0,
            "link": -1,
        }
        for name, value in values.items():
            rows[name].append(value)
    box_table = pa.table(
        {
            name: pa.array(rows[name], schema.ANNOTATIONS.field(name).type)
            for name in schema.ANNOTATIONS.names
        },
        schema=schema.ANNOTATIONS,
    )
    return ExportSelection(assets=asset_table, boxes=box_table, class_names=list(class_names), side=side)


def make_dataset() -> Dataset:
    """Integer and fractional boxes, a class name with a space and capitals, tags, quality, rotation."""
    a0, a1, a2 = asset_id(0), asset_id(1), asset_id(2)
    assets = [
        {"asset_id": a0, "width": 640, "height": 480},
        {"asset_id": a1, "width": 333, "height": 517},
        {"asset_id": a2, "width": 100, "height": 100},
    ]
    boxes = [
        Box(a0, "cat", 10, 20, 100, 50, quality=0.8, tags={"occluded": "yes", "color": "black & white"}),
        Box(a0, "dog", 0, 0, 640, 480),
        Box(a0, "Traffic Light", 12.5, 7.25, 30.75, 60.5, rotation=0.25),
        Box(a1, "cat", 331, 1, 2, 515, tags={"difficult": "1"}),
        Box(a1, "cat", 100, 200, 33, 17),
    ]
    return Dataset(assets, boxes, list(CLASS_NAMES), {a0: {"weather": "rain", "place": "street"}})


def with_scores(boxes: list[Box]) -> list[Box]:
    """The same boxes as predictions (scores in 0..1)."""
    return [
        Box(
            b.name,
            b.class_name,
            b.x,
            b.y,
            b.w,
            b.h,
            b.rotation,
            round(0.3 + 0.1 * i, 2),
            b.quality,
            dict(b.tags),
        )
        for i, b in enumerate(boxes)
    ]


def assert_names(exc: BaseException, *fragments: str) -> None:
    """The error message names each fragment (file, line, field)."""
    message = str(exc)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"

"""Label Studio JSON: task matching, annotation choice, percent boxes, round trips, and broken fields."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mir.errors import InputFileError
from mir.formats import labelstudio
from mir.formats.base import Side
from tests.command.formats.fmtlib import (
    Box,
    Dataset,
    assert_names,
    boxes_of,
    expected,
    gen,
    image_tags_of,
    with_scores,
)


def rect(x: float, y: float, w: float, h: float, label: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "r",
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 200,
        "original_height": 100,
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]},
        **extra,
    }


def sample() -> list[dict[str, Any]]:
    return [
        {
            "id": 1,
            "data": {"image": "/data/upload/3/1a2b3c4d-a.jpg"},
            "meta": {"cks": {"weather": "snow"}},
            "annotations": [
                {
                    "id": 10,
                    "was_cancelled": False,
                    "updated_at": "2024-01-01T00:00:00Z",
                    "result": [rect(0, 0, 10, 10, "cat")],
                },
                {
                    "id": 11,
                    "was_cancelled": False,
                    "updated_at": "2024-02-01T00:00:00Z",
                    "result": [rect(5, 10, 10.125, 20, "Traffic Light"), rect(50, 50, 50, 50, " cat ")],
                },
                {
                    "id": 12,
                    "was_cancelled": True,
                    "updated_at": "2024-03-01T00:00:00Z",
                    "result": [rect(1, 1, 1, 1, "cat")],
                },
            ],
            "predictions": [
                {
                    "id": 3,
                    "model_version": "m1",
                    "score": 0.5,
                    "result": [rect(10, 10, 10, 10, "cat", score=0.8), rect(0, 0, 5, 5, "cat")],
                }
            ],
        },
        {
            "id": 2,
            "data": {"image": "http://127.0.0.1:8081/b.png?v=1"},
            "annotations": [
                {
                    "id": 20,
                    "result": [
                        rect(0, 0, 100, 100, "cat"),
                        {"type": "choices", "value": {"choices": ["day"]}},
                    ],
                }
            ],
        },
        {"id": 3, "data": {"img": "/data/local-files/?d=folder/c%20d.jpg"}, "annotations": []},
        {"id": 4, "data": {"image": "s3://bucket/nomatch.jpg"}},
    ]


def write_json(tmp_path: Path, tasks: object) -> Path:
    return gen(tmp_path, {"export.json": json.dumps(tasks, indent=1)}) / "export.json"


def test_read_gt_takes_latest_uncancelled_annotation(tmp_path: Path) -> None:
    result = labelstudio.read(write_json(tmp_path, sample()), stems=["a", "b", "c d"])
    assert boxes_of(result) == expected(
        [
            Box("a", "Traffic Light", 10, 10, 20.25, 20),
            Box("a", "cat", 100, 50, 100, 50),
            Box("b", "cat", 0, 0, 200, 100),
        ]
    )
    assert image_tags_of(result) == {"a": {"weather": "snow"}}
    assert result.declared_classes == []
    assert any("nomatch.jpg" in w for w in result.warnings)
    assert any("choices (1)" in w for w in result.warnings)


def test_read_pred_takes_scores(tmp_path: Path) -> None:
    result = labelstudio.read(write_json(tmp_path, sample()), stems=["a", "b"], side="pred")
    assert boxes_of(result) == expected(
        [
            Box("a", "cat", 0, 0, 10, 5, score=0.5),
            Box("a", "cat", 20, 10, 20, 10, score=0.8),
        ]
    )


def test_matching_by_ext_id_and_sizes_fallback(tmp_path: Path) -> None:
    item = rect(10, 10, 50, 50, "cat")
    del item["original_width"], item["original_height"]
    tasks = [
        {"data": {"image": "https://x/y/z.jpg", "ext_id": "asset1"}, "annotations": [{"result": [item]}]}
    ]
    result = labelstudio.read(write_json(tmp_path, tasks), stems=["asset1"], sizes={"asset1": (400, 300)})
    assert boxes_of(result) == expected([Box("asset1", "cat", 40, 30, 200, 150)])


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_export_then_import_round_trip(tmp_path: Path, dataset: Dataset, side: Side) -> None:
    boxes = dataset.boxes if side == "gt" else with_scores(dataset.boxes)
    written = labelstudio.write(dataset.selection(side, boxes), tmp_path)
    assert set(written.values()) == {str(tmp_path / "labelstudio-tasks.json")}
    result = labelstudio.read(tmp_path, stems=dataset.stems, side=side)
    keep = ["rotation", "score"]
    assert boxes_of(result, keep=keep) == expected(boxes, keep=keep)
    assert image_tags_of(result) == dataset.image_tags


def test_writer_tasks(tmp_path: Path, dataset: Dataset) -> None:
    labelstudio.write(dataset.selection("pred", with_scores(dataset.boxes)), tmp_path)
    tasks = json.loads((tmp_path / "labelstudio-tasks.json").read_text())
    assert [t["data"]["ext_id"] for t in tasks] == sorted(dataset.stems)
    first = next(t for t in tasks if t["meta"]["asset_id"] == dataset.stems[0])
    assert first["data"]["image"] == f"/export/images/{dataset.stems[0]}.jpg" and "annotations" not in first
    item = first["predictions"][0]["result"][1]
    assert item["value"] == {
        "x": 0.0,
        "y": 0.0,
        "width": 100.0,
        "height": 100.0,
        "rotation": 0.0,
        "rectanglelabels": ["dog"],
    }
    assert item["score"] == pytest.approx(0.4) and item["original_width"] == 640
    assert first["predictions"][0]["result"][2]["value"]["rotation"] == 45.0
    assert next(t for t in tasks if t["meta"]["asset_id"] == dataset.stems[2])["predictions"] == []


def test_labeling_config_lists_escaped_labels() -> None:
    config = labelstudio.labeling_config(["cat", 'say "hi" & <bye>'])
    root = ET.fromstring(config)
    assert root.find("Image").get("name") == "image"  # type: ignore[union-attr]
    rects = root.find("RectangleLabels")
    assert rects is not None and rects.get("toName") == "image" and rects.get("name") == "label"
    assert [label.get("value") for label in rects] == ["cat", 'say "hi" & <bye>']


def set_path(tasks: list[dict[str, Any]], path: str, value: object) -> list[dict[str, Any]]:
    doc: Any = copy.deepcopy(tasks)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key_: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key_]
    else:
        node[key_] = value
    return list(doc)


RESULT = "0.annotations.1.result.0"
FIELDS = [
    (f"{RESULT}.value.x", ..., "[0].annotations[1].result[0].value.x must be a number"),
    (f"{RESULT}.value.y", "10", "[0].annotations[1].result[0].value.y must be a number"),
    (f"{RESULT}.value.width", None, "[0].annotations[1].result[0].value.width must be a number"),
    (f"{RESULT}.value.height", [1], "[0].annotations[1].result[0].value.height must be a number"),
    (f"{RESULT}.value.rotation", "45deg", "[0].annotations[1].result[0].value.rotation must be a number"),
    (
        f"{RESULT}.value.rectanglelabels",
        [],
        "[0].annotations[1].result[0].value.rectanglelabels must be a non-empty",
    ),
    (f"{RESULT}.value.rectanglelabels", "cat", "value.rectanglelabels must be a non-empty list"),
    (f"{RESULT}.value", ..., "[0].annotations[1].result[0].value is missing"),
    (
        f"{RESULT}.original_width",
        ...,
        "[0].annotations[1].result[0].original_width must be a positive number",
    ),
    (
        f"{RESULT}.original_height",
        0,
        "[0].annotations[1].result[0].original_height must be a positive number",
    ),
    (RESULT, "box", "[0].annotations[1].result[0] must be an object"),
    ("0.annotations.1.result", {"x": 1}, "[0].annotations[1].result must be a list"),
    ("0.annotations.1", 7, "[0].annotations[1] must be an object"),
    ("0.annotations", "none", "[0].annotations must be a list"),
    ("0.data", ..., "[0] is not a task with a data object"),
    ("0.data", {"text": "hello"}, "[0].data holds no image URL"),
    (
        "1.data.image",
        "/data/upload/3/ffffffff-a.jpg",
        "[1].data.image '/data/upload/3/ffffffff-a.jpg' matches image 'a'",
    ),
    ("1", [], "[1] is not a task"),
]


@pytest.mark.parametrize(("path", "value", "message"), FIELDS, ids=[f"{p}={v!r}" for p, v, _ in FIELDS])
def test_broken_field_names_file_and_json_path(
    tmp_path: Path, path: str, value: object, message: str
) -> None:
    source = write_json(tmp_path, set_path(sample(), path, value))
    with pytest.raises(InputFileError) as info:
        labelstudio.read(source, stems=["a", "b"])
    assert info.value.path == source
    assert_names(info.value, "export.json", message)


def test_broken_prediction_score(tmp_path: Path) -> None:
    source = write_json(tmp_path, set_path(sample(), "0.predictions.0.result.0.score", "high"))
    with pytest.raises(InputFileError) as info:
        labelstudio.read(source, stems=["a"], side="pred")
    assert_names(info.value, "export.json", "[0].predictions[0].result[0].score must be a number")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (json.dumps(sample(), indent=1)[:500], ["export.json:", "not valid JSON"]),
        ("", ["export.json", "is empty"]),
        ('{"images": []}', ["top level is a dict", "COCO"]),
        (b'[{"data": {"image": "caf\xe9.jpg"}}]', ["export.json:1", "not UTF-8"]),
    ],
    ids=["truncated", "empty", "coco", "encoding"],
)
def test_broken_documents(tmp_path: Path, content: str | bytes, fragments: list[str]) -> None:
    gen(tmp_path, {"export.json": content})
    with pytest.raises(InputFileError) as info:
        labelstudio.read(tmp_path, stems=["a"])
    assert_names(info.value, *fragments)

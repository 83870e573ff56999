"""COCO: reading against an expected table, file location, round trips, and every broken field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mir.errors import InputFileError
from mir.formats import coco
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


def sample() -> dict[str, Any]:
    return {
        "images": [
            {"id": 1, "file_name": "imgs/a.jpg", "width": 200, "height": 100, "cks": {"weather": "fog"}},
            {"id": 2, "file_name": "b.png"},
            {"id": 3, "file_name": "not-imported.jpg"},
        ],
        "categories": [
            {"id": 5, "name": "Traffic Light"},
            {"id": 7, "name": " cat "},
            {"id": 9, "name": "unused"},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 5, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 7,
                "bbox": [1.5, 2.25, 3, 4],
                "score": 0.9,
                "box_quality": 0.5,
                "rotate_angle": 0.25,
                "tags": {"pose": "left"},
            },
            {"id": 3, "image_id": 2, "category_id": 7, "bbox": [0, 0, 5, 5], "confidence": 0.4},
            {"id": 4, "image_id": 3, "category_id": 7, "bbox": [0, 0, 5, 5]},
        ],
    }


def write_json(tmp_path: Path, doc: object, name: str = "coco-annotations.json") -> Path:
    return gen(tmp_path, {name: json.dumps(doc, indent=1)})


def test_read_matches_expected_table(tmp_path: Path) -> None:
    result = coco.read(write_json(tmp_path, sample()), stems=["a", "b"])
    assert boxes_of(result) == expected(
        [
            Box("a", "Traffic Light", 10, 20, 30, 40),
            Box("a", "cat", 1.5, 2.25, 3, 4, rotation=0.25, score=0.9, quality=0.5, tags={"pose": "left"}),
            Box("b", "cat", 0, 0, 5, 5, score=0.4),
        ]
    )
    assert result.declared_classes == ["Traffic Light", "cat", "unused"]
    assert image_tags_of(result) == {"a": {"weather": "fog"}}
    assert len(result.warnings) == 1 and "not-imported.jpg" in result.warnings[0]


@pytest.mark.parametrize("where", ["file", "folder-default", "folder-single"])
def test_locates_the_json(tmp_path: Path, where: str) -> None:
    name = "whatever.json" if where == "folder-single" else "coco-annotations.json"
    folder = write_json(tmp_path, sample(), name)
    source = folder / name if where == "file" else folder
    assert coco.read(source, stems=["a"]).boxes.num_rows == 2


def test_folder_with_several_json_files_is_ambiguous(tmp_path: Path) -> None:
    gen(tmp_path, {"x.json": "{}", "y.json": "{}"})
    with pytest.raises(InputFileError) as info:
        coco.read(tmp_path, stems=["a"])
    assert_names(info.value, str(tmp_path), "x.json", "y.json", "coco-annotations.json")


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_export_then_import_round_trip(tmp_path: Path, dataset: Dataset, side: Side) -> None:
    boxes = dataset.boxes if side == "gt" else with_scores(dataset.boxes)
    written = coco.write(dataset.selection(side, boxes), tmp_path)
    assert set(written.values()) == {str(tmp_path / "coco-annotations.json")} and set(written) == set(
        dataset.stems
    )
    result = coco.read(tmp_path, stems=dataset.stems)
    assert boxes_of(result) == expected(boxes)
    assert image_tags_of(result) == dataset.image_tags
    assert result.declared_classes == dataset.class_names


def test_writer_conventions(tmp_path: Path, dataset: Dataset) -> None:
    coco.write(dataset.selection("pred", with_scores(dataset.boxes)), tmp_path)
    doc = json.loads((tmp_path / "coco-annotations.json").read_text())
    assert [c["id"] for c in doc["categories"]] == [0, 1, 2]  # YMIR's mapped ids
    assert [i["id"] for i in doc["images"]] == [1, 2, 3]
    assert [i["file_name"] for i in doc["images"]] == [f"{a}.jpg" for a in sorted(dataset.stems)]
    first = doc["annotations"][0]
    assert first["bbox"] == [10, 20, 100, 50] and first["area"] == 5000 and first["iscrowd"] == 0
    assert first["score"] == 0.3 and "rotate_angle" not in first


def broken(path: str, value: object) -> dict[str, Any]:
    """``sample()`` with the value at ``path`` (``a.b.0.c``) replaced; ``...`` deletes it."""
    doc = copy.deepcopy(sample())
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[int(last) if isinstance(node, list) else last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return doc


FIELDS = [
    ("images.0.id", ..., "images[0].id is missing"),
    ("images.0.id", 1.5, "images[0].id must be an integer or a string"),
    ("images.1.id", 1, "images[1].id 1 is used by an earlier"),
    ("images.0.file_name", ..., "images[0].file_name is missing"),
    ("images.0.file_name", 7, "images[0].file_name must be a non-empty string"),
    ("images.0.cks", ["x"], "images[0].cks must be an object"),
    ("images.1.file_name", "other/a.jpg", "images[1].file_name 'other/a.jpg' has the same stem as images[0]"),
    ("images.1", "b.png", "images[1] must be an object"),
    ("images", {"id": 1}, "images must be a list"),
    ("images", ..., "images is missing"),
    ("categories.0.id", ..., "categories[0].id is missing"),
    ("categories.0.id", None, "categories[0].id must be an integer"),
    ("categories.1.id", 5, "categories[1].id 5 is used by an earlier"),
    ("categories.0.name", "", "categories[0].name must be a non-empty string"),
    ("categories", ..., "categories is missing"),
    ("annotations.1.image_id", ..., "annotations[1].image_id is missing"),
    ("annotations.1.image_id", 42, "annotations[1].image_id 42 is not the id of any entry in images"),
    ("annotations.1.category_id", ..., "annotations[1].category_id is missing"),
    (
        "annotations.1.category_id",
        "5",
        "annotations[1].category_id '5' is not the id of any entry in categories",
    ),
    ("annotations.1.bbox", ..., "annotations[1].bbox is missing"),
    ("annotations.1.bbox", [1, 2, 3], "annotations[1].bbox must be a list of 4 numbers"),
    ("annotations.1.bbox", [1, 2, "3", 4], "annotations[1].bbox must be a list of 4 numbers"),
    ("annotations.1.bbox", [1, 2, True, 4], "annotations[1].bbox must be a list of 4 numbers"),
    ("annotations.1.score", "high", "annotations[1].score must be a number"),
    ("annotations.2.confidence", [0.4], "annotations[2].confidence must be a number"),
    ("annotations.1.box_quality", "?", "annotations[1].box_quality must be a number"),
    ("annotations.1.rotate_angle", "90deg", "annotations[1].rotate_angle must be a number"),
    ("annotations.1.tags", {"pose": 3}, "annotations[1].tags must be an object of strings"),
    ("annotations.1", 7, "annotations[1] must be an object"),
    ("annotations", "none", "annotations must be a list"),
]


@pytest.mark.parametrize(("path", "value", "message"), FIELDS, ids=[f"{p}={v!r}" for p, v, _ in FIELDS])
def test_broken_field_names_file_and_json_path(
    tmp_path: Path, path: str, value: object, message: str
) -> None:
    folder = write_json(tmp_path, broken(path, value))
    with pytest.raises(InputFileError) as info:
        coco.read(folder, stems=["a", "b"])
    assert info.value.path == folder / "coco-annotations.json"
    assert_names(info.value, "coco-annotations.json", message)


def test_missing_annotations_list_means_no_boxes(tmp_path: Path) -> None:
    result = coco.read(write_json(tmp_path, broken("annotations", ...)), stems=["a"])
    assert result.boxes.num_rows == 0 and result.declared_classes[0] == "Traffic Light"


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (json.dumps(sample(), indent=1)[:300], ["coco-annotations.json:", "not valid JSON"]),
        ("", ["coco-annotations.json", "is empty"]),
        ("[]", ["top level is a list", "Label Studio"]),
        ('{"images": []}\n\n{', ["coco-annotations.json:3", "not valid JSON"]),
    ],
    ids=["truncated", "empty", "list", "trailing garbage"],
)
def test_broken_documents(tmp_path: Path, content: str, fragments: list[str]) -> None:
    gen(tmp_path, {"coco-annotations.json": content})
    with pytest.raises(InputFileError) as info:
        coco.read(tmp_path, stems=["a"])
    assert_names(info.value, *fragments)


def test_truncated_json_names_the_parser_line(tmp_path: Path) -> None:
    text = json.dumps(sample(), indent=1)
    gen(tmp_path, {"coco-annotations.json": text[:300]})
    with pytest.raises(InputFileError) as info:
        coco.read(tmp_path, stems=["a"])
    assert info.value.line is not None and info.value.line >= text[:300].count("\n")


def test_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    text = json.dumps(broken("categories.0.name", "caf\xe9"), indent=1, ensure_ascii=False)
    gen(tmp_path, {"coco-annotations.json": text.encode("latin-1")})
    with pytest.raises(InputFileError) as info:
        coco.read(tmp_path, stems=["a"])
    line = text[: text.index("caf")].count("\n") + 1
    assert_names(info.value, f"coco-annotations.json:{line}", "not UTF-8")


def test_utf8_bom_and_non_ascii_names_are_read(tmp_path: Path) -> None:
    text = json.dumps(broken("categories.0.name", "Ampel groß"), ensure_ascii=False)
    gen(tmp_path, {"coco-annotations.json": "\ufeff" + text})
    assert "Ampel groß" in coco.read(tmp_path, stems=["a"]).boxes.column("class_name").to_pylist()

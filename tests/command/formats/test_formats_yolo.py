"""YOLO: class lists, label discovery, denormalisation, round trips, and every broken field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mir.errors import InputFileError
from mir.formats import yolo
from mir.formats.base import Side
from tests.command.formats.fmtlib import (
    Box,
    Dataset,
    assert_names,
    boxes_of,
    expected,
    gen,
    make_selection,
    with_scores,
)

SIZES = {"a": (200, 100), "b": (640, 480)}
CLASSES = "cat\nTraffic Light\n\n"


def test_read_matches_expected_table(tmp_path: Path) -> None:
    src = gen(
        tmp_path,
        {
            "classes.txt": CLASSES,
            "labels/train/a.txt": "0 0.5 0.5 0.2 0.4\n\n1 0.1 0.2 0.1 0.2 0.75\n",
            "b.txt": "",
            "labels/val/orphan.txt": "0 0.5 0.5 0.1 0.1\n",
        },
    )
    result = yolo.read(src, stems=["a", "b"], sizes=SIZES)
    assert boxes_of(result) == expected(
        [
            Box("a", "cat", 80, 30, 40, 40),
            Box("a", "Traffic Light", 10, 10, 20, 20, score=0.75),
        ]
    )
    assert [r["line"] for r in result.boxes.to_pylist()] == [1, 3]
    assert result.declared_classes == ["cat", "Traffic Light"]
    assert len(result.warnings) == 1 and "orphan.txt" in result.warnings[0]


@pytest.mark.parametrize("names", [["cat", "Traffic Light"], {0: "cat", 1: "Traffic Light"}])
def test_data_yaml_names_list_or_mapping(tmp_path: Path, names: object) -> None:
    src = gen(tmp_path, {"data.yaml": yaml.safe_dump({"nc": 2, "names": names}), "a.txt": "1 0.5 0.5 1 1\n"})
    result = yolo.read(src, stems=["a"], sizes=SIZES)
    assert result.declared_classes == ["cat", "Traffic Light"]
    assert boxes_of(result) == expected([Box("a", "Traffic Light", 0, 0, 200, 100)])


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_export_then_import_round_trip(tmp_path: Path, dataset: Dataset, side: Side) -> None:
    boxes = dataset.boxes if side == "gt" else with_scores(dataset.boxes)
    written = yolo.write(dataset.selection(side, boxes), tmp_path)
    assert written == {a: str(tmp_path / "labels" / f"{a}.txt") for a in dataset.stems}
    result = yolo.read(tmp_path, stems=dataset.stems, sizes=dataset.sizes)
    assert boxes_of(result, keep=["score"]) == expected(boxes, keep=["score"])
    assert result.declared_classes == dataset.class_names


def test_writer_files(tmp_path: Path, dataset: Dataset) -> None:
    yolo.write(dataset.selection(), tmp_path)
    assert (tmp_path / "classes.txt").read_text().splitlines() == dataset.class_names
    assert yaml.safe_load((tmp_path / "data.yaml").read_text()) == {"nc": 3, "names": dataset.class_names}
    lines = (tmp_path / "labels" / f"{dataset.stems[0]}.txt").read_text().splitlines()
    assert lines[1] == "1 0.500000 0.500000 1.000000 1.000000"
    assert (tmp_path / "labels" / f"{dataset.stems[2]}.txt").read_text() == ""


def test_sizes_are_required(tmp_path: Path) -> None:
    src = gen(tmp_path, {"classes.txt": CLASSES, "a.txt": "0 0.5 0.5 0.2 0.4\n"})
    with pytest.raises(InputFileError) as info:
        yolo.read(src, stems=["a"])
    assert_names(info.value, str(src), "no image sizes")
    with pytest.raises(InputFileError) as info:
        yolo.read(src, stems=["a"], sizes={"b": (1, 1)})
    assert_names(info.value, "a.txt", "size of image 'a'")


LINES = [
    ("0 0.5 0.5 0.2", "Expected 5 fields (class, xc, yc, w, h), or 6 with a score, got 4"),
    ("0 0.5 0.5 0.2 0.2 0.9 7", "got 7"),
    ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4 0.4", "polygons"),
    ("cat 0.5 0.5 0.2 0.2", "field 1 (class) is not an integer: 'cat'"),
    ("2 0.5 0.5 0.2 0.2", "field 1 (class) 2 is out of range"),
    ("-1 0.5 0.5 0.2 0.2", "field 1 (class) -1 is out of range"),
    ("0 x 0.5 0.2 0.2", "field 2 (xc) is not a number: 'x'"),
    ("0 0.5 1.5 0.2 0.2", "field 3 (yc) = 1.5 is outside 0..1"),
    ("0 0.5 0.5 -0.2 0.2", "field 4 (w) = -0.2 is outside 0..1"),
    ("0 0.5 0.5 0.2 inf", "field 5 (h) is not finite"),
    ("0 0.5 0.5 0.2 0.2 95", "field 6 (score) = 95 is outside 0..1"),
    ("0 0.5 0.5 0.2 0.2 hi", "field 6 (score) is not a number"),
    ("0,0.5,0.5,0.2,0.2", "got 1"),
]


@pytest.mark.parametrize(("line", "message"), LINES, ids=[m.split(" is ")[0] for _, m in LINES])
def test_broken_field_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    src = gen(tmp_path, {"classes.txt": CLASSES, "labels/a.txt": f"0 0.5 0.5 0.1 0.1\n\n{line}\n"})
    with pytest.raises(InputFileError) as info:
        yolo.read(src, stems=["a"], sizes=SIZES)
    assert info.value.line == 3
    assert_names(info.value, "a.txt:3", message)


@pytest.mark.parametrize(
    ("tree", "fragments"),
    [
        ({"a.txt": "0 0.5 0.5 0.1 0.1\n"}, ["neither classes.txt nor data.yaml"]),
        ({"classes.txt": ""}, ["classes.txt", "no class names"]),
        ({"classes.txt": "cat\n\ndog\n"}, ["classes.txt:2", "blank line"]),
        ({"classes.txt": b"caf\xe9\n"}, ["classes.txt:1", "not UTF-8"]),
        ({"data.yaml": "names: [cat, dog\n"}, ["data.yaml:2", "not valid YAML"]),
        ({"data.yaml": "names: cat\n"}, ["data.yaml", "names must be a non-empty list"]),
        ({"data.yaml": "names: {0: cat, 2: dog}\n"}, ["data.yaml", "names keys must be 0..1"]),
        ({"data.yaml": "nc: 3\nnames: [cat, dog]\n"}, ["data.yaml", "nc is 3"]),
        (
            {"data.yaml": "names: [cat, dog]\n", "classes.txt": "dog\ncat\n"},
            ["data.yaml", "disagree", "classes.txt"],
        ),
        (
            {"classes.txt": "cat\n", "a.txt": b"0 0.5 0.5 0.1 0.1\n0 0.5 0.5 \xff 0.1\n"},
            ["a.txt:2", "not UTF-8"],
        ),
    ],
    ids=[
        "no class list",
        "empty classes",
        "blank class line",
        "classes encoding",
        "yaml syntax",
        "yaml names type",
        "yaml names gap",
        "yaml nc",
        "lists disagree",
        "label encoding",
    ],
)
def test_broken_class_lists_and_files(
    tmp_path: Path, tree: dict[str, str | bytes], fragments: list[str]
) -> None:
    src = gen(tmp_path, tree)
    with pytest.raises(InputFileError) as info:
        yolo.read(src, stems=["a"], sizes=SIZES)
    assert_names(info.value, *fragments)


def test_label_in_folder_and_under_labels_is_ambiguous(tmp_path: Path) -> None:
    src = gen(tmp_path, {"classes.txt": CLASSES, "a.txt": "", "labels/x/a.txt": ""})
    with pytest.raises(InputFileError) as info:
        yolo.read(src, stems=["a"], sizes=SIZES)
    assert_names(info.value, "a.txt", "second annotation file")


def test_integer_boxes_survive_odd_image_sizes(tmp_path: Path) -> None:
    boxes = [
        Box("a", "cat", x, y, w, h) for x, y, w, h in [(0, 0, 1, 1), (4093, 2047, 2, 1), (17, 3, 4001, 2043)]
    ]
    sel = make_selection([{"asset_id": "a", "width": 4099, "height": 2051}], boxes, ["cat"])
    yolo.write(sel, tmp_path)
    result = yolo.read(tmp_path, stems=["a"], sizes={"a": (4099, 2051)})
    assert boxes_of(result, keep=[]) == expected(boxes, keep=[])

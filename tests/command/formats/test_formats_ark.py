"""YMIR ark text: inclusive corners, class list, shard layout, round trips, and every broken field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mir.errors import InputFileError
from mir.formats import ark
from mir.formats.base import Side
from tests.command.formats.fmtlib import Box, Dataset, assert_names, boxes_of, expected, gen, with_scores

CLASSES = "cat\nTraffic Light\n"


def test_read_matches_expected_table(tmp_path: Path) -> None:
    src = gen(
        tmp_path,
        {
            "labels.txt": CLASSES,
            "a.txt": "0, 10, 20, 29, 59, 0.5, 0.25\n\n1,1.5,2.5,10.5,12.5\n",
            "cd/bcd.txt": "1, 0, 0, 0, 0, -1, 0\n",
            "zz.txt": "0, 1, 1, 2, 2\n",
        },
    )
    result = ark.read(src, stems=["a", "bcd"])
    assert boxes_of(result) == expected(
        [
            Box("a", "cat", 10, 20, 20, 40, rotation=0.25, quality=0.5),
            Box("a", "Traffic Light", 1.5, 2.5, 10, 11),
            Box("bcd", "Traffic Light", 0, 0, 1, 1),
        ]
    )
    assert [r["line"] for r in result.boxes.to_pylist()] == [1, 3, 1]
    assert result.declared_classes == ["cat", "Traffic Light"]
    assert len(result.warnings) == 1 and "zz.txt" in result.warnings[0]


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_export_then_import_round_trip(tmp_path: Path, dataset: Dataset, side: Side) -> None:
    boxes = dataset.boxes if side == "gt" else with_scores(dataset.boxes)
    written = ark.write(dataset.selection(side, boxes), tmp_path)
    assert written == {a: str(tmp_path / a[-2:] / f"{a}.txt") for a in dataset.stems}
    result = ark.read(tmp_path, stems=dataset.stems)
    assert boxes_of(result, keep=["rotation", "quality"]) == expected(boxes, keep=["rotation", "quality"])
    assert result.declared_classes == dataset.class_names


def test_writer_lines_follow_ymir(tmp_path: Path, dataset: Dataset) -> None:
    written = ark.write(dataset.selection(), tmp_path)
    lines = Path(written[dataset.stems[0]]).read_text().splitlines()
    assert lines[0] == "0, 10, 20, 109, 69, 0.8, 0"
    assert lines[2] == "2, 12.5, 7.25, 42.25, 66.75, -1, 0.25"
    assert Path(written[dataset.stems[2]]).read_text() == ""


LINES = [
    (
        "0, 1, 2, 3",
        "Expected 7 comma-separated fields (class, xmin, ymin, xmax, ymax, quality, rotation),"
        " the last two optional, got 4",
    ),
    ("0, 1, 2, 3, 4, 5, 6, 7", "got 8"),
    ("0 1 2 3 4", "fields are separated by commas"),
    ("cat, 1, 2, 3, 4", "field 1 (class) is not an integer: 'cat'"),
    ("5, 1, 2, 3, 4", "field 1 (class) 5 is out of range"),
    ("0, a, 2, 3, 4", "field 2 (xmin) is not a number: 'a'"),
    ("0, 1, , 3, 4", "field 3 (ymin) is not a number"),
    ("0, 1, 2, 3e, 4", "field 4 (xmax) is not a number"),
    ("0, 1, 2, 3, nan", "field 5 (ymax) is not finite"),
    ("0, 1, 2, 3, 4, good", "field 6 (quality) is not a number"),
    ("0, 1, 2, 3, 4, 0.5, 90deg", "field 7 (rotation) is not a number"),
]


@pytest.mark.parametrize(("line", "message"), LINES, ids=[line for line, _ in LINES])
def test_broken_field_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    src = gen(tmp_path, {"classes.txt": CLASSES, "ab/a.txt": f"0, 1, 1, 2, 2\n{line}\n"})
    with pytest.raises(InputFileError) as info:
        ark.read(src, stems=["a"])
    assert info.value.line == 2
    assert_names(info.value, "a.txt:2", message)


@pytest.mark.parametrize(
    ("tree", "fragments"),
    [
        ({"a.txt": "0, 1, 1, 2, 2\n"}, ["holds no classes.txt or labels.txt", "write the class names"]),
        ({"classes.txt": "\n\n"}, ["classes.txt", "no class names"]),
        ({"classes.txt": "cat\n \ndog"}, ["classes.txt:2", "blank line"]),
        ({"classes.txt": "cat\n", "a.txt": b"0, 1, 1, 2, 2\n\x80"}, ["a.txt:2", "not UTF-8"]),
    ],
    ids=["no class list", "empty class list", "blank class line", "encoding"],
)
def test_broken_class_lists_and_files(
    tmp_path: Path, tree: dict[str, str | bytes], fragments: list[str]
) -> None:
    src = gen(tmp_path, tree)
    with pytest.raises(InputFileError) as info:
        ark.read(src, stems=["a"])
    assert_names(info.value, *fragments)


def test_empty_file_means_no_boxes(tmp_path: Path) -> None:
    src = gen(tmp_path, {"classes.txt": CLASSES, "a.txt": ""})
    assert ark.read(src, stems=["a"]).boxes.num_rows == 0

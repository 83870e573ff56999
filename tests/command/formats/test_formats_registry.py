"""The format table, name resolution, detection, and the VOC -> COCO -> YOLO -> VOC chain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mir.errors import InvalidArgsError
from mir.formats import FORMATS, READERS, WRITERS, coco, detect, resolve_format, voc, yolo
from mir.formats.base import ExportSelection, ReadResult
from tests.command.formats.fmtlib import Box, Dataset, assert_names, boxes_of, expected, gen, make_selection


def test_every_format_has_a_reader_and_a_writer() -> None:
    assert set(READERS) == set(WRITERS) == set(FORMATS) == {"voc", "coco", "yolo", "ark", "labelstudio"}


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("voc", "voc"),
        ("det:voc", "voc"),
        ("DET-VOC", "voc"),
        ("det:coco", "coco"),
        (" coco ", "coco"),
        ("ls", "labelstudio"),
        ("label-studio", "labelstudio"),
        ("det-ark", "ark"),
        ("ultralytics", "yolo"),
    ],
)
def test_resolve_format(name: str, canonical: str) -> None:
    assert resolve_format(name) == canonical


def test_unknown_format_lists_the_choices() -> None:
    with pytest.raises(InvalidArgsError) as info:
        resolve_format("det:kitti")
    assert_names(info.value, "'det:kitti'", "voc, coco, yolo, ark, labelstudio", "det:voc")


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo", "ark", "labelstudio"])
def test_detect_recognises_each_export(tmp_path: Path, dataset: Dataset, fmt: str) -> None:
    WRITERS[fmt](dataset.selection(), tmp_path)
    assert detect(tmp_path) == fmt


@pytest.mark.parametrize(
    ("tree", "fmt"),
    [
        ({"a.xml": "<annotation/>", "a.jpg": b"\xff\xd8"}, "voc"),
        ({"x.json": '{"images": [], "annotations": []}'}, "coco"),
        ({"x.json": "[]"}, "labelstudio"),
        ({"classes.txt": "cat\n", "a.txt": "0 0.5 0.5 0.1 0.1\n"}, "yolo"),
        ({"labels.txt": "cat\n", "ab/a.txt": "\n0, 1, 1, 2, 2\n"}, "ark"),
        ({"data.yaml": "names: [cat]\n", "labels/train/a.txt": ""}, "yolo"),
    ],
)
def test_detect_user_layouts(tmp_path: Path, tree: dict[str, str | bytes], fmt: str) -> None:
    assert detect(gen(tmp_path, tree)) == fmt


def test_detect_a_json_file_itself(tmp_path: Path) -> None:
    assert detect(gen(tmp_path, {"x.json": " [ ]"}) / "x.json") == "labelstudio"


def test_detect_says_why_each_format_was_rejected(tmp_path: Path) -> None:
    gen(tmp_path, {"notes.md": "hello", "a.txt": "0 1 2 3 4\n"})
    with pytest.raises(InvalidArgsError) as info:
        detect(tmp_path)
    assert_names(
        info.value,
        "voc: no .xml files",
        "coco: no coco-annotations.json",
        "yolo: no classes.txt",
        "ark: no classes.txt or labels.txt",
        "labelstudio: no labelstudio-tasks.json",
    )


def test_detect_ambiguous_and_missing(tmp_path: Path) -> None:
    gen(tmp_path, {"a.xml": "<annotation/>", "coco-annotations.json": '{"images": []}'})
    with pytest.raises(InvalidArgsError) as info:
        detect(tmp_path)
    assert_names(info.value, "mixes annotation formats: voc (a.xml); coco (coco-annotations.json)")
    with pytest.raises(InvalidArgsError) as info:
        detect(tmp_path / "nope")
    assert_names(info.value, "nope", "does not exist")


def to_selection(result: ReadResult, dataset: Dataset, class_names: list[str]) -> ExportSelection:
    """What import then export would do: stems are asset ids, names map to positions in ``class_names``."""
    boxes = [
        Box(b.name, b.class_name, b.x, b.y, b.w, b.h, score=b.score) for b in boxes_of(result, keep=["score"])
    ]
    return make_selection(dataset.assets, boxes, class_names)


def test_voc_to_coco_to_yolo_to_voc_keeps_boxes_exactly(tmp_path: Path, dataset: Dataset) -> None:
    boxes = [Box(b.name, b.class_name, b.x, b.y, b.w, b.h) for b in dataset.boxes]  # what yolo can carry
    names = dataset.class_names
    voc.write(make_selection(dataset.assets, boxes, names), tmp_path / "voc1")
    from_voc = voc.read(tmp_path / "voc1", stems=dataset.stems)
    coco.write(to_selection(from_voc, dataset, names), tmp_path / "coco")
    from_coco = coco.read(tmp_path / "coco", stems=dataset.stems)
    yolo.write(to_selection(from_coco, dataset, from_coco.declared_classes), tmp_path / "yolo")
    from_yolo = yolo.read(tmp_path / "yolo", stems=dataset.stems, sizes=dataset.sizes)
    voc.write(to_selection(from_yolo, dataset, from_yolo.declared_classes), tmp_path / "voc2")
    final = voc.read(tmp_path / "voc2", stems=dataset.stems)
    assert boxes_of(final) == boxes_of(from_voc) == expected(boxes)
    first = dataset.stems[0]
    before, after = ((tmp_path / d / first[-2:] / f"{first}.xml").read_text() for d in ("voc1", "voc2"))
    objects = re.compile(r"<object>.*?</object>", re.DOTALL)
    assert sorted(objects.findall(before)) == sorted(objects.findall(after))  # the same text, too

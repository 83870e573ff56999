"""Pascal VOC: reading against an expected table, round trips, layout, and every broken field."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from mir.errors import InputFileError, InvalidArgsError
from mir.formats import voc
from mir.formats.base import MapFn, Side
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

SAMPLE = """<?xml version="1.0" encoding="utf-8"?>
<annotation>
  <filename>a.jpg</filename>
  <size><width>200</width><height>100</height><depth>3</depth></size>
  <cks><weather>sunny</weather><place> park </place></cks>
  <image_quality>0.5</image_quality>
  <object>
    <name>
      Traffic Light
    </name>
    <difficult>1</difficult>
    <bndbox><xmin>10</xmin><ymin>20</ymin><xmax>29</xmax><ymax>59</ymax></bndbox>
  </object>
  <object>
    <name>cat</name>
    <bndbox>
      <xmin>1.5</xmin><ymin>2.25</ymin><xmax>10.5</xmax><ymax>12.25</ymax>
      <rotate_angle>0.5</rotate_angle>
    </bndbox>
    <confidence>0.9</confidence>
    <box_quality>0.7</box_quality>
    <tags><color>red</color><size>big</size></tags>
  </object>
</annotation>
"""

BOX = """<annotation><object>
<name>{name}</name>
<bndbox><xmin>{xmin}</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax>{extra}</bndbox>
{obj_extra}
</object></annotation>
"""


def test_read_matches_expected_table(tmp_path: Path) -> None:
    src = gen(tmp_path, {"a.xml": SAMPLE, "orphan.xml": "<annotation/>"})
    result = voc.read(src, stems=["a", "b"])
    assert boxes_of(result) == expected(
        [
            Box("a", "Traffic Light", 10, 20, 20, 40, tags={"difficult": "1"}),
            Box(
                "a",
                "cat",
                1.5,
                2.25,
                10,
                11,
                rotation=0.5,
                score=0.9,
                quality=0.7,
                tags={"color": "red", "size": "big"},
            ),
        ]
    )
    assert image_tags_of(result) == {"a": {"weather": "sunny", "place": "park", "image_quality": "0.5"}}
    assert result.declared_classes == []
    assert len(result.warnings) == 1 and "orphan.xml" in result.warnings[0]


def test_box_rows_name_file_and_line(tmp_path: Path) -> None:
    src = gen(tmp_path, {"a.xml": SAMPLE})
    rows = voc.read(src, stems=["a"]).boxes.to_pylist()
    assert [(Path(r["file"]).name, r["line"]) for r in rows] == [("a.xml", 7), ("a.xml", 14)]


def test_reads_sharded_layout_and_ignores_other_stems(tmp_path: Path) -> None:
    src = gen(tmp_path, {"ab/x1ab.xml": SAMPLE, "x2.xml": SAMPLE, "x3.xml": SAMPLE})
    result = voc.read(src, stems=["x1ab", "x2"])
    assert sorted(set(result.boxes.column("name").to_pylist())) == ["x1ab", "x2"]


def test_object_free_file_gives_no_boxes(tmp_path: Path) -> None:
    src = gen(tmp_path, {"a.xml": "<annotation><filename>a.jpg</filename></annotation>"})
    result = voc.read(src, stems=["a"])
    assert result.boxes.num_rows == 0 and result.image_tags.num_rows == 0


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_export_then_import_round_trip(tmp_path: Path, dataset: Dataset, side: Side) -> None:
    boxes = dataset.boxes if side == "gt" else with_scores(dataset.boxes)
    written = voc.write(dataset.selection("gt", boxes), tmp_path / "out")
    result = voc.read(tmp_path / "out", stems=dataset.stems)
    assert boxes_of(result) == expected(boxes)
    assert image_tags_of(result) == dataset.image_tags
    assert set(written) == set(dataset.stems)


def test_writer_layout_and_values(tmp_path: Path, dataset: Dataset) -> None:
    written = voc.write(dataset.selection(), tmp_path)
    for asset_id, path in written.items():
        assert Path(path) == tmp_path / asset_id[-2:] / f"{asset_id}.xml"
    empty = Path(written[dataset.stems[2]]).read_text()
    assert "<object>" not in empty and "<width>100</width>" in empty
    first = Path(written[dataset.stems[0]]).read_text()
    assert "<xmin>10</xmin><ymin>20</ymin><xmax>109</xmax><ymax>69</ymax>" in first  # inclusive ints
    assert "<xmax>42.25</xmax>" in first and "<confidence>" not in first
    assert "<color>black &amp; white</color>" in first and "<filename>" + dataset.stems[0] + ".jpg" in first
    assert "<difficult>1</difficult>" in Path(written[dataset.stems[1]]).read_text()


def test_writer_rejects_tag_keys_that_are_no_xml_names(tmp_path: Path, dataset: Dataset) -> None:
    boxes = [Box(dataset.stems[0], "cat", 1, 1, 5, 5, tags={"two words": "x"})]
    with pytest.raises(InvalidArgsError) as info:
        voc.write(dataset.selection("gt", boxes), tmp_path)
    assert_names(info.value, "two words", dataset.stems[0])


def _pool_map(pool: ProcessPoolExecutor) -> MapFn:
    return lambda fn, chunks: list(pool.map(fn, chunks))


def test_parallel_parse_equals_serial_and_errors_cross_processes(tmp_path: Path) -> None:
    tree = {f"i{n:04d}.xml": SAMPLE for n in range(600)}
    tree["i0599.xml"] = SAMPLE.replace("<xmin>10</xmin>", "<xmin>ten</xmin>")
    src = gen(tmp_path, tree)
    stems = [f"i{n:04d}" for n in range(600)]
    with ProcessPoolExecutor(2) as pool:
        parallel = voc.read(src, stems=stems[:599], map_fn=_pool_map(pool))
        with pytest.raises(InputFileError) as info:
            voc.read(src, stems=stems, map_fn=_pool_map(pool))
    assert parallel.boxes.equals(voc.read(src, stems=stems[:599]).boxes)
    assert_names(info.value, "i0599.xml:7", "object[1]/bndbox/xmin", "'ten'")


OBJECT_FIELDS = [
    # (what is broken, xml text, fragments the message must name)
    ("name missing", BOX.format(name="", xmin=1, extra="", obj_extra=""), ["object[1]/name", ":1"]),
    (
        "xmin not a number",
        BOX.format(name="cat", xmin="1O", extra="", obj_extra=""),
        ["object[1]/bndbox/xmin", "'1O'", ":1"],
    ),
    (
        "xmin not finite",
        BOX.format(name="cat", xmin="nan", extra="", obj_extra=""),
        ["object[1]/bndbox/xmin"],
    ),
    (
        "ymin missing",
        BOX.format(name="cat", xmin=1, extra="", obj_extra="").replace("<ymin>1</ymin>", ""),
        ["object[1]/bndbox/ymin", "missing"],
    ),
    (
        "xmax not a number",
        BOX.format(name="cat", xmin=1, extra="", obj_extra="").replace("<xmax>9", "<xmax>x"),
        ["object[1]/bndbox/xmax"],
    ),
    (
        "ymax empty",
        BOX.format(name="cat", xmin=1, extra="", obj_extra="").replace("<ymax>9", "<ymax>"),
        ["object[1]/bndbox/ymax"],
    ),
    (
        "rotate_angle",
        BOX.format(name="cat", xmin=1, extra="<rotate_angle>a</rotate_angle>", obj_extra=""),
        ["object[1]/bndbox/rotate_angle"],
    ),
    (
        "confidence",
        BOX.format(name="cat", xmin=1, extra="", obj_extra="<confidence>high</confidence>"),
        ["object[1]/confidence", "'high'"],
    ),
    (
        "box_quality",
        BOX.format(name="cat", xmin=1, extra="", obj_extra="<box_quality>?</box_quality>"),
        ["object[1]/box_quality"],
    ),
    (
        "no bndbox",
        "<annotation>\n<object><name>cat</name></object></annotation>",
        ["object[1]", "<bndbox>", ":2"],
    ),
    (
        "image_quality",
        "<annotation><image_quality>good</image_quality></annotation>",
        ["image_quality", "'good'"],
    ),
    ("truncated", SAMPLE[: SAMPLE.index("<confidence>")], ["not well-formed XML", ":20"]),
    ("empty", "", ["is empty"]),
    ("blank", "\n  \n", ["is empty"]),
    (
        "stray ampersand",
        "<annotation>\n<object><name>cat & dog</name></object></annotation>",
        ["not well-formed", ":2"],
    ),
    ("wrong root", "<doc><object/></doc>", ["root element is <doc>"]),
]


@pytest.mark.parametrize(("case", "text", "fragments"), OBJECT_FIELDS, ids=[c[0] for c in OBJECT_FIELDS])
def test_broken_input_names_file_line_and_field(
    tmp_path: Path, case: str, text: str, fragments: list[str]
) -> None:
    src = gen(tmp_path, {"ok.xml": SAMPLE, "bad.xml": text})
    with pytest.raises(InputFileError) as info:
        voc.read(src, stems=["ok", "bad"])
    assert info.value.path == src / "bad.xml"
    assert_names(info.value, "bad.xml", *fragments)


def test_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    text = '<?xml version="1.0" encoding="utf-8"?>\n<annotation>\n<object><name>caf\xe9</name></object>'
    text += "</annotation>"
    src = gen(tmp_path, {"bad.xml": text.encode("latin-1")})
    with pytest.raises(InputFileError) as info:
        voc.read(src, stems=["bad"])
    assert_names(info.value, "bad.xml:3", "not well-formed")


def test_declared_latin1_encoding_is_honoured(tmp_path: Path) -> None:
    text = (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n<annotation><object><name>caf\xe9</name>'
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>"
    )
    src = gen(tmp_path, {"a.xml": text.encode("latin-1")})
    assert voc.read(src, stems=["a"]).boxes.column("class_name").to_pylist() == ["caf\xe9"]


def test_two_files_for_one_stem_is_an_error(tmp_path: Path) -> None:
    src = gen(tmp_path, {"a.xml": SAMPLE, "0a/a.xml": SAMPLE})
    with pytest.raises(InputFileError) as info:
        voc.read(src, stems=["a"])
    assert_names(info.value, "a.xml", "second annotation file")


def test_source_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        voc.read(tmp_path / "missing", stems=["a"])
    assert_names(info.value, "missing", "not a folder")

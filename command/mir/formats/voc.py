"""Pascal VOC XML: one ``<stem>.xml`` per image, YMIR's dialect.

Boxes are *inclusive* pixel corners, as in YMIR and the VOC devkit: ``w = xmax - xmin + 1``. Unlike
YMIR we keep fractional coordinates instead of truncating them. YMIR's extensions are read and
written: ``bndbox/rotate_angle``, ``confidence`` (score), ``box_quality``, per-box ``<tags>``,
image-level ``<cks>`` and ``<image_quality>``. ``difficult`` other than 0 becomes the box tag
``difficult`` (and is written back as ``<difficult>``) so that VOC-devkit datasets keep that flag.

Parsing uses the C ElementTree parser, about 35 us for a small file; box line numbers come from a
byte scan for ``<object`` rather than a slower parser that tracks lines.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import pyarrow as pa

from mir.errors import InputFileError, InvalidArgsError
from mir.formats import _common as common
from mir.formats.base import ExportSelection, MapFn, ReadResult, Side, Sizes, serial_map

SUFFIX = ".xml"
_XML_NAME = re.compile(r"[A-Za-z_][\w.\-]*\Z")
_TAG_FIX = "fix the XML (an unclosed tag or a stray '&' or '<' is the usual cause)"


def read(
    source: Path,
    *,
    stems: Sequence[str],
    map_fn: MapFn = serial_map,
    sizes: Sizes | None = None,
    side: Side = "gt",
) -> ReadResult:
    """Read ``<stem>.xml`` files from ``source`` (flat, or in YMIR's ``<hh>/`` shard folders).

    ``sizes`` and ``side`` are ignored: VOC boxes are in pixels, and a box with ``<confidence>`` is
    a prediction wherever it is imported.
    """
    if not source.is_dir():
        raise InputFileError(
            source, "is not a folder", fix="pass the folder that holds the <image stem>.xml files"
        )
    found, unmatched = common.find_by_stem(common.shard_dirs(source), SUFFIX, stems)
    paths = [found[stem] for stem in sorted(found)]
    chunks = common.run_chunks(parse_chunk, paths, map_fn)
    return common.read_result(chunks, unmatched=unmatched, source=source)


def parse_chunk(paths: list[str]) -> pa.Table:
    """Parse VOC files into one chunk table (runs in a worker process)."""
    columns = common.BoxColumns()
    for path in paths:
        _parse_file(path, columns)
    return columns.to_chunk()


def _parse_file(path: str, columns: common.BoxColumns) -> None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise common.FileProblem(
            path, f"cannot be read: {exc.strerror}", None, "check its permissions"
        ) from None
    if not data.strip():
        raise common.FileProblem(
            path,
            "is empty",
            None,
            "write a VOC <annotation> document, or delete the file for an image without boxes",
        )
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0]
        reason = str(exc).split(": line ")[0]
        raise common.FileProblem(path, f"is not well-formed XML ({reason})", line, _TAG_FIX) from None
    if root.tag != "annotation":
        raise common.FileProblem(
            path, f"root element is <{root.tag}>, expected <annotation>", None, "pass Pascal VOC XML files"
        )
    name = os.path.basename(path)[: -len(SUFFIX)]
    objects = root.findall("object")
    lines = _object_lines(data, len(objects))
    for number, (obj, line) in enumerate(zip(objects, lines, strict=True), start=1):
        _parse_object(
            obj, path=path, name=name, where=f"object[{number}]", line=line or None, columns=columns
        )
    image_tags = _children(root.find("cks"))
    quality = root.findtext("image_quality")
    if quality is not None:
        common.parse_float(quality, path=path, line=None, field="image_quality")
        image_tags.append(("image_quality", quality.strip()))
    columns.add_image_tags(name, image_tags, file=path)


def _parse_object(
    obj: ET.Element, *, path: str, name: str, where: str, line: int | None, columns: common.BoxColumns
) -> None:
    class_name = (obj.findtext("name") or "").strip()
    if not class_name:
        raise common.FileProblem(
            path, f"{where}/name is missing or empty", line, "give every <object> a <name>"
        )
    box = obj.find("bndbox")
    if box is None:
        raise common.FileProblem(
            path,
            f"{where} has no <bndbox>",
            line,
            "add <bndbox> with xmin, ymin, xmax, ymax, or remove the object",
        )
    try:  # fast path; the checked one below names the field that is wrong
        xmin, ymin = float(box.findtext("xmin")), float(box.findtext("ymin"))  # type: ignore[arg-type]
        xmax, ymax = float(box.findtext("xmax")), float(box.findtext("ymax"))  # type: ignore[arg-type]
        if not math.isfinite(xmin + ymin + xmax + ymax):
            raise ValueError
    except (TypeError, ValueError):
        xmin, ymin, xmax, ymax = (
            common.parse_float(box.findtext(key), path=path, line=line, field=f"{where}/bndbox/{key}")
            for key in ("xmin", "ymin", "xmax", "ymax")
        )
    tags_element = obj.find("tags")
    tags = dict(_children(tags_element)) if tags_element is not None else {}
    difficult = obj.findtext("difficult")
    if difficult is not None and difficult.strip() not in ("0", ""):
        tags.setdefault("difficult", difficult.strip())
    columns.add_box(
        name,
        class_name,
        (xmin, ymin, xmax - xmin + 1, ymax - ymin + 1),
        file=path,
        line=line or 0,
        rotation=_optional(box, "rotate_angle", 0.0, path=path, line=line, where=f"{where}/bndbox"),
        score=_optional(obj, "confidence", -1.0, path=path, line=line, where=where),
        quality=_optional(obj, "box_quality", -1.0, path=path, line=line, where=where),
        tags=list(tags.items()) if tags else None,
    )


def _optional(
    parent: ET.Element, key: str, default: float, *, path: str, line: int | None, where: str
) -> float:
    text = parent.findtext(key)
    if text is None or not text.strip():
        return default
    return common.parse_float(text, path=path, line=line, field=f"{where}/{key}")


def _children(element: ET.Element | None) -> common.Tags:
    if element is None:
        return []
    return [(child.tag, (child.text or "").strip()) for child in element]


def _object_lines(data: bytes, count: int) -> list[int]:
    """1-based lines of the ``<object>`` start tags, or zeros when the scan and the parser disagree."""
    lines: list[int] = []
    line, pos = 1, 0
    while (start := data.find(b"<object", pos)) >= 0:
        line += data.count(b"\n", pos, start)
        pos = start + 7
        if data[pos : pos + 1] in (b">", b" ", b"\t", b"\n", b"\r", b"/"):
            lines.append(line)
    return lines if len(lines) == count else [0] * count


def write(selection: ExportSelection, out_dir: Path) -> dict[str, str]:
    """Write ``out_dir/<asset_id[-2:]>/<asset_id>.xml`` for every asset, with or without boxes.

    ``filename`` is the base name of ``image_path``; boxes are written inclusive, integers without
    a decimal point; ``confidence`` only where ``score >= 0``, ``box_quality`` only where it is known.
    """
    assets = selection.assets.sort_by("asset_id")
    objects = _object_xml(selection)
    tags_column = assets.column("tags").to_pylist() if "tags" in assets.column_names else None
    stems = common.file_stems(assets)
    written: dict[str, str] = {}
    for i, (asset_id, width, height, depth, image_path) in enumerate(
        zip(
            *(
                assets.column(c).to_pylist()
                for c in ("asset_id", "width", "height", "channels", "image_path")
            ),
            strict=True,
        )
    ):
        image_tags = dict(tags_column[i] or []) if tags_column else {}
        quality = image_tags.pop("image_quality", None)
        parts = [
            "<annotation>\n",
            f"  <filename>{escape(os.path.basename(str(image_path)))}</filename>\n",
            f"  <size><width>{width}</width><height>{height}</height><depth>{depth}</depth></size>\n",
            "  <segmented>0</segmented>\n",
        ]
        if image_tags:
            parts.append(f"  <cks>{_elements(image_tags, asset_id)}</cks>\n")
        if quality is not None:
            parts.append(f"  <image_quality>{escape(quality)}</image_quality>\n")
        parts.extend(objects.get(asset_id, ()))
        parts.append("</annotation>\n")
        path = common.annotation_path(out_dir, asset_id, SUFFIX, stems[i])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(parts), encoding="utf-8")
        written[asset_id] = str(path)
    return written


def _object_xml(selection: ExportSelection) -> dict[str, list[str]]:
    """The ``<object>`` elements of each asset, in box order."""
    boxes = common.sorted_boxes(selection.boxes)
    if boxes.num_rows == 0:
        return {}
    xmax, ymax = common.inclusive_corners(boxes)
    asset_ids = boxes.column("asset_id").to_pylist()
    class_ids = boxes.column("class_id").to_pylist()
    scores = boxes.column("score").to_pylist()
    qualities = boxes.column("quality").to_pylist()
    marks = boxes.column("mark").to_pylist()
    tags_list = boxes.column("tags").to_pylist()
    texts = zip(
        *(
            common.num_strings(col)
            for col in (
                boxes.column("x"),
                boxes.column("y"),
                xmax,
                ymax,
                boxes.column("rotation"),
                boxes.column("score"),
                boxes.column("quality"),
            )
        ),
        strict=True,
    )
    names = [escape(name) for name in selection.class_names]
    result: dict[str, list[str]] = {}
    for i, (xs, ys, x2, y2, rot, score, quality) in enumerate(texts):
        tags = dict(tags_list[i] or [])
        difficult = tags.pop("difficult", "0")
        parts = [
            f"  <object>\n    <name>{names[class_ids[i]]}</name>\n",
            f"    <difficult>{escape(difficult)}</difficult>\n",
            f"    <bndbox><xmin>{xs}</xmin><ymin>{ys}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
            f"<rotate_angle>{rot}</rotate_angle></bndbox>\n",
        ]
        if scores[i] >= 0:
            parts.append(f"    <confidence>{score}</confidence>\n")
        if qualities[i] >= 0:
            parts.append(f"    <box_quality>{quality}</box_quality>\n")
        if marks[i]:
            parts.append(f"    <cm>{marks[i]}</cm>\n")
        if tags:
            parts.append(f"    <tags>{_elements(tags, asset_ids[i])}</tags>\n")
        parts.append("  </object>\n")
        result.setdefault(asset_ids[i], []).append("".join(parts))
    return result


def _elements(tags: dict[str, str], asset_id: str) -> str:
    """``<key>value</key>`` for each tag; a key that is no XML name cannot be written as VOC."""
    for key in tags:
        if not _XML_NAME.match(key) or key.lower().startswith("xml"):
            raise InvalidArgsError(
                f"tag key {key!r} of asset {asset_id} cannot be written as a VOC XML element name",
                fix="rename the tag (letters, digits, '_', '-', '.'; no digit first) or export as coco",
            )
    return "".join(f"<{key}>{escape(value)}</{key}>" for key, value in tags.items())

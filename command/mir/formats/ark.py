"""YMIR's ``ark`` text: one ``<asset_id>.txt`` per asset, one box a line.

Line layout, as YMIR's exporter writes it: ``class_index, xmin, ymin, xmax, ymax, quality, rotation``
with *inclusive* corners (``xmax = x + w - 1``), fields separated by ``", "``. YMIR's container doc
says "x, y, w, h" but its code writes the corners; we follow the code. ``quality`` and ``rotation``
may be left out when reading. ark has no score, so a prediction export loses it.

The class index refers to a class list the format does not carry: the writer adds ``classes.txt``
beside the shard folders and the reader requires ``classes.txt`` or ``labels.txt``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from mir.errors import InputFileError
from mir.formats import _common as common
from mir.formats.base import ExportSelection, MapFn, ReadResult, Side, Sizes, serial_map

CLASS_FILES = ("classes.txt", "labels.txt")
SUFFIX = ".txt"
_FIELDS = ("class", "xmin", "ymin", "xmax", "ymax", "quality", "rotation")
_LAYOUT = (
    "Expected 7 comma-separated fields (class, xmin, ymin, xmax, ymax, quality, rotation),"
    " the last two optional"
)


def read(
    source: Path,
    *,
    stems: Sequence[str],
    map_fn: MapFn = serial_map,
    sizes: Sizes | None = None,
    side: Side = "gt",
) -> ReadResult:
    """Read ``<stem>.txt`` files from ``source``, flat or in ``<hh>/`` shards.

    ``sizes`` and ``side`` are ignored: ark boxes are pixels and have no score.
    """
    if not source.is_dir():
        raise InputFileError(
            source, "is not a folder", fix="pass the folder holding the .txt files and classes.txt"
        )
    class_names = read_class_names(source)
    found, unmatched = common.find_by_stem(
        common.shard_dirs(source), SUFFIX, stems, skip=frozenset(CLASS_FILES)
    )
    parse = functools.partial(parse_chunk, class_names=tuple(class_names))
    chunks = common.run_chunks(parse, [found[s] for s in sorted(found)], map_fn)
    return common.read_result(chunks, unmatched=unmatched, source=source, declared=class_names)


def read_class_names(source: Path) -> list[str]:
    """The class list (``classes.txt``, else ``labels.txt``), one name a line, line 1 = class 0."""
    for name in CLASS_FILES:
        if (source / name).is_file():
            with common.user_errors():
                return common.read_class_list(source / name)
    raise InputFileError(
        source,
        "holds no classes.txt or labels.txt, and ark lines name classes only by index",
        fix="write the class names one per line into classes.txt (line 1 = class 0)",
    )


def parse_chunk(paths: list[str], *, class_names: tuple[str, ...]) -> pa.Table:
    """Parse ark files into one chunk table (runs in a worker)."""
    columns = common.BoxColumns()
    for path in paths:
        _parse_file(path, class_names, columns)
    return columns.to_chunk()


def _parse_file(path: str, class_names: tuple[str, ...], columns: common.BoxColumns) -> None:
    name = os.path.basename(path)[: -len(SUFFIX)]
    for number, line in enumerate(common.read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if not 5 <= len(fields) <= 7:
            hint = "; fields are separated by commas" if len(fields) == 1 and len(line.split()) > 1 else ""
            raise common.FileProblem(
                path, f"{_LAYOUT}, got {len(fields)}{hint}", number, "write one box per line"
            )
        class_index = common.parse_index(
            fields[0], path=path, line=number, field="field 1 (class)", count=len(class_names)
        )
        xmin, ymin, xmax, ymax, quality, rotation = (
            common.parse_float(fields[i], path=path, line=number, field=f"field {i + 1} ({_FIELDS[i]})")
            if i < len(fields)
            else default
            for i, default in zip(range(1, 7), (0.0, 0.0, 0.0, 0.0, -1.0, 0.0), strict=True)
        )
        columns.add_box(
            name,
            class_names[class_index],
            (xmin, ymin, xmax - xmin + 1, ymax - ymin + 1),
            file=path,
            line=number,
            rotation=rotation,
            quality=quality,
        )


def write(selection: ExportSelection, out_dir: Path) -> dict[str, str]:
    """Write ``out_dir/<asset_id[-2:]>/<asset_id>.txt`` for every asset (empty without boxes), and
    ``out_dir/classes.txt``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    common.write_class_list(out_dir / CLASS_FILES[0], selection.class_names)
    return common.write_per_asset(
        selection.assets,
        _lines(selection.boxes),
        lambda asset_id, stem: common.annotation_path(out_dir, asset_id, SUFFIX, stem),
    )


def _lines(boxes: pa.Table) -> dict[str, list[str]]:
    boxes = common.sorted_boxes(boxes)
    if boxes.num_rows == 0:
        return {}
    xmax, ymax = common.inclusive_corners(boxes)
    texts = zip(
        boxes.column("asset_id").to_pylist(),
        boxes.column("class_id").to_pylist(),
        *(
            common.num_strings(c)
            for c in (
                boxes.column("x"),
                boxes.column("y"),
                xmax,
                ymax,
                boxes.column("quality"),
                boxes.column("rotation"),
            )
        ),
        strict=True,
    )
    result: dict[str, list[str]] = {}
    for asset_id, class_id, *values in texts:
        result.setdefault(asset_id, []).append(f"{class_id}, {', '.join(values)}\n")
    return result

"""YOLO text labels: ``<stem>.txt`` with ``class xc yc w h [score]`` per line, normalised to 0..1.

Class names come from ``data.yaml`` (``names:`` as a list or an ``{index: name}`` mapping, the
Ultralytics layout) or ``classes.txt`` (one name a line, line 1 = class 0); when both exist they must
agree. Label files are searched in the folder itself and anywhere under ``labels/``.

Coordinates are relative to the image size, so reading needs ``sizes`` (stem -> width, height);
pixel values are rounded to 2 decimals, which makes integer boxes round-trip exactly through the
``%.6f`` text for images up to about 6000 px. YOLO has no rotation, quality or tags: a writer drops
them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from mir.errors import InputFileError
from mir.formats import _common as common
from mir.formats.base import ExportSelection, MapFn, ReadResult, Side, Sizes, serial_map

CLASSES_FILE = "classes.txt"
DATA_YAML = "data.yaml"
LABELS_DIR = "labels"
SUFFIX = ".txt"
_FIELDS = ("class", "xc", "yc", "w", "h", "score")
_LAYOUT = "Expected 5 fields (class, xc, yc, w, h), or 6 with a score"
_EPS = 1e-6  # normalised values this far outside 0..1 are rounding, not errors


def read(
    source: Path,
    *,
    stems: Sequence[str],
    map_fn: MapFn = serial_map,
    sizes: Sizes | None = None,
    side: Side = "gt",
) -> ReadResult:
    """Read YOLO labels under ``source`` for the images ``stems``, denormalised with ``sizes``.

    A 6th field is read as the box's score, so the same files serve as predictions; ``side`` is
    ignored.
    """
    if not source.is_dir():
        raise InputFileError(
            source, "is not a folder", fix="pass the folder with classes.txt or data.yaml and labels/"
        )
    class_names = read_class_names(source)
    dirs = [str(source)]
    if (source / LABELS_DIR).is_dir():
        dirs += common.tree_dirs(source / LABELS_DIR)
    found, unmatched = common.find_by_stem(dirs, SUFFIX, stems, skip=frozenset({CLASSES_FILE}))
    if found and sizes is None:
        raise InputFileError(
            source,
            "YOLO coordinates are relative to the image size, and no image sizes were given",
            fix="import the images together with their labels (mir import passes their sizes)",
        )
    items = []
    for stem in sorted(found):
        size = sizes.get(stem) if sizes is not None else None
        if size is None:
            raise InputFileError(
                found[stem],
                f"the size of image {stem!r} is unknown",
                fix="import the image together with its label file",
            )
        items.append(f"{found[stem]}\t{size[0]}\t{size[1]}")
    parse = functools.partial(parse_chunk, class_names=tuple(class_names))
    chunks = common.run_chunks(parse, items, map_fn)
    return common.read_result(chunks, unmatched=unmatched, source=source, declared=class_names)


def read_class_names(source: Path) -> list[str]:
    """The class list from ``data.yaml`` and/or ``classes.txt``; they must agree when both exist."""
    yaml_path, txt_path = source / DATA_YAML, source / CLASSES_FILE
    if not yaml_path.is_file() and not txt_path.is_file():
        raise InputFileError(
            source,
            f"holds neither {CLASSES_FILE} nor {DATA_YAML}",
            fix=f"write the class names one per line into {CLASSES_FILE} (line 1 = class 0)",
        )
    with common.user_errors():
        from_txt = common.read_class_list(txt_path) if txt_path.is_file() else None
        from_yaml = _yaml_names(yaml_path) if yaml_path.is_file() else None
    if from_txt is not None and from_yaml is not None and from_txt != from_yaml:
        raise InputFileError(
            yaml_path,
            f"names {from_yaml[:5]} disagree with {txt_path} {from_txt[:5]}",
            fix="make the two class lists equal, or delete one",
        )
    names = from_yaml if from_yaml is not None else from_txt
    assert names is not None
    return names


def _yaml_names(path: Path) -> list[str]:
    try:
        doc = yaml.safe_load(common.read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise common.FileProblem(
            str(path),
            f"is not valid YAML ({getattr(exc, 'problem', None) or exc})",
            mark.line + 1 if mark is not None else None,
            "fix the YAML syntax",
        ) from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict) and names:
        if sorted(names) != list(range(len(names))):
            raise common.FileProblem(
                str(path),
                f"names keys must be 0..{len(names) - 1}, got {sorted(names)[:8]}",
                None,
                "number the classes from 0 without gaps",
            )
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names or not all(isinstance(n, str | int) for n in names):
        raise common.FileProblem(
            str(path),
            "names must be a non-empty list of class names or {index: name}",
            None,
            "write e.g. `names: [cat, dog]`",
        )
    result = [str(n).strip() for n in names]
    if not all(result):
        raise common.FileProblem(
            str(path), "names holds an empty class name", None, "give every class a name"
        )
    declared = doc.get("nc") if isinstance(doc, dict) else None
    if declared is not None and declared != len(result):
        raise common.FileProblem(
            str(path),
            f"nc is {declared} but names lists {len(result)} classes",
            None,
            "make nc equal the number of names, or remove nc",
        )
    return result


def parse_chunk(items: list[str], *, class_names: tuple[str, ...]) -> pa.Table:
    """Parse ``"<path>\\t<width>\\t<height>"`` items into one chunk table (runs in a worker)."""
    columns = common.BoxColumns()
    for item in items:
        path, width, height = item.split("\t")
        _parse_file(path, float(width), float(height), class_names, columns)
    return columns.to_chunk()


def _parse_file(
    path: str, width: float, height: float, class_names: tuple[str, ...], columns: common.BoxColumns
) -> None:
    name = os.path.basename(path)[: -len(SUFFIX)]
    for number, line in enumerate(common.read_text(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (5, 6):
            raise common.FileProblem(
                path,
                f"{_LAYOUT}, got {len(fields)}",
                number,
                "write one box per line; polygons and keypoints are not supported",
            )
        class_index = common.parse_index(
            fields[0], path=path, line=number, field="field 1 (class)", count=len(class_names)
        )
        values = []
        for position in range(1, len(fields)):
            label = f"field {position + 1} ({_FIELDS[position]})"
            value = common.parse_float(fields[position], path=path, line=number, field=label)
            if not -_EPS <= value <= 1 + _EPS:
                raise common.FileProblem(
                    path,
                    f"{label} = {fields[position]} is outside 0..1",
                    number,
                    "YOLO values are fractions of the image size (and scores 0..1)",
                )
            values.append(value)
        xc, yc, w, h = values[:4]
        box_w, box_h = w * width, h * height
        columns.add_box(
            name,
            class_names[class_index],
            (
                round(xc * width - box_w / 2, 2),
                round(yc * height - box_h / 2, 2),
                round(box_w, 2),
                round(box_h, 2),
            ),
            file=path,
            line=number,
            score=values[4] if len(values) == 5 else -1.0,
        )


def write(selection: ExportSelection, out_dir: Path) -> dict[str, str]:
    """Write ``classes.txt``, ``data.yaml`` and ``labels/<asset_id>.txt`` (empty for assets without boxes).

    Values are ``%.6f`` fractions of the image size; a 6th field holds the score where ``score >= 0``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    common.write_class_list(out_dir / CLASSES_FILE, selection.class_names)
    data = {"nc": len(selection.class_names), "names": list(selection.class_names)}
    (out_dir / DATA_YAML).write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    labels = out_dir / LABELS_DIR
    return common.write_per_asset(
        selection.assets, _lines(selection), lambda asset_id, stem: labels / f"{stem or asset_id}{SUFFIX}"
    )


def _lines(selection: ExportSelection) -> dict[str, list[str]]:
    """The label lines of each asset, computed column-wise."""
    boxes = common.sorted_boxes(selection.boxes)
    if boxes.num_rows == 0:
        return {}
    assets = selection.assets
    rows = pc.index_in(boxes.column("asset_id"), value_set=assets.column("asset_id")).to_numpy(
        zero_copy_only=False
    )
    width = assets.column("width").to_numpy().astype(np.float64)[rows]
    height = assets.column("height").to_numpy().astype(np.float64)[rows]
    x, y, w, h = (boxes.column(c).to_numpy().astype(np.float64) for c in ("x", "y", "w", "h"))
    xc, yc, wn, hn = (x + w / 2) / width, (y + h / 2) / height, w / width, h / height
    scores = boxes.column("score").to_numpy()
    result: dict[str, list[str]] = {}
    for i, (asset_id, class_id) in enumerate(
        zip(boxes.column("asset_id").to_pylist(), boxes.column("class_id").to_pylist(), strict=True)
    ):
        score = f" {scores[i]:.6f}" if scores[i] >= 0 else ""
        result.setdefault(asset_id, []).append(
            f"{class_id} {xc[i]:.6f} {yc[i]:.6f} {wn[i]:.6f} {hn[i]:.6f}{score}\n"
        )
    return result

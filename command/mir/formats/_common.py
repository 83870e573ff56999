"""Helpers every format shares: column builders, file discovery by stem, field parsing, chunked runs.

Readers build Arrow tables from plain Python lists, one chunk of files at a time, so that no per-box
object outlives its chunk (a million boxes as Python objects is what made YMIR slow). Parsing helpers
raise :class:`FileProblem`, a picklable stand-in for :class:`mir.errors.InputFileError` that can cross
a process boundary; :func:`user_errors` turns it into the real error at the reader's edge.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mir.errors import InputFileError
from mir.formats.base import MapFn, ReadResult
from mir.store import schema

Tags = list[tuple[str, str]]

# Image-level rows travel in the same chunk table as boxes (a chunk function returns one table);
# this flag tells them apart and is dropped before the reader returns.
CHUNK_SCHEMA = schema.RAW_BOXES.append(pa.field("image_level", pa.bool_(), nullable=False))

# How many annotation files one worker call parses: big enough to amortise pickling, small enough to
# spread a few thousand files over several workers.
CHUNK_MIN, CHUNK_MAX = 256, 4096


class FileProblem(Exception):
    """A malformed user file found in (possibly) a worker process; see :func:`user_errors`.

    ``InputFileError`` cannot be unpickled (its ``__init__`` takes other arguments than it passes to
    ``Exception``), so workers raise this and the reader re-raises the real error.
    """

    def __init__(self, path: str, problem: str, line: int | None = None, fix: str = "") -> None:
        super().__init__(path, problem, line, fix)
        self.path, self.problem, self.line, self.fix = path, problem, line, fix

    def to_error(self) -> InputFileError:
        """The user-facing error carrying the same facts."""
        return InputFileError(self.path, self.problem, line=self.line, fix=self.fix)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`FileProblem` raised inside the block into :class:`InputFileError`."""
    try:
        yield
    except FileProblem as exc:
        raise exc.to_error() from exc


class BoxColumns:
    """Plain-list columns of ``RAW_BOXES`` plus image-level tag rows, filled one box at a time."""

    def __init__(self) -> None:
        self.name: list[str] = []
        self.class_name: list[str] = []
        self.x: list[float] = []
        self.y: list[float] = []
        self.w: list[float] = []
        self.h: list[float] = []
        self.rotation: list[float] = []
        self.score: list[float] = []
        self.quality: list[float] = []
        self.tags: list[Tags | None] = []
        self.file: list[str] = []
        self.line: list[int] = []
        self.image_level: list[bool] = []

    def add_box(
        self,
        name: str,
        class_name: str,
        xywh: tuple[float, float, float, float],
        *,
        file: str,
        line: int,
        rotation: float = 0.0,
        score: float = -1.0,
        quality: float = -1.0,
        tags: Tags | None = None,
    ) -> None:
        """Append one box: pixel top-left ``x, y`` and size ``w, h`` of image ``name`` (its stem)."""
        self.name.append(name)
        self.class_name.append(class_name)
        self.x.append(xywh[0])
        self.y.append(xywh[1])
        self.w.append(xywh[2])
        self.h.append(xywh[3])
        self.rotation.append(rotation)
        self.score.append(score)
        self.quality.append(quality)
        self.tags.append(tags or None)
        self.file.append(file)
        self.line.append(line)
        self.image_level.append(False)

    def add_image_tags(self, name: str, tags: Tags, *, file: str) -> None:
        """Append the image-level tags of image ``name`` (ignored when empty)."""
        if not tags:
            return
        self.add_box(name, "", (0.0, 0.0, 0.0, 0.0), file=file, line=0, tags=tags)
        self.image_level[-1] = True

    def to_chunk(self) -> pa.Table:
        """The chunk table (``CHUNK_SCHEMA``); Arrow infers nothing."""
        return pa.table(
            [
                pa.array(self.name, pa.string()),
                pa.array(self.class_name, pa.string()),
                pa.array(self.x, pa.float32()),
                pa.array(self.y, pa.float32()),
                pa.array(self.w, pa.float32()),
                pa.array(self.h, pa.float32()),
                pa.array(self.rotation, pa.float32()),
                pa.array(self.score, pa.float32()),
                pa.array(self.quality, pa.float32()),
                pa.array(self.tags, schema.TAGS_TYPE),
                pa.array(self.file, pa.string()),
                pa.array(self.line, pa.int32()),
                pa.array(self.image_level, pa.bool_()),
            ],
            schema=CHUNK_SCHEMA,
        )


def read_result(
    chunks: Sequence[pa.Table], *, unmatched: Sequence[str], source: Path, declared: list[str] | None = None
) -> ReadResult:
    """What a reader of one annotation file per image found: its chunk tables as boxes and image tags,
    the ``declared`` class names, and a warning naming the files that match no image."""
    boxes, image_tags = split_chunks(chunks)
    return ReadResult(
        boxes=boxes,
        image_tags=image_tags,
        declared_classes=declared or [],
        warnings=unmatched_warning(unmatched, source),
    )


def split_chunks(chunks: Sequence[pa.Table]) -> tuple[pa.Table, pa.Table]:
    """Concatenate chunk tables and split them into ``RAW_BOXES`` and ``RAW_IMAGE_TAGS`` tables."""
    if not chunks:
        return schema.empty(schema.RAW_BOXES), schema.empty(schema.RAW_IMAGE_TAGS)
    table = pa.concat_tables(chunks)
    flag = table.column("image_level")
    boxes = table.filter(pc.invert(flag)).select(schema.RAW_BOXES.names).cast(schema.RAW_BOXES)
    images = table.filter(flag).select(schema.RAW_IMAGE_TAGS.names).cast(schema.RAW_IMAGE_TAGS)
    return boxes, images


def run_chunks(fn: Callable[[list[str]], pa.Table], items: list[str], map_fn: MapFn) -> list[pa.Table]:
    """Run ``fn`` over ``items`` in chunks through ``map_fn``; ``FileProblem`` becomes ``InputFileError``.

    ``fn`` must be a module-level function or a ``functools.partial`` of one: ``map_fn`` may pickle it.
    """
    if not items:
        return []
    size = max(CHUNK_MIN, min(CHUNK_MAX, math.ceil(len(items) / 64)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with user_errors():
        return list(map_fn(fn, chunks))


def stem_of(file_name: str) -> str:
    """The stem of a file name or path: its base name without the last suffix."""
    base = os.path.basename(file_name)
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


def _scan(folder: str, suffix: str) -> Iterator[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(suffix) and entry.is_file():
                yield entry


def shard_dirs(folder: Path) -> list[str]:
    """``folder`` and its two-character subfolders (YMIR's export layout ``<asset_id[-2:]>/``)."""
    with os.scandir(folder) as entries:
        return [str(folder)] + sorted(e.path for e in entries if len(e.name) == 2 and e.is_dir())


def tree_dirs(folder: Path) -> list[str]:
    """``folder`` and every folder below it, in a stable order."""
    found = [str(folder)]
    for parent, subdirs, _ in os.walk(folder):
        subdirs.sort()
        found += [os.path.join(parent, d) for d in subdirs]
    return found


def find_by_stem(
    dirs: Iterable[str], suffix: str, stems: Sequence[str], *, skip: frozenset[str] = frozenset()
) -> tuple[dict[str, str], list[str]]:
    """Map each stem of ``stems`` to its annotation file ``<stem><suffix>`` in one of ``dirs``.

    ``skip`` names files that are not annotations (``classes.txt``). Two files for one wanted stem
    are ambiguous and an error.

    Returns:
        ``{stem: path}`` for the stems that have a file, and the paths of the files no stem wants.
    """
    wanted = set(stems)
    found: dict[str, str] = {}
    unmatched: list[str] = []
    for directory in dirs:
        for entry in _scan(directory, suffix):
            if entry.name in skip:
                continue
            stem = entry.name[: -len(suffix)]
            if stem not in wanted:
                unmatched.append(entry.path)
            elif stem in found:
                raise InputFileError(
                    entry.path,
                    f"a second annotation file for image {stem!r} (the first is {found[stem]})",
                    fix="keep one annotation file per image stem",
                )
            else:
                found[stem] = entry.path
    return found, unmatched


def unmatched_warning(files: Sequence[str], source: Path, what: str = "annotation file(s)") -> list[str]:
    """One aggregated warning line for annotation files that match no imported image."""
    if not files:
        return []
    examples = ", ".join(os.path.basename(f) for f in sorted(files)[:3])
    return [f"{len(files)} {what} in {source} match no imported image (e.g. {examples}); not read"]


def parse_float(text: str | None, *, path: str, line: int | None, field: str) -> float:
    """Parse a finite number for ``field`` or raise :class:`FileProblem` naming it."""
    if text is None:
        raise FileProblem(path, f"{field} is missing", line, "add it")
    try:
        value = float(text)
    except ValueError:
        raise FileProblem(
            path, f"{field} is not a number: {text.strip()[:40]!r}", line, "write a decimal number"
        ) from None
    if not math.isfinite(value):
        raise FileProblem(path, f"{field} is not finite: {text.strip()!r}", line, "write a finite number")
    return value


def parse_index(text: str, *, path: str, line: int, field: str, count: int) -> int:
    """Parse a class index ``0 <= i < count`` for ``field`` or raise :class:`FileProblem`."""
    try:
        value = int(text)
    except ValueError:
        raise FileProblem(
            path, f"{field} is not an integer: {text.strip()[:40]!r}", line, "write the class's 0-based index"
        ) from None
    if not 0 <= value < count:
        raise FileProblem(
            path,
            f"{field} {value} is out of range: {count} class(es) are declared",
            line,
            "use an index from the class list, or add the class to it",
        )
    return value


def read_text(path: Path | str) -> str:
    """Read a user's text file as UTF-8 (a BOM is allowed) or raise :class:`FileProblem` naming the line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FileProblem(
            str(path), f"cannot be read: {exc.strerror}", None, "check the path and permissions"
        ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileProblem(
            str(path),
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            line,
            "re-save the file as UTF-8",
        ) from None


def read_class_list(path: Path) -> list[str]:
    """Read class names, one a line (``classes.txt``); blank lines at the end are allowed, not inside."""
    lines = read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    names: list[str] = []
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            raise FileProblem(
                str(path),
                "blank line inside the class list (class indices would shift)",
                number,
                "remove the blank line",
            )
        names.append(name)
    if not names:
        raise FileProblem(str(path), "declares no class names", None, "write one class name per line")
    return names


def num_strings(values: pa.Array | pa.ChunkedArray) -> list[str]:
    """Format float32 numbers as their shortest exact text: ``12`` for integers, ``12.34`` otherwise."""
    return list(pc.cast(values, pa.string()).to_pylist())


def sorted_boxes(boxes: pa.Table) -> pa.Table:
    """Boxes in export order: by asset, then by their stable index."""
    return boxes.sort_by([("asset_id", "ascending"), ("index", "ascending")])


def inclusive_corners(boxes: pa.Table) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """YMIR's inclusive ``xmax = x + w - 1`` and ``ymax = y + h - 1`` (computed in float64), as float32."""
    corners = []
    for start, size in (("x", "w"), ("y", "h")):
        total = pc.add(pc.cast(boxes.column(start), pa.float64()), pc.cast(boxes.column(size), pa.float64()))
        corners.append(pc.cast(pc.subtract(total, 1.0), pa.float32()))
    return corners[0], corners[1]


def shard_path(out_dir: Path, asset_id: str, suffix: str) -> Path:
    """YMIR's sharded export path ``out_dir/<asset_id[-2:]>/<asset_id><suffix>``."""
    return out_dir / asset_id[-2:] / f"{asset_id}{suffix}"


def file_stems(assets: pa.Table) -> list[str | None]:
    """Per asset, the stem its annotation file is named by: the ``file_stem`` column where an export
    keeps original image names, else None (named by asset id)."""
    if "file_stem" in assets.column_names:
        return list(assets.column("file_stem").to_pylist())
    return [None] * assets.num_rows


def annotation_path(out_dir: Path, asset_id: str, suffix: str, stem: str | None) -> Path:
    """``out_dir/<stem><suffix>`` next to an image kept under its original name, else the sharded
    ``out_dir/<asset_id[-2:]>/<asset_id><suffix>``."""
    return out_dir / f"{stem}{suffix}" if stem else shard_path(out_dir, asset_id, suffix)


def write_class_list(path: Path, names: Sequence[str]) -> None:
    """Write class names one a line (``classes.txt``: line 1 = class 0), as ``read_class_list`` reads."""
    path.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")


def write_per_asset(
    assets: pa.Table, lines: dict[str, list[str]], path_of: Callable[[str, str | None], Path]
) -> dict[str, str]:
    """Write one text file per asset (empty for an asset without ``lines``) at ``path_of(asset_id,
    file stem)``; return ``{asset_id: path}`` for the export's index."""
    written: dict[str, str] = {}
    for asset_id, stem in zip(assets.column("asset_id").to_pylist(), file_stems(assets), strict=True):
        path = path_of(asset_id, stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines.get(asset_id, ())), encoding="utf-8")
        written[asset_id] = str(path)
    return written


def locate_json(source: Path, default_name: str, fmt: str) -> Path:
    """The JSON file of a single-file format: ``source`` itself, ``source/default_name``, or the only
    ``.json`` file in the folder ``source``."""
    if source.is_file():
        return source
    if not source.is_dir():
        raise InputFileError(
            source, "does not exist", fix=f"pass the {fmt} JSON file or the folder that holds it"
        )
    preferred = source / default_name
    if preferred.is_file():
        return preferred
    candidates = sorted(p for p in source.iterdir() if p.suffix.lower() == ".json" and p.is_file())
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(p.name for p in candidates[:5]) or "none"
    raise InputFileError(
        source,
        f"holds no {default_name} and {len(candidates)} other .json file(s) ({found})",
        fix=f"name the {fmt} file {default_name}, or pass the file itself",
    )


def load_json(path: Path) -> object:
    """Parse a user's JSON file; syntax errors name the parser's line."""
    with user_errors():
        text = read_text(path)
    if not text.strip():
        raise InputFileError(path, "is empty", fix="export the annotations again")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            path,
            f"is not valid JSON ({exc.msg}, column {exc.colno})",
            line=exc.lineno,
            fix="export the file again; a truncated copy is the usual cause",
        ) from None


def json_number(value: object) -> bool:
    """True for a JSON number (``bool`` is no number here), finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def json_values(strings: list[str]) -> list[int | float]:
    """Numbers formatted by :func:`num_strings` as JSON values: ``int`` when integral, else ``float``."""
    return [float(s) if ("." in s or "e" in s or "n" in s) else int(s) for s in strings]

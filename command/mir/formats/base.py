"""The two small protocols every annotation format implements: a reader and a writer.

Readers run at the import edge and return Arrow tables (``RAW_BOXES``, ``RAW_IMAGE_TAGS``): boxes
keyed by image *stem* and class *name*. Import then resolves names to class ids and stems to asset
ids in one vectorised step. Writers run at the export edge and receive the whole selection as Arrow
tables; they never see mir's repository.

Both raise :class:`mir.errors.InputFileError` naming the file, the line where there is one, and
the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import pyarrow as pa

from mir.store import schema

# A function that maps ``fn`` over ``items`` possibly in worker processes, preserving order.
# Import passes one backed by its process pool; tests may pass the builtin ``map`` equivalent.
MapFn = Callable[[Callable[[list[str]], pa.Table], list[list[str]]], list[pa.Table]]

# Which annotations a reader takes or a writer writes: ground truth or predictions (YMIR keeps both).
Side = Literal["gt", "pred"]

# Image sizes by image stem, ``(width, height)`` in pixels: what normalised formats (YOLO) need.
Sizes = Mapping[str, tuple[int, int]]


def serial_map(fn: Callable[[list[str]], pa.Table], chunks: list[list[str]]) -> list[pa.Table]:
    """Run ``fn`` over ``chunks`` in this process."""
    return [fn(chunk) for chunk in chunks]


@dataclass
class ReadResult:
    """What a reader found: boxes (``RAW_BOXES``), image-level tags (``RAW_IMAGE_TAGS``) and the
    class names declared by the source even when no box uses them (COCO categories, YOLO classes).

    ``warnings`` lists, one aggregated line each, what the source holds that was not read (annotation
    files that match no image, Label Studio result types other than rectangles), so import can report
    it instead of losing it silently.
    """

    boxes: pa.Table = field(default_factory=lambda: schema.empty(schema.RAW_BOXES))
    image_tags: pa.Table = field(default_factory=lambda: schema.empty(schema.RAW_IMAGE_TAGS))
    declared_classes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Reader(Protocol):
    """Reads annotations for a set of images from ``source`` (a folder or a file)."""

    def __call__(
        self,
        source: Path,
        *,
        stems: Sequence[str],
        map_fn: MapFn = serial_map,
        sizes: Sizes | None = None,
        side: Side = "gt",
    ) -> ReadResult:
        """Return the boxes of the images whose stems are ``stems``.

        Images without an annotation file simply have no boxes; a *malformed* file is an error.
        ``map_fn`` lets per-image formats spread parsing over the import's worker processes.
        ``sizes`` (stem -> pixel width, height) is required by formats with normalised coordinates
        (YOLO) and ignored by the others; ``side`` picks annotations or predictions where a format keeps
        both in one file (Label Studio) and is ignored by the others.
        """
        ...


@dataclass
class ExportSelection:
    """Everything a writer needs, already resolved by mir.

    ``assets``: columns ``asset_id, width, height, channels, image_format, origin_name, image_path``
    (``image_path`` is the path the exported index refers to). ``boxes``: ``ANNOTATIONS`` columns
    where ``class_id`` is already the position in ``class_names`` (YMIR's "mapped id"). ``assets`` may
    also carry ``tags`` (image-level tags, ``schema.TAGS_TYPE``); writers that can store them do.
    ``side`` says which side the boxes are: formats that distinguish (Label Studio) write them as
    annotations or predictions; the others write a score wherever ``score >= 0``.
    """

    assets: pa.Table
    boxes: pa.Table
    class_names: list[str]
    side: Side = "gt"


class Writer(Protocol):
    """Writes one side (gt or pred) of an export selection under ``out_dir``."""

    def __call__(self, selection: ExportSelection, out_dir: Path) -> dict[str, str]:
        """Write the annotation files and return ``{asset_id: annotation file path}`` for the index."""
        ...

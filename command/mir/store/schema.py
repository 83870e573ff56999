"""Arrow schemas of everything mir stores, declared once; Arrow never infers a type here.

Box convention everywhere inside mir: pixel ``x, y, w, h`` of the top-left corner and size, as
float32 (integers are exact), ``rotation`` in YMIR's unit (multiples of pi).
"""

from __future__ import annotations

import pyarrow as pa

from mir.store.enums import TVT_NAMES, TVT_PREFIXES, Mark, Tvt

__all__ = ["TVT_NAMES", "TVT_PREFIXES", "Mark", "Tvt"]


TAGS_TYPE = pa.map_(pa.string(), pa.string())

ASSETS = pa.schema(
    [
        pa.field("asset_id", pa.string(), nullable=False),  # sha1 hex of the image bytes
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("channels", pa.int8(), nullable=False),
        pa.field("image_format", pa.string(), nullable=False),  # jpeg | png | bmp | webp
        pa.field("byte_size", pa.int64(), nullable=False),
        pa.field("tvt", pa.int8(), nullable=False),  # Tvt
        pa.field("origin_name", pa.string(), nullable=False),  # basename at import
        pa.field("timestamp", pa.int64(), nullable=False),  # import time, unix seconds
        pa.field("tags", TAGS_TYPE),  # image-level tags (YMIR's "cks")
    ]
)

ANNOTATIONS = pa.schema(
    [
        pa.field("asset_id", pa.string(), nullable=False),
        pa.field("index", pa.int32(), nullable=False),  # stable box number within its asset
        pa.field("class_id", pa.int32(), nullable=False),
        pa.field("x", pa.float32(), nullable=False),
        pa.field("y", pa.float32(), nullable=False),
        pa.field("w", pa.float32(), nullable=False),
        pa.field("h", pa.float32(), nullable=False),
        pa.field("rotation", pa.float32(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),  # -1 when the box has none (ground truth)
        pa.field("quality", pa.float32(), nullable=False),  # annotation quality, -1 when unknown
        pa.field("tags", TAGS_TYPE),  # per-box tags
        pa.field("mark", pa.int8(), nullable=False),  # Mark, set by evaluation
        pa.field("link", pa.int32(), nullable=False),  # index of the matched box on the other side, -1
    ]
)

# What a format reader hands to import: boxes keyed by image stem and class *name*, with the
# annotation file and line each came from, so import errors can point at them.
RAW_BOXES = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),  # image file stem the box belongs to
        pa.field("class_name", pa.string(), nullable=False),
        pa.field("x", pa.float32(), nullable=False),
        pa.field("y", pa.float32(), nullable=False),
        pa.field("w", pa.float32(), nullable=False),
        pa.field("h", pa.float32(), nullable=False),
        pa.field("rotation", pa.float32(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("quality", pa.float32(), nullable=False),
        pa.field("tags", TAGS_TYPE),
        pa.field("file", pa.string(), nullable=False),  # annotation file
        pa.field("line", pa.int32(), nullable=False),  # 1-based line in that file, 0 when unknown
    ]
)

RAW_IMAGE_TAGS = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("tags", TAGS_TYPE),
    ]
)


def empty(schema: pa.Schema) -> pa.Table:
    """An empty table of ``schema``."""
    return schema.empty_table()

"""Image decoding and letterboxing to the model's square input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

PAD_VALUE = 114


@dataclass
class Letterboxed:
    """An image scaled (aspect kept) into the top-left of a square ``size`` canvas."""

    pixels: np.ndarray  # (size, size, 3) uint8
    scale: float  # model pixels per original pixel
    width: int  # original size
    height: int


def load_letterboxed(path: Path | str, size: int) -> Letterboxed:
    """Decodes ``path`` and letterboxes it to ``size``.

    JPEGs are decoded at a reduced scale (libjpeg DCT scaling through ``Image.draft``) when the target is at
    most half the original, which makes decoding several times faster for small model inputs.

    Raises:
        OSError or ValueError: When the file cannot be decoded (the callers turn this into ``ImageError``).
    """
    with Image.open(path) as img:
        width, height = img.size
        scale = size / max(width, height)
        if img.format == "JPEG" and scale <= 0.5:
            img.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        rgb = img.convert("RGB")
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        if rgb.size != (new_w, new_h):
            rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
        canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
        canvas[:new_h, :new_w] = np.asarray(rgb)
    return Letterboxed(canvas, scale, width, height)


def decode_rgb(path: Path | str) -> np.ndarray:
    """The whole image as (H, W, 3) uint8 RGB, for files the GPU decoder refuses."""
    with Image.open(path) as img:
        return np.array(img.convert("RGB"))


DECODE_ERRORS = (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError)

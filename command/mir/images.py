"""Image facts read from the file header: format, size and channels, plus a cheap truncation check.

Only the header is decoded (Pillow opens lazily), so reading a million images costs one read of
each file, which import does anyway to hash it.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

SUPPORTED = {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp", "WEBP": "webp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "bmp": "bmp", "webp": "webp"}
_CHANNELS = {
    "1": 1,
    "L": 1,
    "P": 3,
    "RGB": 3,
    "RGBA": 4,
    "LA": 2,
    "CMYK": 4,
    "YCbCr": 3,
    "I": 1,
    "F": 1,
    "I;16": 1,
    "PA": 4,
    "RGBX": 4,
}


@dataclass(frozen=True)
class ImageInfo:
    """What mir records about an image."""

    image_format: str  # jpeg | png | bmp | webp
    width: int
    height: int
    channels: int


class ImageProblem(ValueError):
    """The bytes are not a usable image; the message says why (the caller adds the path)."""


def inspect(data: bytes) -> ImageInfo:
    """Read format, size and channels from ``data``; raise :class:`ImageProblem` when unusable.

    The common formats are read straight from their header bytes (a few microseconds); anything
    the fast path cannot read goes through Pillow, which also gives the precise complaint.
    """
    if not data:
        raise ImageProblem("the file is empty")
    fast = _fast_header(data)
    if fast is not None:
        _check_complete(fast.image_format, data)
        return fast
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            width, height = img.size
            mode = img.mode
    except UnidentifiedImageError as e:
        raise ImageProblem("not an image Pillow can read (expected JPEG, PNG, BMP or WebP)") from e
    except (OSError, SyntaxError, ValueError, struct.error) as e:
        raise ImageProblem(f"corrupt image header ({e})") from e
    if fmt not in SUPPORTED:
        raise ImageProblem(
            f"unsupported image format {fmt or 'unknown'} (mir stores JPEG, PNG, BMP and WebP)"
        )
    if width <= 0 or height <= 0:
        raise ImageProblem(f"image has size {width}x{height}")
    kind = SUPPORTED[fmt]
    _check_complete(kind, data)
    return ImageInfo(image_format=kind, width=width, height=height, channels=_CHANNELS.get(mode, 3))


def _fast_header(data: bytes) -> ImageInfo | None:
    """Parse JPEG SOF, PNG IHDR, BMP and WebP headers directly; None when unsure."""
    try:
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg_header(data)
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            width, height, _depth, color = struct.unpack_from(">IIBB", data, 16)
            channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(color)
            if channels is None or not width or not height:
                return None
            return ImageInfo("png", width, height, channels)
        if data[:2] == b"BM" and len(data) >= 30:
            header_size = struct.unpack_from("<I", data, 14)[0]
            if header_size < 40:
                return None
            width, height, _planes, bpp = struct.unpack_from("<iiHH", data, 18)
            channels = {32: 4, 24: 3, 8: 1}.get(bpp)
            if channels is None or width <= 0 or height == 0:
                return None
            return ImageInfo("bmp", width, abs(height), channels)
    except struct.error:
        return None
    return None


def _jpeg_header(data: bytes) -> ImageInfo | None:
    """Walk JPEG markers up to the first start-of-frame."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width, comps = struct.unpack_from(">HHB", data, pos + 5)
            if not width or not height or comps not in (1, 3, 4):
                return None
            return ImageInfo("jpeg", width, height, comps)
        if marker == 0xDA:
            return None
        pos += 2 + length
    return None


def _check_complete(kind: str, data: bytes) -> None:
    """Detect files cut short (an interrupted copy or download) from their trailer or size field."""
    if kind == "jpeg":
        if b"\xff\xd9" not in data[-4096:]:
            raise ImageProblem("truncated JPEG (no end-of-image marker)")
    elif kind == "png":
        if b"IEND" not in data[-64:]:
            raise ImageProblem("truncated PNG (no IEND chunk)")
    elif kind == "bmp":
        declared = struct.unpack_from("<I", data, 2)[0] if len(data) >= 6 else 0
        if declared and len(data) < declared:
            raise ImageProblem(f"truncated BMP ({len(data)} of {declared} bytes)")
    elif kind == "webp":
        declared = struct.unpack_from("<I", data, 4)[0] + 8 if len(data) >= 8 else 0
        if len(data) < declared:
            raise ImageProblem(f"truncated WebP ({len(data)} of {declared} bytes)")

"""JPEG decoding on the GPU (nvJPEG through torchvision) for mining and inference.

Why: at 640 px a CPU core decodes and letterboxes a 640x480 JPEG in about 6 ms, so even 15 decoding
processes feed an H100 only about 1,200-1,600 images/s, well under what the model runs. nvJPEG decodes
over 15,000 such images/s. Workers then only read file bytes, and the main process decodes a whole
batch on the GPU and letterboxes it there.

torchvision is optional: it ships with the CUDA PyTorch images the executor's Dockerfile builds on, but
the CPU build used for development has none. Without it, or on the CPU, ``available`` is False and the
caller keeps the CPU path. Files that are not JPEG, or that nvJPEG refuses (CMYK, some progressive or
damaged files), fall back to Pillow one by one, so results never depend on which path decoded an image.

Stream safety: torchvision's ``decode_jpeg(device="cuda")`` allocates its outputs on the caller's stream
but lets nvJPEG (the hardware engine of an A100/H100) write them without waiting for the work already
queued there. The caching allocator hands it blocks that queued kernels of the previous batch (top-k
indices, gathers) have freed but not yet read, nvJPEG overwrites them, and those kernels then read
garbage: a wrong score, or an index out of range that ends the process with "device-side assert
triggered" at the next call that waits for the GPU (pytorch/vision PR 9606). The more processes share
the GPU, the longer kernels wait in the queue, and the likelier this is. ``decode_batch`` therefore waits
for the caller's stream before every decode.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ymir_executor.dataset import ImageFiles
from ymir_executor.device import is_cuda_error
from ymir_executor.errors import ImageError
from ymir_executor.images import DECODE_ERRORS, PAD_VALUE, decode_rgb, load_letterboxed

log = logging.getLogger(__name__)

JPEG_MAGIC = b"\xff\xd8\xff"

Decoder = Callable[[list[torch.Tensor], torch.device], list[torch.Tensor]]


@functools.cache
def _decoder() -> Decoder | None:
    """torchvision's batched ``decode_jpeg`` (RGB output), or None when torchvision is missing."""
    try:
        from torchvision.io import ImageReadMode, decode_jpeg  # type: ignore[import-not-found,unused-ignore]
    except Exception:  # noqa: BLE001 - any import failure (missing, or built against another torch) means no
        return None

    def decode(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        out = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return decode


def pillow_decode(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """The CPU stand-in for ``decode_jpeg``: same call, Pillow underneath, RuntimeError on a bad file.

    Used when the GPU decoder fails on a batch (the rest of the task keeps the same batching and
    letterboxing, decoded on the CPU), and by tests to run this module's code path without a GPU.
    """
    out = []
    for d in data:
        try:
            with Image.open(io.BytesIO(d.numpy().tobytes())) as img:
                rgb = np.asarray(img.convert("RGB"))
        except DECODE_ERRORS as exc:
            raise RuntimeError(f"Pillow cannot decode the JPEG ({type(exc).__name__}: {exc})") from exc
        out.append(torch.from_numpy(rgb.copy()).permute(2, 0, 1).to(device))
    return out


def available(device: torch.device) -> bool:
    """True when JPEGs can be decoded on ``device`` (a CUDA device and a working torchvision nvJPEG)."""
    if device.type != "cuda":
        return False
    decode = _decoder()
    if decode is None:
        return False
    try:  # a real decode: torchvision may import yet lack nvJPEG support for this CUDA build
        decode([torch.from_numpy(np.frombuffer(_probe_jpeg(), np.uint8).copy())], device)
    except Exception as exc:  # noqa: BLE001 - any failure means: use the CPU path
        log.info("GPU JPEG decoding unavailable (%s); decoding on the CPU", exc)
        return False
    return True


class EncodedSet(ImageFiles):
    """Reads candidate files as bytes; non-JPEG files are decoded and letterboxed on the CPU instead.

    Like ``LetterboxSet``, it never raises in a worker: an unreadable file carries its error text.
    """

    def __getitem__(self, i: int) -> dict[str, object]:
        path = self.path(i)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return {"index": i, "error": f"{path}\t{type(exc).__name__}: {exc}"}
        if data.startswith(JPEG_MAGIC):
            return {"index": i, "jpeg": np.frombuffer(data, np.uint8), "path": str(path), "error": ""}
        try:
            lb = load_letterboxed(path, self.size)
        except DECODE_ERRORS as exc:
            return {"index": i, "error": f"{path}\t{type(exc).__name__}: {exc}"}
        return {
            "index": i,
            "pixels": lb.pixels,
            "scale": lb.scale,
            "size": (lb.width, lb.height),
            "error": "",
        }


@dataclass
class EncodedBatch:
    """One batch as the workers hand it over: all JPEG bytes in one tensor, so it crosses in one piece.

    Row ``r`` of the batch is candidate ``indices[r]``; its JPEG bytes are ``blob[start:end]`` for each
    ``(r, start, end)`` in ``spans``; rows in ``cpu_rows`` were decoded and letterboxed by the worker.
    """

    indices: torch.Tensor  # (B,) long
    paths: list[str]
    errors: list[str]
    blob: torch.Tensor  # (total bytes,) uint8
    spans: list[tuple[int, int, int]]
    cpu_rows: list[int]
    cpu_pixels: torch.Tensor  # (len(cpu_rows), S, S, 3) uint8
    cpu_scales: list[float]
    cpu_sizes: list[tuple[int, int]]


def collate_encoded(samples: list[dict[str, object]]) -> EncodedBatch:
    """Packs a batch in the worker: one byte tensor for the JPEGs, one pixel tensor for the rest."""
    spans: list[tuple[int, int, int]] = []
    chunks: list[np.ndarray] = []
    start = 0
    cpu_rows: list[int] = []
    cpu_pixels: list[np.ndarray] = []
    for row, s in enumerate(samples):
        if "jpeg" in s:
            data = np.asarray(s["jpeg"])
            spans.append((row, start, start + len(data)))
            chunks.append(data)
            start += len(data)
        elif "pixels" in s:
            cpu_rows.append(row)
            cpu_pixels.append(np.asarray(s["pixels"]))
    return EncodedBatch(
        indices=torch.tensor([int(s["index"]) for s in samples]),  # type: ignore[call-overload]
        paths=[str(s.get("path", "")) for s in samples],
        errors=[str(s["error"]) for s in samples],
        blob=torch.from_numpy(np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)),
        spans=spans,
        cpu_rows=cpu_rows,
        cpu_pixels=torch.from_numpy(np.stack(cpu_pixels))
        if cpu_pixels
        else torch.zeros(0, dtype=torch.uint8),
        cpu_scales=[float(samples[r]["scale"]) for r in cpu_rows],  # type: ignore[arg-type]
        cpu_sizes=[samples[r]["size"] for r in cpu_rows],  # type: ignore[misc]
    )


@dataclass
class DecodedBatch:
    """A letterboxed batch on the GPU and what un-letterboxing needs."""

    images: torch.Tensor  # (B, 3, S, S) float 0..1, channels-last
    scales: torch.Tensor  # (B,) float32, model pixels per original pixel
    sizes: torch.Tensor  # (B, 2) original width, height
    indices: torch.Tensor  # (B,) position in the dataset


def wait_for_device(device: torch.device) -> None:
    """Waits until the work queued on ``device``'s current stream has run (a no-op on the CPU).

    Raises the CUDA error of any kernel queued before, which is how an asynchronous assert surfaces.
    """
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()


def decode_batch(
    batch: EncodedBatch, *, size: int, device: torch.device, decoder: Decoder | None = None
) -> DecodedBatch:
    """Decodes a batch's JPEGs on ``device`` and letterboxes every image like ``load_letterboxed``.

    Images of one size (the usual case: a camera's whole pool) are resized and placed in one operation.
    ``decoder`` defaults to torchvision's ``decode_jpeg``; ``pillow_decode`` runs the same path on the CPU.

    Raises:
        ImageError: For the first file that can be decoded neither on the GPU nor by Pillow.
        RuntimeError: A CUDA error (``device.is_cuda_error``): the context is lost, nothing can fall back.
    """
    decode = decoder or _decoder()
    assert decode is not None, "decode_batch needs torchvision; check available() first"
    for err in batch.errors:
        if err:
            path, _, problem = err.partition("\t")
            raise ImageError(path=path, problem=problem)
    n = len(batch.indices)
    out = torch.full((n, 3, size, size), PAD_VALUE, dtype=torch.uint8, device=device)
    scales = [1.0] * n
    sizes = [(0, 0)] * n
    if batch.spans:
        data = [batch.blob[a:b] for _, a, b in batch.spans]
        wait_for_device(device)  # nvJPEG must not overwrite blocks queued kernels still read (see above)
        try:
            images = decode(data, device)
        except RuntimeError as exc:  # one bad file fails the whole batch: find it, image by image
            if is_cuda_error(exc):
                raise
            images = [
                _decode_one(decode, d, batch.paths[r], device)
                for d, (r, _, _) in zip(data, batch.spans, strict=True)
            ]
        groups: dict[tuple[int, int], list[int]] = {}
        for k, img in enumerate(images):
            groups.setdefault((int(img.shape[1]), int(img.shape[2])), []).append(k)
        for (h, w), ks in groups.items():
            scale = size / max(w, h)
            new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
            stack = torch.stack([images[k] for k in ks])
            if (new_w, new_h) != (w, h):
                stack = _resize(stack, new_h, new_w)
            rows = [batch.spans[k][0] for k in ks]
            out[torch.tensor(rows, device=device), :, :new_h, :new_w] = stack
            for r in rows:
                scales[r], sizes[r] = scale, (w, h)
    if batch.cpu_rows:
        rows_t = torch.tensor(batch.cpu_rows, device=device)
        out[rows_t] = batch.cpu_pixels.to(device).permute(0, 3, 1, 2)
        for r, sc, sz in zip(batch.cpu_rows, batch.cpu_scales, batch.cpu_sizes, strict=True):
            scales[r], sizes[r] = sc, sz
    images_f = out.contiguous(memory_format=torch.channels_last).float().div_(255.0)
    return DecodedBatch(
        images_f, torch.tensor(scales, dtype=torch.float32), torch.tensor(sizes), batch.indices
    )


def _resize(images: torch.Tensor, new_h: int, new_w: int) -> torch.Tensor:
    """Bilinear resize of (B, 3, H, W) uint8 images, antialiased when shrinking (as Pillow's resize is)."""
    shrink = new_h < images.shape[2] or new_w < images.shape[3]
    y = F.interpolate(
        images.float(), size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=shrink
    )
    return y.round_().clamp_(0, 255).to(torch.uint8)


def _decode_one(decode: Decoder, data: torch.Tensor, path: str, device: torch.device) -> torch.Tensor:
    """One JPEG on the GPU, else through Pillow (CMYK and other files nvJPEG refuses)."""
    try:
        return decode([data], device)[0]
    except RuntimeError as exc:
        if is_cuda_error(exc):
            raise
    try:
        rgb = decode_rgb(path)  # full resolution: letterboxing happens with the others
    except DECODE_ERRORS as exc:
        raise ImageError(path=path, problem=f"{type(exc).__name__}: {exc}") from exc
    return torch.from_numpy(rgb).permute(2, 0, 1).to(device)


@functools.cache
def _probe_jpeg() -> bytes:
    """A tiny JPEG to try the decoder on."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 100, 50)).save(buf, "JPEG")
    return buf.getvalue()

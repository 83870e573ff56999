"""Model verification: one image in, a model's boxes out, on the CPU through a stage's ONNX export.

mir knows nothing of the network. A stage is verifiable when its ``model.onnx`` holds decoded detections
(``det_boxes``, ``det_scores``, ``det_classes``) and ``ymir.*`` metadata saying how to prepare the input
(our executor writes both, see docs/executor.md "ONNX export"). mir letterboxes the image as the executor
does, runs onnxruntime, thresholds, applies class-wise NMS and maps the boxes back to the image's pixels,
so the boxes equal what the executor's own inference gives.

Loaded stages stay in memory per process (a small LRU keyed by package sha1 and stage) and each stage's
ONNX file is extracted from its package once into a cache folder, so a warm call costs one decode and one
inference. The image is not rotated by its EXIF orientation: the executor trains and infers on the pixels
as stored, and dataset boxes are in that frame too.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from mir import models
from mir.errors import InputFileError, InvalidArgsError, NotVerifiableError, StageNotFoundError
from mir.executors.contract import InferBox
from mir.images import ImageProblem, inspect

ONNX_FILE = "model.onnx"
OUTPUTS_VERSION = "detections/1"  # what ``ymir.outputs`` must say; the executor writes the same tag
DETECTION_OUTPUTS = ["det_boxes", "det_scores", "det_classes"]
MAX_PIXELS = 50_000_000  # width * height refused above this (decoded RGB: 150 MB)
CACHE_SIZE = 8  # (package, stage) names kept per process; "best" and its stage share one session
_FORMATS = "a JPEG, PNG, BMP or WebP image"
_RETRAIN = (
    "retrain with the current ymir-executor (it exports the best stage with detections), or export the "
    "stage with ymir_executor.onnx_export.export; models of other executors cannot be verified here"
)


Box = InferBox  # one detection in the original image's pixels, as infer-result.json holds it


@dataclass(frozen=True)
class Verification:
    """The boxes found on one image (best first) and what produced them."""

    model_hash: str
    stage: str
    width: int  # the image's size in pixels, as stored (no EXIF rotation)
    height: int
    boxes: list[Box]
    elapsed_ms: float  # loading (when not cached), decoding, inference and post-processing


@dataclass(frozen=True)
class Letterboxed:
    """An image scaled (aspect kept) into the top-left of a square canvas."""

    pixels: np.ndarray  # (S, S, 3) uint8 RGB
    scale: float  # model pixels per original pixel
    width: int
    height: int


class StageDetector:
    """A stage's ONNX export loaded in onnxruntime (CPU), with what its metadata declares."""

    def __init__(self, path: Path, *, model_hash: str, stage: str, threads: int = 0) -> None:
        self.model_hash = model_hash
        self.stage = stage
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own untyped errors for a corrupt graph
            raise NotVerifiableError(
                model_hash, stage, f"has a model.onnx onnxruntime cannot load ({e})", fix=_RETRAIN
            ) from e
        meta = self.session.get_modelmeta().custom_metadata_map
        outputs = {o.name for o in self.session.get_outputs()}
        if "ymir.outputs" not in meta or not set(DETECTION_OUTPUTS) <= outputs:
            raise NotVerifiableError(
                model_hash,
                stage,
                "has no ONNX export with detections (its model.onnx is older or from another tool)",
                fix=_RETRAIN,
            )
        if meta["ymir.outputs"] != OUTPUTS_VERSION:
            raise NotVerifiableError(
                model_hash,
                stage,
                f"declares ONNX outputs {meta['ymir.outputs']!r}; this mir reads {OUTPUTS_VERSION!r}",
                fix="upgrade mir to the version of the executor that trained it, or " + _RETRAIN,
            )
        try:
            self.img_size = int(meta["ymir.img_size"])
            self.pad_value = int(meta["ymir.pad_value"])
            names = json.loads(meta["ymir.class_names"])
        except (KeyError, ValueError) as e:
            raise NotVerifiableError(
                model_hash, stage, f"has incomplete ONNX metadata ({type(e).__name__}: {e})", fix=_RETRAIN
            ) from e
        if not isinstance(names, list) or not names:
            raise NotVerifiableError(model_hash, stage, "names no classes in ymir.class_names", fix=_RETRAIN)
        self.class_names = [str(n) for n in names]

    def detect(
        self,
        image: bytes,
        *,
        name: str = "image",
        conf_threshold: float = 0.25,
        max_boxes: int = 100,
        iou_threshold: float = 0.6,
        max_pixels: int = MAX_PIXELS,
    ) -> tuple[int, int, list[Box]]:
        """(width, height, boxes best first) of an encoded image; ``name`` appears in error messages.

        Args:
            conf_threshold: Drop detections scoring below this.
            max_boxes: At most this many boxes, before thresholding and NMS (the executor's ``max_boxes``);
                capped at the K the graph outputs (100 for our executor).
            iou_threshold: Class-wise NMS: a box overlapping a better one of its class by more is dropped.
            max_pixels: Refuse larger images (width * height) before decoding them.
        """
        _check_args(conf_threshold=conf_threshold, max_boxes=max_boxes, iou_threshold=iou_threshold)
        img = letterbox(image, self.img_size, pad_value=self.pad_value, name=name, max_pixels=max_pixels)
        x = img.pixels.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)  # (1, 3, S, S)
        boxes, scores, classes = self.session.run(DETECTION_OUTPUTS, {"images": x})
        k = min(max_boxes, scores.shape[1])
        boxes, scores, classes = boxes[0, :k], scores[0, :k], classes[0, :k]  # (k, 4) XYXY, (k,), (k,)
        sel = scores >= conf_threshold
        boxes, scores, classes = boxes[sel], scores[sel], classes[sel]
        keep = classwise_nms(boxes, scores, classes, iou_threshold)
        boxes, scores, classes = boxes[keep].astype(np.float64) / img.scale, scores[keep], classes[keep]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, img.width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, img.height)
        out = []
        for (x0, y0, x1, y1), s, c in zip(boxes.tolist(), scores.tolist(), classes.tolist(), strict=True):
            if x1 - x0 <= 0 or y1 - y0 <= 0 or not 0 <= c < len(self.class_names):
                continue  # entirely outside the image, or a class the metadata does not name
            out.append(
                Box(
                    x=round(x0, 2),
                    y=round(y0, 2),
                    w=round(x1 - x0, 2),
                    h=round(y1 - y0, 2),
                    class_name=self.class_names[c],
                    score=round(float(s), 6),
                )
            )
        return img.width, img.height, out


def _check_args(*, conf_threshold: float, max_boxes: int, iou_threshold: float) -> None:
    if not 0.0 <= conf_threshold <= 1.0:
        raise InvalidArgsError(f"conf_threshold {conf_threshold} is not in [0, 1]", fix="e.g. 0.25")
    if max_boxes < 1:
        raise InvalidArgsError(f"max_boxes {max_boxes} is below 1", fix="e.g. 100")
    if not 0.0 < iou_threshold <= 1.0:
        raise InvalidArgsError(f"iou_threshold {iou_threshold} is not in (0, 1]", fix="e.g. 0.6")


def letterbox(
    image: bytes, size: int, *, pad_value: int, name: str, max_pixels: int = MAX_PIXELS
) -> Letterboxed:
    """Decodes ``image`` and scales it into the top-left of a ``size`` square, exactly as the executor does.

    Same Pillow calls as ``ymir_executor.images.load_letterboxed`` (a JPEG at most half the target size is
    DCT-downscaled by ``draft`` first; bilinear resize; no EXIF rotation), so the model sees the same pixels.

    Raises:
        InputFileError: Not an image mir stores, truncated, or more than ``max_pixels`` pixels.
    """
    try:
        info = inspect(image)
    except ImageProblem as e:
        raise InputFileError(name, f"is not usable: {e}", fix=f"send {_FORMATS}") from e
    if info.width * info.height > max_pixels:
        raise InputFileError(
            name,
            f"has {info.width}x{info.height} pixels ({info.width * info.height / 1e6:g} megapixels), "
            f"more than the {max_pixels / 1e6:g} megapixels allowed",
            fix=f"downscale it (the model sees {size}x{size} anyway) and send it again",
        )
    try:
        with Image.open(io.BytesIO(image)) as img:
            width, height = img.size
            scale = size / max(width, height)
            if img.format == "JPEG" and scale <= 0.5:
                img.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            rgb = img.convert("RGB")
            new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
            if rgb.size != (new_w, new_h):
                rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
            canvas = np.full((size, size, 3), pad_value, np.uint8)
            canvas[:new_h, :new_w] = np.asarray(rgb)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InputFileError(
            name, f"cannot be decoded ({e})", fix=f"send an intact copy of {_FORMATS}"
        ) from e
    return Letterboxed(canvas, scale, width, height)


def classwise_nms(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Greedy NMS within each class, as the executor's ``boxes.batched_nms``.

    Args:
        boxes: (N, 4) XYXY.
        scores: (N,).
        classes: (N,) class indices; boxes of different classes never suppress each other.
        iou_threshold: A box is dropped when its IoU with a kept, better box of its class exceeds this.

    Returns:
        Indices of the kept boxes (K,), best first.
    """
    order = np.argsort(-scores, kind="stable")
    b = boxes[order].astype(np.float64)
    area = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)  # (N,)
    lt = np.maximum(b[:, None, :2], b[None, :, :2])  # (N, N, 2)
    rb = np.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clip(0).prod(-1)  # (N, N)
    iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-9)
    over = (iou > iou_threshold) & (classes[order][:, None] == classes[order][None, :])  # (N, N)
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= over[i]
    return order[np.array(keep, dtype=np.int64)]


class _Cache:
    """Loaded stages by (package sha1, stage), least recently used dropped first; safe across threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, str], StageDetector] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> StageDetector | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], value: StageDetector) -> StageDetector:
        """Stores ``value`` unless another thread stored one first; returns the stored one."""
        with self.lock:
            value = self.items.setdefault(key, value)
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
            return value

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_cache = _Cache(CACHE_SIZE)


def clear_cache() -> None:
    """Forgets every loaded stage of this process (the extracted files stay in their cache folder)."""
    _cache.clear()


def load_stage(model_location: Path, model: str, *, cache_dir: Path, threads: int = 0) -> StageDetector:
    """The stage ``model`` (``hash[@stage]``, default the best) names, loaded once per process.

    Raises:
        ModelError: The package is missing or unreadable.
        StageNotFoundError: The package has no such stage.
        NotVerifiableError: The stage has no ONNX export with detections and metadata.
    """
    ref = models.parse_model_ref(model)
    package = models.package_path(model_location, ref.hash)
    digest, requested = package.name, ref.stage or "best"
    hit = _cache.get((digest, requested))  # a warm call reads neither the package nor the cache folder
    if hit is not None:
        return hit
    info = models.read_info(package)
    stage = models.resolve_stage(info, ref.stage)
    if stage not in info["stages"]:
        raise StageNotFoundError(digest, stage, list(info["stages"]))
    det = _cache.get((digest, stage))
    if det is None:
        path = _extracted_onnx(package, info, stage, cache_dir)
        det = _cache.put(
            (digest, stage), StageDetector(path, model_hash=digest, stage=stage, threads=threads)
        )
    if requested != stage:
        _cache.put((digest, requested), det)  # "best" resolved once
    return det


def _extracted_onnx(package: Path, info: dict[str, Any], stage: str, cache_dir: Path) -> Path:
    """``<cache_dir>/<sha1>/<stage>/model.onnx``, extracted on first use into a temporary folder and
    renamed into place, so readers never see a half-written file and racing writers both succeed."""
    if ONNX_FILE not in info["stages"][stage]["files"]:
        best = info["best_stage_name"]
        where = (
            f"; our executor exports only the best stage ({best}): verify @{best}" if stage != best else ""
        )
        raise NotVerifiableError(
            package.name, stage, f"has no ONNX export with detections (no {ONNX_FILE}){where}", fix=_RETRAIN
        )
    final = cache_dir / package.name / stage
    target = final / ONNX_FILE
    if target.is_file():
        return target
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".extract-"))
    try:
        models.extract_stage(package, stage, tmp, only=[ONNX_FILE])
        try:
            os.rename(tmp / stage, final)
        except OSError:
            if not target.is_file():  # not a concurrent extraction of the same stage
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def verify(
    *,
    model_location: Path,
    model: str,
    image: bytes,
    cache_dir: Path,
    image_name: str = "image",
    conf_threshold: float = 0.25,
    max_boxes: int = 100,
    iou_threshold: float = 0.6,
    max_pixels: int = MAX_PIXELS,
) -> Verification:
    """Runs the stage ``model`` (``hash[@stage]``) on one encoded image; see ``StageDetector.detect``."""
    start = time.perf_counter()
    det = load_stage(model_location, model, cache_dir=cache_dir)
    width, height, boxes = det.detect(
        image,
        name=image_name,
        conf_threshold=conf_threshold,
        max_boxes=max_boxes,
        iou_threshold=iou_threshold,
        max_pixels=max_pixels,
    )
    elapsed = (time.perf_counter() - start) * 1000.0
    return Verification(det.model_hash, det.stage, width, height, boxes, round(elapsed, 1))

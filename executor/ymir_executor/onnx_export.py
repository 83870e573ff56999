"""ONNX export of a trained detector and an onnxruntime runner with the torch model's outputs.

The exported graph is self-describing, so a consumer (mir's model verification, or anyone's onnxruntime)
gets boxes without knowing our network: besides the dense maps our own onnx backend reads, it outputs
decoded top-k detections, and its ``metadata_props`` say how to prepare the input and read the outputs.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from ymir_executor.images import PAD_VALUE
from ymir_executor.model import Detector
from ymir_executor.model.detector import Dense, ExportWrapper

ONNX_FILE = "model.onnx"
DENSE_OUTPUTS = ["heat", "boxes", "feature"]
DETECTION_OUTPUTS = ["det_boxes", "det_scores", "det_classes"]
OUTPUT_NAMES = DENSE_OUTPUTS + DETECTION_OUTPUTS
DETECTIONS_TOPK = 100  # K: peaks kept per image; consumers threshold and NMS these
OUTPUTS_VERSION = "detections/1"  # bump when the outputs or the input preparation change meaning


def export(model: Detector, path: Path, *, img_size: int, opset: int, class_names: list[str]) -> None:
    """Exports ``model`` (on the CPU, float32) with a dynamic batch axis and fixed ``img_size`` input.

    Outputs: ``heat`` (B, C, S/4, S/4) class probabilities, ``boxes`` (B, 4, S/4, S/4) XYXY per cell,
    ``feature`` (B, D), and the detections ``det_boxes`` (B, K, 4) XYXY, ``det_scores`` (B, K) and
    ``det_classes`` (B, K) int64, best first, K = min(100, C * (S/4)^2); boxes in model-input pixels.
    The file is written atomically, metadata included (see ``metadata``).
    """
    model = model.cpu().float().eval()
    wrapper = ExportWrapper(model, topk=DETECTIONS_TOPK).eval()  # export restores this mode afterwards
    dummy = torch.rand(1, 3, img_size, img_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(tmp),
            input_names=["images"],
            output_names=OUTPUT_NAMES,
            dynamic_axes={"images": {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}},
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load(str(tmp))
    k = min(DETECTIONS_TOPK, model.cfg.num_classes * (img_size // 4) ** 2)
    for key, value in metadata(img_size=img_size, class_names=class_names, topk=k).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)


def metadata(*, img_size: int, class_names: list[str], topk: int) -> dict[str, str]:
    """The ``metadata_props`` that make the file self-describing (all values are strings).

    ``ymir.input`` repeats ``images.load_letterboxed`` in words: a consumer that prepares images otherwise
    gets slightly different scores.
    """
    return {
        "ymir.outputs": OUTPUTS_VERSION,
        "ymir.img_size": str(img_size),
        "ymir.class_names": json.dumps(list(class_names), ensure_ascii=False),
        "ymir.pad_value": str(PAD_VALUE),
        "ymir.topk": str(topk),
        "ymir.input": (
            f"images: float32 (B, 3, {img_size}, {img_size}) NCHW, RGB in 0..1 (uint8 / 255). Each image is "
            f"scaled by s = {img_size} / max(width, height) (aspect kept; Pillow bilinear, JPEGs first "
            f"DCT-downscaled with Image.draft when s <= 0.5; no EXIF rotation) to round(width * s) x "
            f"round(height * s), pasted into the top-left corner, the rest filled with {PAD_VALUE}/255."
        ),
        "ymir.detections": (
            "det_boxes (B, K, 4) XYXY, det_scores (B, K), det_classes (B, K) int64 indices into "
            "ymir.class_names: 3x3 max-pool peaks of the class heatmaps, best first, no threshold, no NMS. "
            "Boxes are model-input pixels: divide by s for the original image, then clamp to it."
        ),
    }


class OnnxRunner:
    """Runs an exported model with onnxruntime on the CPU; ``__call__`` mirrors ``Detector.predict``."""

    def __init__(self, path: Path, *, threads: int = 0) -> None:
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def __call__(self, images: torch.Tensor) -> Dense:
        """Images (B, 3, S, S) float 0..1 -> dense predictions as CPU tensors."""
        heat, boxes, feat = self.session.run(DENSE_OUTPUTS, {"images": images.float().cpu().numpy()})
        return Dense(
            torch.from_numpy(np.asarray(heat)),
            torch.from_numpy(np.asarray(boxes)),
            torch.from_numpy(np.asarray(feat)),
        )

    def detections(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (B, 3, S, S) float 0..1 -> the graph's (det_boxes, det_scores, det_classes)."""
        outs = self.session.run(DETECTION_OUTPUTS, {"images": images.float().cpu().numpy()})
        boxes, scores, classes = (torch.from_numpy(np.asarray(o)) for o in outs)
        return boxes, scores, classes

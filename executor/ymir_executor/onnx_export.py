"""ONNX export of a trained detector and an onnxruntime runner with the torch model's outputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from ymir_executor.model import Detector
from ymir_executor.model.detector import Dense, ExportWrapper

ONNX_FILE = "model.onnx"
OUTPUT_NAMES = ["heat", "boxes", "feature"]


def export(model: Detector, path: Path, *, img_size: int, opset: int) -> None:
    """Exports ``model`` (on the CPU, float32) with a dynamic batch axis and fixed ``img_size`` input."""
    model = model.cpu().float().eval()
    wrapper = ExportWrapper(model)
    dummy = torch.rand(1, 3, img_size, img_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            input_names=["images"],
            output_names=OUTPUT_NAMES,
            dynamic_axes={"images": {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}},
            opset_version=opset,
            dynamo=False,
        )


class OnnxRunner:
    """Runs an exported model with onnxruntime on the CPU; ``__call__`` mirrors ``Detector.predict``."""

    def __init__(self, path: Path, *, threads: int = 0) -> None:
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def __call__(self, images: torch.Tensor) -> Dense:
        """Images (B, 3, S, S) float 0..1 -> dense predictions as CPU tensors."""
        heat, boxes, feat = self.session.run(OUTPUT_NAMES, {"images": images.float().cpu().numpy()})
        return Dense(
            torch.from_numpy(np.asarray(heat)),
            torch.from_numpy(np.asarray(boxes)),
            torch.from_numpy(np.asarray(feat)),
        )

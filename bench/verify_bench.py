"""Latency of model verification (``mir.verification``) on this machine's CPU, for the executor's default
model (``model_size: small``, ``img_size: 640``) on photo-sized JPEGs.

Cold: a fresh process, first call (onnxruntime import, ONNX extraction from the package, session
creation, inference), measured in a subprocess; again with the extraction already cached. Warm: the
median and worst of ``--runs`` calls in one process once the session is loaded. Weights are random (seeded):
the time does not depend on them, and the NMS of a few hundred boxes at most is negligible.

Run: ``.venv/bin/python -m bench.verify_bench [--threads 0] [--runs 20]`` (prints JSON).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = {"1280x960": (1280, 960), "4032x3024": (4032, 3024)}


def _build(work: Path) -> str:
    """Exports a default-size detector and stores it as a package; returns its hash."""
    import torch

    from mir import models
    from ymir_executor import onnx_export
    from ymir_executor.model import Detector, DetectorConfig

    torch.manual_seed(0)
    classes = ["person", "car", "bicycle", "dog", "cat"]
    model = Detector(DetectorConfig(num_classes=len(classes), size="small"))
    onnx_export.export(
        model, work / "out" / "best" / "model.onnx", img_size=640, opset=17, class_names=classes
    )
    digest, _ = models.pack(
        models_dir=work / "out",
        stages={"best": {"stage_name": "best", "files": ["model.onnx"]}},
        best_stage="best",
        model_location=work / "models",
        executor_config={"class_names": classes},
        task_context={"producer": "bench"},
    )
    return digest


def _photo(path: Path, size: tuple[int, int]) -> None:
    """A smooth random JPEG (photo-like size on disk, unlike white noise)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    path.write_bytes(buf.getvalue())


def _once(location: Path, model: str, image: Path, cache: Path) -> None:
    """One verification in this (fresh) process: prints its time, imports included."""
    start = time.perf_counter()
    from mir import verification

    result = verification.verify(
        model_location=location, model=model, image=image.read_bytes(), cache_dir=cache
    )
    total = (time.perf_counter() - start) * 1000
    print(json.dumps({"with_import_ms": round(total, 1), "verify_ms": result.elapsed_ms}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)"
    )
    parser.add_argument(
        "--once", nargs=4, metavar=("LOCATION", "MODEL", "IMAGE", "CACHE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.once:
        location, model, image, cache = args.once
        _once(Path(location), model, Path(image), Path(cache))
        return
    from mir import verification

    work = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    try:
        digest = _build(work)
        report: dict[str, object] = {"model": "small, img_size 640, 5 classes", "threads": args.threads}
        for name, size in SIZES.items():
            image = work / f"{name}.jpg"
            _photo(image, size)
            cache = work / f"cache-{name}"
            cold = []
            for _ in range(2):  # first: nothing extracted; second: extraction cached
                out = subprocess.run(
                    [sys.executable, "-m", "bench.verify_bench", "--once", str(work / "models"), digest]
                    + [str(image), str(cache)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                cold.append(json.loads(out.stdout))
            verification.clear_cache()
            det = verification.load_stage(work / "models", digest, cache_dir=cache, threads=args.threads)
            data = image.read_bytes()
            det.detect(data)
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                det.detect(data)
                times.append((time.perf_counter() - start) * 1000)
            report[name] = {
                "bytes": len(data),
                "cold_first_call": cold[0],
                "cold_extracted": cold[1],
                "warm_median_ms": round(statistics.median(times), 1),
                "warm_max_ms": round(max(times), 1),
            }
        print(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

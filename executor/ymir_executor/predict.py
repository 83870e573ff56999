"""Mining and inference over the candidate index, streamed batch by batch.

When both run in one task, mining reports progress into the first half and inference into the second.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ymir_executor import checkpoint, gpu_decode, mining
from ymir_executor.config import PredictConfig
from ymir_executor.dataset import Batch, LetterboxSet, collate, read_candidate_index
from ymir_executor.device import DevicePlan, autocast, is_oom, plan_devices
from ymir_executor.env import Env
from ymir_executor.errors import ConfigError, ExecutorError, ModelError, OutOfMemoryError
from ymir_executor.model import Detector, decode
from ymir_executor.model.detector import Dense
from ymir_executor.monitor import Monitor
from ymir_executor.onnx_export import ONNX_FILE, OnnxRunner

log = logging.getLogger(__name__)


@dataclass
class Predictor:
    """A loaded model (torch or onnxruntime) with its input size and classes."""

    run: Callable[[torch.Tensor], Dense]
    device: torch.device
    img_size: int
    class_names: list[str]
    class_counts: list[int]
    amp: bool
    channels_last: bool

    def __call__(self, img: torch.Tensor) -> Dense:
        """Dense predictions for float images (B, 3, S, S) in 0..1 on ``device``."""
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.device, self.amp):
            out = self.run(img)
        return Dense(out.heat.float(), out.boxes.float(), out.feature.float())


def load_predictor(env: Env, cfg: PredictConfig, plan: DevicePlan) -> Predictor:
    """Loads the model the platform listed in ``model_params_path`` and checks it fits the task."""
    path = checkpoint.find_weights(
        cfg.model_params_path,
        map_path=env.roots.map_path,
        models_dir=env.models_in_dir,
        key="model_params_path",
    )
    ckpt = checkpoint.load(path)
    if cfg.class_names and [c.lower() for c in cfg.class_names] != [c.lower() for c in ckpt.class_names]:
        raise ModelError(
            path=path,
            problem=f"was trained on {ckpt.class_names}, the task asks for {cfg.class_names}",
            fix="choose the model whose classes the task uses",
        )
    device = plan.device(0)
    img_size = cfg.img_size or ckpt.img_size
    if cfg.backend == "onnx":
        onnx_path = path.with_name(ONNX_FILE)
        if not onnx_path.is_file():
            raise ModelError(
                path=onnx_path,
                problem="does not exist",
                fix="choose the best stage (it holds the ONNX export) or set backend: torch",
            )
        runner = OnnxRunner(onnx_path)
        return Predictor(
            runner,
            torch.device("cpu"),
            ckpt.img_size,
            ckpt.class_names,
            ckpt.class_counts,
            amp=False,
            channels_last=False,
        )
    model: Detector = ckpt.build().to(device).eval()
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return Predictor(
        model.predict,
        device,
        img_size,
        ckpt.class_names,
        ckpt.class_counts,
        amp=cfg.amp,
        channels_last=cfg.channels_last,
    )


def batches(
    paths: np.ndarray, *, env: Env, cfg: PredictConfig, size: int, device: torch.device
) -> Iterator[tuple[Batch, torch.Tensor]]:
    """Decoded candidate batches and their float images (B, 3, S, S) in 0..1 on ``device``.

    On a GPU with torchvision's nvJPEG (``gpu_decode``), workers only read bytes and JPEGs are decoded on the
    GPU (see ``gpu_decode``); otherwise workers decode and letterbox with Pillow.
    """
    if cfg.gpu_decode and gpu_decode.available(device):
        yield from _gpu_batches(paths, env=env, cfg=cfg, size=size, device=device)
        return
    loader = DataLoader(
        LetterboxSet(paths, size=size, roots=env.roots),
        batch_size=cfg.batch_size_per_gpu,
        num_workers=cfg.workers_per_gpu,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if cfg.workers_per_gpu else None,
    )
    for batch in loader:
        batch.raise_errors()
        yield batch, batch.pixels.to(device, non_blocking=True).float().div_(255.0)


def _gpu_batches(
    paths: np.ndarray, *, env: Env, cfg: PredictConfig, size: int, device: torch.device
) -> Iterator[tuple[Batch, torch.Tensor]]:
    loader = DataLoader(
        gpu_decode.EncodedSet(paths, size=size, roots=env.roots),
        batch_size=cfg.batch_size_per_gpu,
        num_workers=cfg.workers_per_gpu,
        collate_fn=gpu_decode.collate_encoded,
        prefetch_factor=4 if cfg.workers_per_gpu else None,
    )
    for encoded in loader:
        dec = gpu_decode.decode_batch(encoded, size=size, device=device)
        batch = Batch(pixels=dec.images, scales=dec.scales, sizes=dec.sizes, indices=dec.indices, errors=[])
        yield batch, dec.images


def mine(
    paths: np.ndarray, *, env: Env, cfg: PredictConfig, pred: Predictor, progress: Callable[[float], None]
) -> np.ndarray:
    """Scores every candidate; returns the order to write (indices, best first) and fills nothing else."""
    n = len(paths)
    algo = cfg.mining_algorithm
    gen = torch.Generator(device=pred.device).manual_seed(cfg.seed)
    if algo == "kcenter" and cfg.topk <= 0:
        raise ConfigError(
            field="topk",
            problem="is 0 but kcenter needs the number of images to pick",
            fix="set topk to the mining budget, or choose another mining_algorithm",
        )
    if algo == "random":
        scores = torch.rand(n, generator=torch.Generator().manual_seed(cfg.seed))
        progress(1.0)
        return _order(scores.numpy())
    weights = torch.tensor(cfg.class_weights(len(pred.class_names)), device=pred.device)
    scores_t = torch.zeros(n, device=pred.device)
    keep_features = algo in ("kcenter", "hybrid")
    features: torch.Tensor | None = None
    class_vec = torch.zeros(n, len(pred.class_names), dtype=torch.float16) if algo == "hybrid" else None
    done = 0
    for batch, img in batches(paths, env=env, cfg=cfg, size=pred.img_size, device=pred.device):
        out = pred(img)
        idx = batch.indices.to(pred.device)
        if keep_features:
            if features is None:
                features = torch.zeros(n, out.feature.shape[1], dtype=torch.float16, device=pred.device)
            features[idx] = out.feature.half()
        if algo in ("entropy", "hybrid"):
            scores_t[idx] = mining.entropy_scores(out, conf_threshold=cfg.mining_conf_threshold)
        elif algo == "aldd":
            scores_t[idx] = mining.aldd_scores(out, pred(img.flip(-1)), weights)
        elif algo == "cald":
            scores_t[idx] = mining.cald_scores(
                out,
                pred(mining.cald_views(img, out, gen)),
                img_size=pred.img_size,
                conf_threshold=max(cfg.mining_conf_threshold, 0.1),
                beta=cfg.cald_beta,
            )
        if class_vec is not None:
            class_vec[batch.indices] = mining.class_vectors(out).half().cpu()
        done += len(batch.indices)
        progress(done / n)
    if algo == "kcenter":
        assert features is not None
        picks, dist = mining.kcenter_order(features, cfg.topk)
        scores = dist.clone()
        scores[picks] = dist.max() + 1.0 + torch.linspace(1.0, 0.0, len(picks), device=dist.device)
        return _order(scores.cpu().numpy())
    if algo == "hybrid":
        assert features is not None and class_vec is not None
        return _hybrid(scores_t, features, class_vec, cfg=cfg, pred=pred, weights=weights)
    return _order(scores_t.cpu().numpy())


def _hybrid(
    uncertainty: torch.Tensor,
    features: torch.Tensor,
    class_vec: torch.Tensor,
    *,
    cfg: PredictConfig,
    pred: Predictor,
    weights: torch.Tensor,
) -> np.ndarray:
    """Uncertainty x class rarity, then uncertainty-weighted k-centre over the best candidates.

    Class rarity: classes rare in the training set (counts stored with the model) weigh more; an image's
    factor is the score-weighted mean weight of the classes it seems to hold, raised to ``hybrid_balance``.
    Diversity: among the ``hybrid_pool_factor * budget`` best, pick ``budget`` by greedy k-centre weighted
    by their score (budget = ``topk``, or a tenth of the pool); they lead the order, the rest follow by score.
    """
    n = len(uncertainty)
    counts = torch.tensor(
        pred.class_counts or [1] * len(pred.class_names), dtype=torch.float32, device=uncertainty.device
    )
    rarity = (counts.mean() / counts.clamp(min=1.0)).sqrt() * weights  # (C,)
    vec = class_vec.float().to(uncertainty.device)  # (N, C)
    mass = vec.sum(1)
    factor = torch.where(mass > 0, (vec * rarity).sum(1) / mass.clamp(min=mining.EPS), torch.ones_like(mass))
    score = uncertainty * factor.clamp(min=mining.EPS) ** cfg.hybrid_balance  # (N,)
    budget = cfg.topk if cfg.topk > 0 else max(1, math.ceil(0.1 * n))
    pool_size = min(n, int(math.ceil(cfg.hybrid_pool_factor * budget)))
    pool = torch.argsort(score, descending=True, stable=True)[:pool_size]
    picks, _ = mining.kcenter_order(features[pool], budget, weights=score[pool])
    chosen = pool[picks]
    final = score.clone()
    final[chosen] = score.max() + 1.0 + torch.linspace(1.0, 0.0, len(chosen), device=score.device)
    return _order(final.cpu().numpy())


def _order(scores: np.ndarray) -> np.ndarray:
    """Indices sorted by score, best first (stable, so ties keep index order)."""
    return np.argsort(-scores.astype(np.float64), kind="stable")


def write_mining_result(path: Path, paths: np.ndarray, order: np.ndarray) -> None:
    """result.tsv: ``<path as in the index>\\t<score>`` per candidate, scores strictly descending."""
    n = len(order)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as fh:
        for rank, i in enumerate(order.tolist()):
            fh.write(paths[i] + b"\t" + f"{(n - rank) / n:.8f}".encode() + b"\n")
    tmp.replace(path)


def infer(
    paths: np.ndarray,
    *,
    env: Env,
    cfg: PredictConfig,
    pred: Predictor,
    out_path: Path,
    progress: Callable[[float], None],
) -> None:
    """Writes infer-result.json, streaming one image's entry at a time."""
    n = len(paths)
    names = pred.class_names
    tmp = out_path.with_name(out_path.name + ".tmp")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = 0
    with tmp.open("w") as fh:
        fh.write('{"detection": {')
        first = True
        for batch, img in batches(paths, env=env, cfg=cfg, size=pred.img_size, device=pred.device):
            out = pred(img)
            dets = decode(
                out.heat,
                out.boxes,
                conf_threshold=cfg.conf_threshold,
                max_boxes=cfg.max_boxes,
                iou_threshold=cfg.iou_threshold,
            )
            for det, i, scale, (w, h) in zip(
                dets, batch.indices.tolist(), batch.scales.tolist(), batch.sizes.tolist(), strict=True
            ):
                boxes = det.boxes.cpu() / scale
                boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
                boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
                entries = []
                for (x0, y0, x1, y1), s, c in zip(
                    boxes.tolist(), det.scores.tolist(), det.classes.tolist(), strict=True
                ):
                    bw, bh = round(x1) - round(x0), round(y1) - round(y0)
                    if bw <= 0 or bh <= 0:
                        continue
                    entries.append(
                        {
                            "box": {"x": round(x0), "y": round(y0), "w": bw, "h": bh},
                            "class_name": names[c],
                            "score": round(float(s), 6),
                        }
                    )
                key = Path(paths[i].decode()).name
                fh.write(("" if first else ",") + json.dumps(key) + ":" + json.dumps({"boxes": entries}))
                first = False
            done += len(batch.indices)
            progress(done / n)
        fh.write("}}\n")
    tmp.replace(out_path)


def run_predict(env: Env, cfg: PredictConfig, monitor: Monitor, *, plan: DevicePlan | None = None) -> None:
    """Runs mining and/or inference as env.yaml asks."""
    plan = plan or plan_devices(gpu_count=min(cfg.gpu_count, 1) if cfg.gpu_count else 0, gpu_id=cfg.gpu_id)
    pred = load_predictor(env, cfg, plan)
    paths = read_candidate_index(env.candidate_index_file, roots=env.roots)
    both = env.run_mining and env.run_infer
    try:
        if env.run_mining:
            part = monitor.span(0.0, 0.5) if both else monitor
            order = mine(paths, env=env, cfg=cfg, pred=pred, progress=part.progress)
            write_mining_result(env.mining_result_file, paths, order)
        if env.run_infer:
            part = monitor.span(0.5, 1.0) if both else monitor
            infer(paths, env=env, cfg=cfg, pred=pred, out_path=env.infer_result_file, progress=part.progress)
    except ExecutorError:
        raise
    except Exception as exc:
        if is_oom(exc):
            raise OutOfMemoryError(
                where="mining" if env.run_mining else "inference", batch_size=cfg.batch_size_per_gpu
            ) from exc
        raise

"""Mining and inference over the candidate index, streamed batch by batch.

When both run in one task, mining reports progress into the first half and inference into the second.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ymir_executor import balanced, checkpoint, gpu_decode, mining
from ymir_executor.config import PredictConfig
from ymir_executor.dataset import Batch, LetterboxSet, collate, read_candidate_index
from ymir_executor.device import DevicePlan, autocast, is_cuda_error, is_oom, plan_devices
from ymir_executor.env import Env
from ymir_executor.errors import (
    ConfigError,
    DeviceError,
    ExecutorError,
    ModelError,
    OutOfMemoryError,
)
from ymir_executor.model import Detector, decode
from ymir_executor.model.detector import Dense
from ymir_executor.monitor import Monitor
from ymir_executor.onnx_export import ONNX_FILE, OnnxRunner
from ymir_executor.threads import requested_threads

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
    trained_with_flip: bool = True  # the model learnt mirror images as the same class (flip_prob > 0)
    class_ap50: list[float] = field(default_factory=list)  # per class on the validation set (NaN: no objects)

    def __call__(self, img: torch.Tensor) -> Dense:
        """Dense predictions for float images (B, 3, S, S) in 0..1 on ``device``."""
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.device, self.amp):
            out = self.run(img)
        return Dense(out.heat.float(), out.boxes.float(), out.feature.float(), out.fmap)


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
    class_ap50 = [float(ckpt.metrics.get(f"AP50/{k}", math.nan)) for k in range(len(ckpt.class_names))]
    if cfg.backend == "onnx":
        onnx_path = path.with_name(ONNX_FILE)
        if not onnx_path.is_file():
            raise ModelError(
                path=onnx_path,
                problem="does not exist",
                fix="choose the best stage (it holds the ONNX export) or set backend: torch",
            )
        # onnxruntime's own thread pool does not read OMP_NUM_THREADS: pass it on (0: all cores)
        runner = OnnxRunner(onnx_path, threads=requested_threads() or 0)
        return Predictor(
            runner,
            torch.device("cpu"),
            ckpt.img_size,
            ckpt.class_names,
            ckpt.class_counts,
            amp=False,
            channels_last=False,
            trained_with_flip=float(ckpt.config.get("flip_prob", 0.5)) > 0,
            class_ap50=class_ap50,
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
        trained_with_flip=float(ckpt.config.get("flip_prob", 0.5)) > 0,
        class_ap50=class_ap50,
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
    paths: np.ndarray,
    *,
    env: Env,
    cfg: PredictConfig,
    size: int,
    device: torch.device,
    decoder: gpu_decode.Decoder | None = None,
) -> Iterator[tuple[Batch, torch.Tensor]]:
    """Batches decoded by ``gpu_decode``; see ``batches``.

    A CUDA error ends the task with a ``DeviceError`` naming the step and its images: one that surfaces
    when the next batch waits for the device belongs to the scoring of the batch before. Any other
    failure of the GPU decoder on a batch switches the rest of the task to Pillow (``pillow_decode``),
    with the same batching and letterboxing.
    """
    dataset = gpu_decode.EncodedSet(paths, size=size, roots=env.roots)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size_per_gpu,
        num_workers=cfg.workers_per_gpu,
        collate_fn=gpu_decode.collate_encoded,
        prefetch_factor=4 if cfg.workers_per_gpu else None,
    )
    previous: list[str] = []
    step = "mining" if env.run_mining else "inference"
    for encoded in loader:
        names = [str(dataset.path(int(i))) for i in encoded.indices]
        _wait(device, step=f"{step} (model and scores)", images=previous)
        try:
            dec = gpu_decode.decode_batch(encoded, size=size, device=device, decoder=decoder)
        except ExecutorError:
            raise
        except Exception as exc:
            if is_cuda_error(exc) or decoder is gpu_decode.pillow_decode:
                raise DeviceError(step="JPEG decoding", images=names, problem=_first_line(exc)) from exc
            log.warning("the GPU JPEG decoder failed on %s (%s); decoding the rest on the CPU", names[0], exc)
            decoder = gpu_decode.pillow_decode
            dec = gpu_decode.decode_batch(encoded, size=size, device=device, decoder=decoder)
        batch = Batch(pixels=dec.images, scales=dec.scales, sizes=dec.sizes, indices=dec.indices, errors=[])
        yield batch, dec.images
        previous = names
    _wait(device, step=f"{step} (model and scores)", images=previous)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _wait(device: torch.device, *, step: str, images: list[str]) -> None:
    """Waits for the device; a CUDA error becomes a ``DeviceError`` naming ``step`` and ``images``."""
    try:
        gpu_decode.wait_for_device(device)
    except Exception as exc:
        if is_cuda_error(exc):
            raise DeviceError(step=step, images=images, problem=_first_line(exc)) from exc
        raise


def mining_views(cfg: PredictConfig, pred: Predictor) -> tuple[str, ...]:
    """The views ALDD and CALD compare an image with (``mining_views``).

    ``auto``: for ALDD the mirror image (the paper's ensemble), for CALD flip, scale and crop; without the
    mirror image when the model was trained with ``flip_prob: 0`` (data where a mirrored object is another
    class: text, digits, arrows), where ALDD compares with the 0.8x rescale instead.
    """
    if cfg.mining_views != "auto":
        return tuple(v.strip() for v in cfg.mining_views.split(",") if v.strip())
    if cfg.mining_algorithm == "aldd":
        return ("flip",) if pred.trained_with_flip else ("scale",)
    return mining.VIEWS if pred.trained_with_flip else tuple(v for v in mining.VIEWS if v != "flip")


def mine(
    paths: np.ndarray, *, env: Env, cfg: PredictConfig, pred: Predictor, progress: Callable[[float], None]
) -> tuple[np.ndarray, np.ndarray]:
    """Scores every candidate; returns the order to write (indices, best first) and each one's score.

    The scores are the algorithm's own numbers and never rise along the order (mir sorts by them).
    """
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
        return _order(scores.numpy()), scores.numpy()
    views = mining_views(cfg, pred)
    if algo in ("aldd", "cald") and not views:
        raise ConfigError(
            field="mining_views",
            problem=f"leaves {algo} no view to compare the image with",
            fix="name at least one of flip, scale, crop (or auto)",
        )
    c = len(pred.class_names)
    weights = torch.tensor(cfg.class_weights(c), device=pred.device)
    scores_t = torch.zeros(n, device=pred.device)
    keep_features = algo in ("kcenter", "hybrid", "balanced")
    pool_boxes: list[mining.Boxes] = []  # balanced: per batch, with the images' indices in ``box_index``
    box_index: list[torch.Tensor] = []
    features: torch.Tensor | None = None
    class_vec = torch.zeros(n, c, dtype=torch.float16) if algo == "hybrid" else None
    done = 0
    for batch, img in batches(paths, env=env, cfg=cfg, size=pred.img_size, device=pred.device):
        out = pred(img)
        b = img.shape[0]
        idx = batch.indices.to(pred.device)
        if keep_features:
            if features is None:
                features = torch.zeros(n, out.feature.shape[1], dtype=torch.float16, device=pred.device)
            features[idx] = out.feature.half()
        if algo in ("entropy", "hybrid"):
            scores_t[idx] = mining.entropy_scores(out, conf_threshold=cfg.mining_conf_threshold)
        elif algo == "balanced":
            found = mining.image_boxes(out, conf_threshold=cfg.mining_conf_threshold)
            pool_boxes.append(
                mining.Boxes(
                    found.u, found.s, found.q.half(), found.f if cfg.novelty_features == "box" else None
                )
            )
            box_index.append(idx)
        elif algo == "aldd":
            seen = pred(mining.cald_views(img, out, gen, views))
            mapped = [
                Dense(mining.to_image_frame(seen.heat[v * b : (v + 1) * b], name), out.boxes, out.feature)
                for v, name in enumerate(views)
            ]
            scores_t[idx] = mining.aldd_scores(out, mapped, weights)
        elif algo == "cald":
            scores_t[idx] = mining.cald_scores(
                out,
                pred(mining.cald_views(img, out, gen, views)),
                img_size=pred.img_size,
                conf_threshold=max(cfg.mining_conf_threshold, 0.1),
                beta=cfg.cald_beta,
                names=views,
            )
        if class_vec is not None:
            class_vec[batch.indices] = mining.class_vectors(out).half().cpu()
        done += len(batch.indices)
        progress(done / n)
    budget = cfg.topk if cfg.topk > 0 else max(1, math.ceil(0.1 * n))
    if algo == "kcenter":
        assert features is not None
        # picks hold their gains, the rest their final distance: the same numbers sort into the pick order
        picks, gains, final = mining.kcenter_order(features, cfg.topk)
        final[picks] = gains
        return _ranked(final)
    if algo == "hybrid":
        assert features is not None and class_vec is not None
        score = (
            scores_t * _rarity_factor(class_vec.float().to(pred.device), pred, weights) ** cfg.hybrid_balance
        )
        return _diverse(score, features, budget, cfg)
    if algo == "balanced":
        assert features is not None
        return _balanced_selection(pool_boxes, box_index, features, n, pred=pred, weights=weights, cfg=cfg)
    return _ranked(scores_t)


def _ranked(scores: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    values = scores.float().cpu().numpy()
    return _order(values), values


def _class_rarity(pred: Predictor, device: torch.device) -> torch.Tensor:
    """(C,) sqrt(mean count / count) of each class in the model's training set: rare classes weigh more."""
    counts = torch.tensor(
        pred.class_counts or [1] * len(pred.class_names), dtype=torch.float32, device=device
    )
    return (counts.mean() / counts.clamp(min=1.0)).sqrt()


def _rarity_factor(class_vec: torch.Tensor, pred: Predictor, weights: torch.Tensor) -> torch.Tensor:
    """Per image, the score-weighted mean rarity (x user weight) of the classes it seems to hold (N,)."""
    rarity = _class_rarity(pred, class_vec.device) * weights  # (C,)
    mass = class_vec.sum(1)
    factor = torch.where(
        mass > 0, (class_vec * rarity).sum(1) / mass.clamp(min=mining.EPS), torch.ones_like(mass)
    )
    return factor.clamp(min=mining.EPS)


def _balanced_selection(
    parts: list[mining.Boxes],
    index: list[torch.Tensor],
    features: torch.Tensor,
    n: int,
    *,
    pred: Predictor,
    weights: torch.Tensor,
    cfg: PredictConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """``balanced``: difficulty-calibrated box uncertainty, class-balance targets, category-conditioned
    novelty (``balanced.balanced_order``) over the pool's detections, put back in candidate order."""
    order = torch.cat(index)
    slots = {name: torch.cat([getattr(p, name) for p in parts]) for name in ("u", "s", "q")}
    maps = [p.f for p in parts if p.f is not None]
    f = torch.cat(maps) if len(maps) == len(parts) else None

    def placed(t: torch.Tensor) -> torch.Tensor:  # rows back in candidate order
        return torch.empty_like(t).index_copy_(0, order, t)

    boxes = mining.Boxes(
        placed(slots["u"]), placed(slots["s"]), placed(slots["q"]), None if f is None else placed(f)
    )
    difficulty = _difficulty(boxes, pred, cfg)
    counts = torch.tensor(
        pred.class_counts or [1] * len(pred.class_names), dtype=torch.float32, device=boxes.u.device
    )
    budget = cfg.topk if cfg.topk > 0 else max(1, math.ceil(0.1 * n))
    radius = 0.0
    if cfg.novelty_radius > 0:
        first = torch.argsort(boxes.u.sum(1), descending=True, stable=True)  # q sums to 1 per detection
        if boxes.f is not None:
            radius = mining.box_radius(boxes, first, budget) * cfg.novelty_radius
        else:
            top = first[: min(n, max(budget, 2), 2048)]
            g = torch.nn.functional.normalize(features[top].float(), dim=1)
            d = torch.cdist(g, g)
            d.fill_diagonal_(math.inf)
            radius = float(d.min(1).values.median()) * cfg.novelty_radius
    # On the CPU: the lazy greedy is thousands of small steps, each needing the one before's result; on a
    # GPU each waits behind the kernels of whatever else shares it (bench/select_device_bench.py).
    host = torch.device("cpu")
    _, gains = balanced.balanced_order(
        mining.Boxes(
            boxes.u.to(host),
            boxes.s.to(host),
            boxes.q.to(host),
            None if boxes.f is None else boxes.f.to(host),
        ),
        class_weights=(weights * difficulty).to(host),
        counts=counts.to(host),
        budget=budget,
        balance=cfg.class_balance,
        radius=radius,
        image_features=features.to(host),
    )
    return _ranked(gains)


def _difficulty(boxes: mining.Boxes, pred: Predictor, cfg: PredictConfig) -> torch.Tensor:
    """(C,) how hard each class is, relative to the classes' mean (PPAL's difficulty calibration).

    ``validation``: the class's error on the validation set, 1 - AP@.5, as the model's training measured
    it (a class without validation objects counts as the mean). ``pool``, or a model without those
    figures: the mean uncertainty of the class's detections over the pool.
    """
    dev = boxes.u.device
    ap = torch.tensor(pred.class_ap50, dtype=torch.float32, device=dev)
    if cfg.mining_difficulty == "validation" and len(ap) == boxes.q.shape[-1] and bool(ap.isfinite().any()):
        err = (1.0 - ap).clamp(min=0.01)
        err = torch.where(ap.isfinite(), err, err[ap.isfinite()].mean())
        return err / err.mean()
    mass, found = mining.class_sums(boxes)
    seen = found > 0
    difficulty = torch.where(seen, mass / found.clamp(min=mining.EPS), torch.ones_like(mass))
    if bool(seen.any()):
        difficulty = torch.where(seen, difficulty / difficulty[seen].mean().clamp(min=mining.EPS), difficulty)
    return difficulty


def _diverse(
    score: torch.Tensor, features: torch.Tensor, budget: int, cfg: PredictConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy score x novelty (``mining.novelty_order``); the radius is ``novelty_radius`` times the median
    distance between the ``budget`` best-scoring images and their nearest neighbour among them."""
    if cfg.novelty_radius <= 0 or len(score) < 2:
        return _ranked(score)
    top = torch.argsort(score, descending=True, stable=True)[: min(len(score), max(budget, 2), 2048)]
    f = torch.nn.functional.normalize(features[top].float(), dim=1)
    d = torch.cdist(f, f)
    d.fill_diagonal_(math.inf)
    radius = float(d.min(1).values.median()) * cfg.novelty_radius
    _, gains = mining.novelty_order(score, features, budget, radius)
    return _ranked(gains)


def _order(scores: np.ndarray) -> np.ndarray:
    """Indices sorted by score, best first (stable, so ties keep index order)."""
    return np.argsort(-scores.astype(np.float64), kind="stable")


def write_mining_result(path: Path, paths: np.ndarray, order: np.ndarray, scores: np.ndarray) -> None:
    """result.tsv: ``<path as in the index>\t<score>`` per candidate, best first; the algorithm's scores."""
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as fh:
        for i in order.tolist():
            fh.write(paths[i] + b"\t" + f"{float(scores[i]):.8g}".encode() + b"\n")
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
            order, scores = mine(paths, env=env, cfg=cfg, pred=pred, progress=part.progress)
            write_mining_result(env.mining_result_file, paths, order, scores)
        if env.run_infer:
            part = monitor.span(0.5, 1.0) if both else monitor
            infer(paths, env=env, cfg=cfg, pred=pred, out_path=env.infer_result_file, progress=part.progress)
    except ExecutorError:
        raise
    except Exception as exc:
        where = "mining" if env.run_mining else "inference"
        if is_oom(exc):
            raise OutOfMemoryError(where=where, batch_size=cfg.batch_size_per_gpu) from exc
        if is_cuda_error(exc):
            raise DeviceError(step=where, images=[], problem=_first_line(exc)) from exc
        raise

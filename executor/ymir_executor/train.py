"""Training: named phases (before_train, epoch loop with after_iter / after_epoch, after_train).

One code path for CPU, one GPU and several GPUs (DistributedDataParallel, one process per GPU; rank 0
evaluates and writes every output file).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ymir_executor import checkpoint, onnx_export, pseudo, sampling
from ymir_executor.annotations import AnnotationReader, Objects
from ymir_executor.augment import AugmentParams, augment
from ymir_executor.config import TrainConfig
from ymir_executor.data import TrainImages, cache_mode, decode_all
from ymir_executor.dataset import Batch, Item, read_candidate_index, read_training_index
from ymir_executor.device import DevicePlan, autocast, is_oom, plan_devices
from ymir_executor.env import Env
from ymir_executor.errors import ConfigError, ExecutorError, ModelError, NanLossError, OutOfMemoryError
from ymir_executor.evaluate import coco_metrics
from ymir_executor.graphed import GraphedStep
from ymir_executor.model import Detections, Detector, DetectorConfig, decode
from ymir_executor.monitor import Monitor, SilentMonitor
from ymir_executor.stages import Stage, StageBook, now
from ymir_executor.tboard import Scalars
from ymir_executor.threads import threads_per_process

log = logging.getLogger(__name__)
RANK_ERROR_FILE = ".rank-error-{rank}.json"


class ModelEMA:
    """Exponential moving average of the weights, with YOLOX's ramp so early averages are not stale.

    The update is two multi-tensor operations over lists made once (the live tensors share storage with
    the model's parameters and buffers), not a Python loop over the state dict: on a small model the
    per-tensor loop launched more kernels than the forward pass.
    """

    def __init__(self, model: Detector, decay: float) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.updates = 0
        for p in self.model.parameters():
            p.requires_grad_(False)
        ema, live = self.model.state_dict(), model.state_dict()
        self._ema_f = [v for v in ema.values() if v.dtype.is_floating_point]
        self._live_f = [live[k] for k, v in ema.items() if v.dtype.is_floating_point]
        self._ema_i = [v for v in ema.values() if not v.dtype.is_floating_point]
        self._live_i = [live[k] for k, v in ema.items() if not v.dtype.is_floating_point]

    @torch.no_grad()
    def update(self, model: Detector) -> None:
        """Blends the live weights in (``model`` is the one the lists were made from)."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / 200))
        torch._foreach_lerp_(self._ema_f, self._live_f, 1.0 - d)
        if self._ema_i:
            torch._foreach_copy_(self._ema_i, self._live_i)


def lr_factor(step: int, *, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up from 1% to 100%, then cosine down to ``min_ratio``."""
    if step < warmup:
        return 0.01 + 0.99 * step / max(1, warmup)
    t = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases and norm weights."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@dataclass
class TrainData:
    """Parsed training and validation sets plus class statistics."""

    train: list[Item]
    val: list[Item]
    class_counts: list[int]


def load_data(env: Env, cfg: TrainConfig) -> TrainData:
    """Reads both index files and their annotations."""
    reader = AnnotationReader(cfg.class_names)
    train = read_training_index(env.training_index_file, roots=env.roots, reader=reader, what="training")
    val = read_training_index(env.val_index_file, roots=env.roots, reader=reader, what="validation")
    counts = [0] * len(cfg.class_names)
    for it in train:
        for c in it.objects.classes.tolist():
            counts[c] += 1
    return TrainData(train, val, counts)


class Trainer:
    """Trains one process's share; rank 0 also evaluates and writes stages."""

    def __init__(self, env: Env, cfg: TrainConfig, monitor: Monitor, plan: DevicePlan, rank: int = 0) -> None:
        self.env, self.cfg, self.monitor, self.plan, self.rank = env, cfg, monitor, plan, rank
        self.world = plan.world
        self.device = plan.device(rank)
        self.is_main = rank == 0
        self.graphed: GraphedStep | None = None
        self.seconds: dict[str, float] = {"evaluation": 0.0, "saving": 0.0}  # wall time per phase

    # ---- phases -------------------------------------------------------------------------------------
    def before_train(self) -> None:
        """Data, model (fresh, fine-tuned or resumed), optimizer, writers."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed + self.rank)
        self.data = load_data(self.env, cfg)
        self.start_epoch = 0
        model_args = DetectorConfig(num_classes=len(cfg.class_names), size=cfg.model_size)
        pretrained: checkpoint.Checkpoint | None = None
        if cfg.pretrained_model_params:
            path = checkpoint.find_weights(
                cfg.pretrained_model_params,
                map_path=self.env.roots.map_path,
                models_dir=self.env.models_in_dir,
                key="pretrained_model_params",
            )
            pretrained = checkpoint.load(path)
            model_args = DetectorConfig(num_classes=len(cfg.class_names), size=pretrained.model_args["size"])
        self.model = Detector(model_args)
        optimizer_state = None
        if pretrained is not None:
            same_classes = [c.lower() for c in pretrained.class_names] == [c.lower() for c in cfg.class_names]
            if cfg.resume and same_classes and pretrained.optimizer is not None:
                self.model.load_state_dict(pretrained.state_dict)
                self.start_epoch = pretrained.epoch
                optimizer_state = pretrained.optimizer
            else:
                skipped = checkpoint.load_matching(self.model, pretrained.state_dict)
                if len(skipped) == len(self.model.state_dict()):
                    raise ModelError(
                        path=pretrained.path,
                        problem="no tensor fits this detector",
                        fix="choose a model trained by this executor",
                    )
        self.model.to(self.device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.ema = ModelEMA(self.model, cfg.ema_decay)
        self.net: nn.Module = self.model
        if self.world > 1:
            self.net = DistributedDataParallel(
                self.model, device_ids=[self.rank] if self.plan.is_cuda else None
            )
        graphed = cfg.cuda_graph and self.plan.is_cuda and self.world == 1
        self.optimizer = torch.optim.AdamW(
            param_groups(self.model, cfg.weight_decay),
            lr=torch.tensor(cfg.learning_rate, device=self.device) if graphed else cfg.learning_rate,
            betas=(0.9, 0.999),
            fused=self.plan.is_cuda,  # one kernel per step instead of several per tensor
            capturable=graphed,
        )
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
            if graphed:
                for g in self.optimizer.param_groups:
                    g["lr"] = torch.tensor(float(g["lr"]), device=self.device)
        self.graphed = GraphedStep(self._step) if graphed else None
        self.n_labelled = len(self.data.train)
        self.pool = self._pool() if cfg.pseudo_labels else []
        # the pool is labelled by the starting model: the pretrained one, or halfway the model trained so far
        self.pseudo_from = 0 if pretrained is not None else cfg.epochs // 2
        self.pool_labelled = False
        mode = cache_mode(
            cfg.cache_images,
            n_images=self.n_labelled + len(self.pool),
            size=cfg.img_size,
            device=self.device,
            max_gb=cfg.cache_max_gb,
        )
        self.images = TrainImages(
            self.data.train + self.pool,
            cfg.img_size,
            cfg.batch_size_per_gpu,
            cfg.workers_per_gpu,
            self.device,
            mode,
            self.rank,
            self.world,
            fixed_shapes=graphed,
        )
        self.images.prepare(lambda f: self.monitor.progress(0.05 * f))
        self.val_cache = (
            decode_all(self.data.val, size=cfg.img_size, workers=cfg.workers_per_gpu, progress=lambda f: None)
            if self.is_main
            else None
        )
        self.repeat: torch.Tensor | None = None
        threshold = cfg.repeat_threshold()
        if threshold > 0:
            self.repeat = sampling.repeat_factors(
                [it.objects.classes for it in self.data.train], len(cfg.class_names), threshold
            )
            log.info(sampling.describe(self.repeat))
        shown = self.n_labelled if self.repeat is None else sampling.epoch_length(self.repeat)
        self.steps = self.images.steps_per_epoch(shown)
        steps_after = self.images.steps_per_epoch(
            shown + len(self._members(0, labelled_pool=True)) - self.n_labelled
        )
        first = min(cfg.epochs, max(self.start_epoch, self.pseudo_from))
        self.total_steps = self.steps * first + steps_after * (cfg.epochs - first)
        self.warmup = int(cfg.warmup_epochs * self.steps)
        self.step = self.start_epoch * self.steps
        self.scalars = Scalars(self.env.tensorboard_dir, enabled=self.is_main)
        self.book = StageBook(self.env.models_out_dir, cfg.keep_stages)
        self.aug = AugmentParams(
            cfg.flip_prob, cfg.scale_jitter, cfg.translate, cfg.color_jitter, cfg.mosaic_prob
        )
        # a CUDA graph draws from the device's default generator (seeded above); eager steps from their own
        self.gen = (
            None if graphed else torch.Generator(device=self.device).manual_seed(cfg.seed * 1000 + self.rank)
        )
        self.t0 = time.time()
        self.loss_sum = torch.zeros(3, device=self.device)
        self.loss_n = 0
        self.images_seen = 0

    def train(self) -> None:
        """Runs every phase; rank 0 leaves result.yaml, the stages and the ONNX export behind."""
        t0 = time.perf_counter()
        self.before_train()
        self.seconds["setup"] = time.perf_counter() - t0
        epoch = self.start_epoch
        for epoch in range(self.start_epoch, self.cfg.epochs):
            if self.pool and not self.pool_labelled and epoch >= self.pseudo_from:
                self.pseudo_label()
            self.model.train()
            members = self._epoch_members(epoch)
            for pixels, boxes, classes in self.images.epoch(self.cfg.seed * 7919 + epoch, members):
                self.train_iter(pixels, boxes, classes)
                self.after_iter(epoch)
            stop = self._time_up()
            self.after_epoch(epoch, last=stop or epoch == self.cfg.epochs - 1)
            if stop:
                break
        t1 = time.perf_counter()
        self.after_train()
        self.seconds["export"] = time.perf_counter() - t1
        self.seconds["loop"] = t1 - t0 - sum(self.seconds[k] for k in ("setup", "evaluation", "saving"))
        images = self.images_seen * self.world
        log.info(
            "training took %.1f s: setup %.1f (images, model), %d steps%s in %.1f s (about %.0f images/s), "
            "evaluation %.1f, saving %.1f, export %.1f",
            time.perf_counter() - t0, self.seconds["setup"], self.step,
            " (CUDA graph)" if self.graphed is not None else "", self.seconds["loop"],
            images / max(1e-9, self.seconds["loop"]), self.seconds["evaluation"], self.seconds["saving"],
            self.seconds["export"],
        )  # fmt: skip

    def train_iter(self, pixels: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor) -> None:
        """One optimisation step on a uint8 batch (a CUDA graph replay when ``cuda_graph`` applies)."""
        lr = self.cfg.learning_rate * lr_factor(
            self.step, warmup=self.warmup, total=self.total_steps, min_ratio=self.cfg.min_lr_ratio
        )
        for g in self.optimizer.param_groups:
            if isinstance(g["lr"], torch.Tensor):
                g["lr"].fill_(lr)  # a captured optimiser reads its learning rate from the device
            else:
                g["lr"] = lr
        if self.graphed is not None:
            self.graphed(pixels, boxes, classes)
        else:
            self._step(pixels, boxes, classes)
        self.ema.update(self.model)
        self.loss_n += 1
        self.step += 1
        self.images_seen += len(pixels)

    def _step(self, pixels: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor) -> None:
        """Augmentation, forward, backward, clipping, optimiser: everything a CUDA graph may capture."""
        img, boxes, classes = augment(pixels, boxes, classes, self.aug, self.gen)  # (B, 3, S, S) 0..1
        if self.cfg.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.cfg.amp, cache=self.graphed is None):
            losses = self.net(img, boxes, classes)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if self.cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.loss_sum += torch.stack([losses["loss"].detach(), losses["heatmap"], losses["box"]])

    def after_iter(self, epoch: int) -> None:
        """Every ``log_interval`` steps: NaN check, TensorBoard scalars, monitor progress."""
        if self.step % self.cfg.log_interval and self.step != self.total_steps:
            return
        values = (self.loss_sum / max(1, self.loss_n)).tolist()
        self.loss_sum.zero_()
        self.loss_n = 0
        if not all(math.isfinite(v) for v in values):
            raise NanLossError(epoch=epoch + 1, iteration=self.step)
        for tag, v in zip(("loss/total", "loss/heatmap", "loss/box"), values, strict=True):
            self.scalars.add(tag, v, self.step)
        self.scalars.add("lr", float(self.optimizer.param_groups[0]["lr"]), self.step)
        if self.is_main:
            self.monitor.progress(0.05 + 0.9 * self._done_share())

    def after_epoch(self, epoch: int, *, last: bool) -> None:
        """Evaluates and saves a stage every ``eval_interval`` epochs and after the last one.

        The NaN check of the losses since the last log waits for that moment too: reading the sum is a
        device sync, and on a small set an epoch is only a few steps.
        """
        if (epoch + 1) % self.cfg.eval_interval and not last:
            return
        if self.loss_n and not math.isfinite(float(self.loss_sum[0])):
            raise NanLossError(epoch=epoch + 1, iteration=self.step)
        if self.is_main:
            t = time.perf_counter()
            metrics = self.evaluate()
            self.seconds["evaluation"] += time.perf_counter() - t
            for k in ("mAP", "mAP50_95", "mAR"):
                self.scalars.add(f"val/{k}", metrics[k], epoch + 1)
            t = time.perf_counter()
            self.save_stage(f"epoch_{epoch + 1}", epoch + 1, metrics)
            self.seconds["saving"] += time.perf_counter() - t
            log.info("epoch %d: mAP@.5 %.4f mAP@.5:.95 %.4f", epoch + 1, metrics["mAP"], metrics["mAP50_95"])
        if self.world > 1:
            dist.barrier()

    def after_train(self) -> None:
        """Exports the best stage to ONNX and closes the writers."""
        if self.is_main and self.cfg.export_onnx and self.book.best:
            best = checkpoint.load(self.env.models_out_dir / self.book.best / checkpoint.WEIGHTS_FILE)
            onnx_export.export(
                best.build(),
                self.env.models_out_dir / self.book.best / onnx_export.ONNX_FILE,
                img_size=self.cfg.img_size,
                opset=self.cfg.onnx_opset,
                class_names=best.class_names,
            )
            self.book.add_file(self.book.best, onnx_export.ONNX_FILE)
        self.scalars.close()

    # ---- helpers ------------------------------------------------------------------------------------
    def _pool(self) -> list[Item]:
        """The unlabelled images of ``pseudo_labels``: the task's candidate index."""
        path = self.env.candidate_index_file
        if path is None or not path.is_file():
            raise ConfigError(
                field="pseudo_labels",
                problem="is true but the task passes no unlabelled images (env.yaml: candidate_index_file)",
                fix="pass the pool (mir train --unlabeled-revs), or set pseudo_labels: false",
            )
        paths = read_candidate_index(path, roots=self.env.roots)
        return [Item(self.env.roots.map_path(p.decode()), Objects.empty()) for p in paths.tolist()]

    def _epoch_members(self, epoch: int) -> torch.Tensor | None:
        """The images of one epoch (None: every labelled image once): the labelled ones, repeated by their
        repeat factors, then the pool's share once it carries pseudo-labels."""
        members = self._members(epoch, labelled_pool=self.pool_labelled) if self.pool else None
        if self.repeat is None:
            return members
        labelled = sampling.repeated(self.repeat, seed=self.cfg.seed * 7919 + epoch + 2)
        return labelled if members is None else torch.cat((labelled, members[members >= self.n_labelled]))

    def _members(self, epoch: int, *, labelled_pool: bool) -> torch.Tensor:
        return pseudo.epoch_members(
            n_labelled=self.n_labelled,
            n_pool=len(self.pool),
            ratio=self.cfg.pseudo_label_ratio,
            labelled_pool=labelled_pool,
            seed=self.cfg.seed * 7919 + epoch + 1,
        )

    def pseudo_label(self) -> None:
        """Labels the pool with the EMA model's confident detections (``pseudo.label``)."""
        t = time.perf_counter()
        n = self.n_labelled
        cache = self.images.cache
        if cache is not None:
            pool = Batch(cache.pixels[n:], cache.scales[n:], cache.sizes[n:], cache.indices[n:], [])
        else:
            pool = decode_all(
                self.pool, size=self.cfg.img_size, workers=self.cfg.workers_per_gpu, progress=lambda f: None
            )
        objects = pseudo.label(
            self.ema.model,
            pool,
            threshold=self.cfg.pseudo_label_threshold,
            max_boxes=self.cfg.max_boxes,
            batch_size=max(64, self.cfg.batch_size_per_gpu),
            device=self.device,
            amp=self.cfg.amp,
        )
        self.images.relabel(n, objects)
        self.pool_labelled = True
        boxes = sum(len(o.classes) for o in objects)
        log.info(
            "pseudo-labels: %d boxes on %d of %d pool images (score >= %.2f) in %.1f s",
            boxes, sum(len(o.classes) > 0 for o in objects), len(objects), self.cfg.pseudo_label_threshold,
            time.perf_counter() - t,
        )  # fmt: skip

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """COCO metrics of the EMA model on the validation set, in original image pixels."""
        assert self.val_cache is not None
        model = self.ema.model.eval()
        dets: list[Detections] = []
        cache = self.val_cache
        bs = max(1, self.cfg.batch_size_per_gpu)
        for start in range(0, len(cache.pixels), bs):
            img = cache.pixels[start : start + bs].to(self.device).float() / 255.0
            if self.cfg.channels_last:
                img = img.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.cfg.amp):
                out = model.predict(img)
            for d, s in zip(
                decode(
                    out.heat,
                    out.boxes,
                    conf_threshold=self.cfg.conf_threshold,
                    max_boxes=self.cfg.max_boxes,
                    iou_threshold=self.cfg.iou_threshold,
                ),
                cache.scales[start : start + bs].tolist(),
                strict=True,
            ):
                dets.append(Detections(d.boxes.cpu() / s, d.scores.cpu(), d.classes.cpu()))
        gts: list[Objects] = [it.objects for it in self.data.val]
        sizes = [(int(w), int(h)) for w, h in cache.sizes.tolist()]
        return coco_metrics(gts, dets, sizes, len(self.cfg.class_names))

    def save_stage(self, name: str, epoch: int, metrics: dict[str, float]) -> None:
        """Writes ``models/<name>/{model.pt, config.yaml}`` and records the stage."""
        stage_dir = self.env.models_out_dir / name
        used = self.cfg.model_dump()
        checkpoint.save(
            stage_dir / checkpoint.WEIGHTS_FILE,
            model=self.ema.model,
            class_names=self.cfg.class_names,
            img_size=self.cfg.img_size,
            epoch=epoch,
            config=used,
            metrics=metrics,
            class_counts=self.data.class_counts,
            optimizer=self.optimizer.state_dict(),
        )
        (stage_dir / "config.yaml").write_text(
            yaml.safe_dump(
                {
                    "class_names": self.cfg.class_names,
                    "model_size": self.model.cfg.size,
                    "metrics": metrics,
                    "config": used,
                },
                sort_keys=False,
            )
        )
        self.book.add(
            Stage(
                name,
                [checkpoint.WEIGHTS_FILE, "config.yaml"],
                now(),
                metrics["mAP"],
                metrics["mAR"],
                int(metrics["tp"]),
                int(metrics["fp"]),
                int(metrics["fn"]),
            )
        )

    def _done_share(self) -> float:
        by_steps = self.step / max(1, self.total_steps)
        if self.cfg.max_train_minutes > 0:
            by_time = (time.time() - self.t0) / (60 * self.cfg.max_train_minutes)
            return min(1.0, max(by_steps, by_time))
        return min(1.0, by_steps)

    def _time_up(self) -> bool:
        if self.cfg.max_train_minutes <= 0:
            return False
        up = torch.tensor(
            [time.time() - self.t0 > 60 * self.cfg.max_train_minutes], dtype=torch.int32, device=self.device
        )
        if self.world > 1:
            dist.broadcast(up, 0)
        return bool(up.item())


def _wrap_errors(fn: Any, *, batch_size: int) -> Any:
    try:
        return fn()
    except ExecutorError:
        raise
    except Exception as exc:
        if is_oom(exc):
            raise OutOfMemoryError(where="training", batch_size=batch_size) from exc
        raise


def _ddp_worker(rank: int, env: Env, cfg: TrainConfig, monitor: Monitor, plan: DevicePlan, port: int) -> None:
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    backend = "nccl" if plan.is_cuda else "gloo"
    if plan.is_cuda:
        torch.cuda.set_device(rank)
    else:  # the processes share the cores (or OMP_NUM_THREADS) instead of each using all of them
        torch.set_num_threads(threads_per_process(plan.world))
    dist.init_process_group(backend, rank=rank, world_size=plan.world)
    if rank:
        monitor = SilentMonitor(monitor.path, monitor.task_id, monitor.lo, monitor.hi, monitor.min_interval_s)
    try:
        _wrap_errors(
            lambda: Trainer(env, cfg, monitor, plan, rank).train(), batch_size=cfg.batch_size_per_gpu
        )
    except ExecutorError as exc:
        (env.out_dir / RANK_ERROR_FILE.format(rank=rank)).write_text(
            json.dumps({"code": exc.code, "message": exc.message})
        )
        raise
    finally:
        dist.destroy_process_group()


class _RankError(ExecutorError):
    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(message)


def run_training(env: Env, cfg: TrainConfig, monitor: Monitor, *, plan: DevicePlan | None = None) -> None:
    """Trains per config; spawns one process per GPU when more than one is asked for."""
    plan = plan or plan_devices(gpu_count=cfg.gpu_count, gpu_id=cfg.gpu_id)
    if plan.world <= 1:
        _wrap_errors(lambda: Trainer(env, cfg, monitor, plan).train(), batch_size=cfg.batch_size_per_gpu)
        return
    if not plan.is_cuda:
        log.info("%d CPU training processes, %d thread(s) each", plan.world, threads_per_process(plan.world))
    port = 29500 + (os.getpid() % 1000)
    env.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        mp.spawn(  # type: ignore[attr-defined,no-untyped-call]
            _ddp_worker, args=(env, cfg, monitor, plan, port), nprocs=plan.world, join=True
        )
    except Exception as exc:
        for rank in range(plan.world):
            path = env.out_dir / RANK_ERROR_FILE.format(rank=rank)
            if path.is_file():
                err = json.loads(path.read_text())
                path.unlink()
                raise _RankError(int(err["code"]), str(err["message"])) from exc
        raise


def stage_files(models_dir: Path) -> dict[str, Any]:
    """Parsed result.yaml (for callers and tests)."""
    loaded: dict[str, Any] = yaml.safe_load((models_dir / "result.yaml").read_text())
    return loaded

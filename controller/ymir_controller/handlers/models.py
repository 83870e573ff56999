"""Model handlers: train, mining, infer, model import and export."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mir import models
from mir.executors.runtime import fair_share
from mir.ops import mining, training
from mir.ops.executing import TaskOptions
from ymir_controller.handlers.context import Context, version_info
from ymir_controller.protocol import (
    InferRequest,
    Kind,
    MiningRequest,
    ModelExportRequest,
    ModelImportRequest,
    ModelInfo,
    TaskResult,
    TrainRequest,
)


def _options(ctx: Context, executor: str, timeout: float | None, user: str) -> TaskOptions:
    """How mir runs this task's executor.

    An executor on the CPU gets the cores divided by the worker's concurrency (``cpu_threads``, passed as
    OMP_NUM_THREADS), as up to that many tasks run at once; OMP_NUM_THREADS in the worker's own
    environment wins, and GPU runs are left alone.
    """
    work = ctx.fresh_work_dir()
    shutil.rmtree(work)  # mir wants to create it itself (empty)
    return TaskOptions(
        model_location=ctx.settings.models,
        media_location=ctx.settings.media,
        executor=executor or None,
        work_dir=work,
        gpu_ids=list(ctx.gpu_ids),
        progress=ctx.progress("running"),
        should_cancel=ctx.should_cancel,
        timeout=timeout,
        user=user,
        local_executors=ctx.settings.local_executors,
        cpu_threads=fair_share(ctx.settings.worker_concurrency),
    )


def model_info(info: dict[str, Any], model_hash: str, metrics: dict[str, Any] | None = None) -> ModelInfo:
    """A model summarised for the backend under the glossary's names (``map50``, ``map50_95``)."""
    names = (info.get("executor_config") or {}).get("class_names") or info.get("class_names") or []
    best = info.get("best_stage_name") or ""
    stages = {name: {**st, **models.stage_metrics(st)} for name, st in info["stages"].items()}
    m = metrics or {}
    return ModelInfo(
        model_hash=model_hash,
        best_stage=best,
        stages=stages,
        class_names=[str(n) for n in names],
        map50_95=m.get("map50_95"),
        map50=m.get("map50"),
        executor_map50=models.stage_metrics(info["stages"].get(best) or {}).get("executor_map50"),
        evaluation=metrics,
    )


def stored_model_info(model_location: Path, model_hash: str) -> ModelInfo:
    """A package already in the model location (imported or exported), with what mir measured of it."""
    info = models.read_info(models.package_path(model_location, model_hash))
    summary = model_info(info, model_hash, models.read_metrics(model_location, model_hash))
    summary.evaluation = None  # the full evaluation lives in the training commit, not beside the package
    return summary


def handle_train(req: TrainRequest, ctx: Context) -> TaskResult:
    """Train a model; the result carries the model and mir's own evaluation of it."""
    repo = ctx.settings.path(req.repo)
    report = training.train(
        root=repo,
        src_revs=req.src_revs,
        dst=req.dst_rev,
        options=_options(ctx, req.executor, req.timeout, req.user),
        task_config=req.config,
        pretrained=req.pretrained,
        class_names=req.class_names,
        strategy=req.strategy,
    )
    return TaskResult(
        task_id=ctx.task_id,
        kind=Kind.TRAIN,
        state="done",
        version=version_info(repo, report.commit),
        model=model_info(report.model, report.model_hash, report.metrics),
    )


def handle_mining(req: MiningRequest, ctx: Context) -> TaskResult:
    """Mine the top-k assets."""
    repo = ctx.settings.path(req.repo)
    report = mining.mine(
        root=repo,
        src_revs=req.src_revs,
        dst=req.dst_rev,
        model=req.model,
        options=_options(ctx, req.executor, req.timeout, req.user),
        topk=req.topk,
        add_prediction=req.add_prediction,
        task_config=req.config,
        algorithm=req.algorithm,
        strategy=req.strategy,
    )
    return TaskResult(
        task_id=ctx.task_id, kind=Kind.MINING, state="done", version=version_info(repo, report.commit)
    )


def handle_infer(req: InferRequest, ctx: Context) -> TaskResult:
    """Predictions of a model on a version."""
    repo = ctx.settings.path(req.repo)
    report = mining.infer(
        root=repo,
        src_revs=req.src_revs,
        dst=req.dst_rev,
        model=req.model,
        options=_options(ctx, req.executor, req.timeout, req.user),
        task_config=req.config,
        strategy=req.strategy,
    )
    return TaskResult(
        task_id=ctx.task_id, kind=Kind.INFER, state="done", version=version_info(repo, report.commit)
    )


def handle_model_import(req: ModelImportRequest, ctx: Context) -> TaskResult:
    """Check and store an uploaded model package."""
    digest, _info = models.import_package(ctx.settings.path(req.package), ctx.settings.models)
    return TaskResult(
        task_id=ctx.task_id,
        kind=Kind.MODEL_IMPORT,
        state="done",
        model=stored_model_info(ctx.settings.models, digest),
    )


def handle_model_export(req: ModelExportRequest, ctx: Context) -> TaskResult:
    """Copy a package under the workplace (for download)."""
    src = models.package_path(ctx.settings.models, req.model_hash)
    dst = ctx.settings.path(req.dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return TaskResult(
        task_id=ctx.task_id,
        kind=Kind.MODEL_EXPORT,
        state="done",
        output=req.dst,
        model=stored_model_info(ctx.settings.models, src.name),
    )

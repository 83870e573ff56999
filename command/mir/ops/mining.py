"""``mir mining`` and ``mir infer``: run a model over a version's images.

Mining keeps the ``--topk`` best-scoring assets (sorted by score here, whatever order the executor
wrote) and, with ``--add-prediction``, the model's boxes on them; inference stores the model's boxes
on every asset as the version's predictions, with their provenance (model, stage, executor, config).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mir import models
from mir.errors import ExecutorError, InvalidArgsError
from mir.executors.contract import merge_config, read_mining_result, write_config, write_env
from mir.executors.runtime import RunRequest, runtime_for
from mir.labels import Labels
from mir.ops.common import absolute, dst_rev, load_sources, parent_of, restrict
from mir.ops.executing import (
    TaskOptions,
    export_for_executor,
    load_task_config,
    model_class_names,
    predictions_table,
    stage_files,
    template_for,
    work_directory,
    write_candidates,
)
from mir.ops.merge import Strategy, merge_sources
from mir.progress import Progress
from mir.store import schema
from mir.store.repo import Commit, Repo, Snapshot, Task


@dataclass
class MiningReport:
    """The commit and what was selected."""

    commit: Commit
    selected: int
    candidates: int
    predictions: int


def run_model(
    *,
    root: Path,
    src_revs: str,
    dst: str,
    model: str,
    options: TaskOptions,
    topk: int | None,
    add_prediction: bool,
    task_config_file: Path | None = None,
    task_config: dict[str, Any] | None = None,
    algorithm: str | None = None,
    strategy: Strategy = "stop",
    task_type: str = "mining",
) -> MiningReport:
    """Mining (``topk`` set) and/or inference (``add_prediction``) of ``model`` over ``src_revs``."""
    if topk is None and not add_prediction:
        raise InvalidArgsError(
            "nothing to do", fix="give --topk (mining) and/or --add-prediction (inference)"
        )
    if topk is not None and topk <= 0:
        raise InvalidArgsError(f"--topk must be positive, got {topk}", fix="e.g. --topk 200")
    repo = Repo(root)
    dst_r = dst_rev(repo, dst)
    sources = load_sources(repo, src_revs)
    merged = merge_sources(sources, strategy=strategy).snap
    n = merged.assets.num_rows
    if n == 0:
        raise InvalidArgsError(f"{src_revs} holds no assets", fix="mine a version with images")
    model_ref = models.parse_model_ref(model)
    model_location = absolute(options.model_location)
    media = absolute(options.media_location)
    runtime = runtime_for(
        options.executor, docker_client=options.docker_client, local_executors=options.local_executors
    )
    run_mining = topk is not None
    template = template_for(
        runtime, (["mining"] if run_mining else []) + (["infer"] if add_prediction else [])
    )
    user_config = load_task_config(task_config_file, task_config)
    if algorithm:
        user_config["mining_algorithm"] = algorithm
    prog = Progress(options.progress, bar=False)
    gpu_ids = list(options.gpu_ids or [])
    task_id = dst_r.tid or ""
    with work_directory(options.work_dir, task_type) as work:
        prog.phase(0.0, 0.05)
        prog.update(0.0, "exporting candidates")
        placed = export_for_executor(work, merged.assets, media, container=runtime.container)
        lookup = write_candidates(work, placed)
        stage, files, info = stage_files(work, model_ref, model_location, container=runtime.container)
        names = model_class_names(info)
        reserved: dict[str, Any] = {
            "task_id": task_id,
            "class_names": names,
            "gpu_id": ",".join(gpu_ids),
            "gpu_count": len(gpu_ids),
            "model_params_path": files,
            "run_mining": run_mining,
            "run_infer": add_prediction,
        }
        if run_mining:
            user_config.setdefault("topk", min(topk or 0, n))
        config = merge_config(template, user_config, reserved)
        write_config(work, config)
        write_env(
            work,
            task_id=task_id,
            run_mining=run_mining,
            run_infer=add_prediction,
            container=runtime.container,
        )
        prog.phase(0.05, 0.95)
        runtime.run(
            RunRequest(
                work=work,
                task_id=task_id,
                gpu_ids=gpu_ids,
                shm_size=str(config.get("shm_size", "16G")),
                progress=lambda f, s: prog.update(f, task_type),
                should_cancel=options.should_cancel,
                timeout=options.timeout,
                cpu_threads=options.cpu_threads,
            )
        )
        scores: list[tuple[str, float]] = []
        if run_mining:
            scores = read_mining_result(work.output / "result.tsv", lookup)
            if len(scores) < min(topk or 0, n):
                raise ExecutorError(
                    f"the executor scored {len(scores)} of {n} candidates, fewer than --topk {topk}",
                    work_dir=work.root,
                )
        infer_path = work.output / "infer-result.json"
        provenance = {
            "model_hash": model_ref.hash,
            "stage": stage,
            "executor": runtime.name,
            "config": config,
            "class_names": names,
            "task_id": task_id,
        }

        def build(labels: Labels) -> Snapshot:
            snap = merged
            if run_mining:
                chosen = [a for a, _ in scores[: topk or 0]]
                score_of = dict(scores)
                order = {a: i for i, a in enumerate(chosen)}
                assets = merged.assets.filter(pc.is_in(merged.assets["asset_id"], value_set=pa.array(chosen)))
                ranks = pa.array([order[a] for a in assets["asset_id"].to_pylist()])
                assets = assets.take(pc.sort_indices(ranks))
                tags = [
                    dict(t or {}) | {"mining_score": f"{score_of[a]:.6g}"}
                    for a, t in zip(assets["asset_id"].to_pylist(), assets["tags"].to_pylist(), strict=True)
                ]
                assets = assets.set_column(
                    assets.schema.get_field_index("tags"),
                    schema.ASSETS.field("tags"),
                    pa.array([list(t.items()) for t in tags], schema.TAGS_TYPE),
                )
                snap = restrict(merged, assets)
            if add_prediction:
                pred = predictions_table(infer_path, lookup, snap.assets, labels)
                pred = pred.filter(
                    pc.is_in(pred["asset_id"], value_set=snap.assets["asset_id"].combine_chunks())
                )
                snap = Snapshot(assets=snap.assets, gt=snap.gt, pred=pred, pred_meta=provenance)
            return snap

        task = Task(
            type=task_type,
            tid=task_id,
            user=options.user,
            src_revs=src_revs,
            executor=runtime.name,
            model={"model_hash": model_ref.hash, "best_stage_name": stage, "class_names": names},
            params={
                "config": config,
                "topk": topk,
                "add_prediction": add_prediction,
                "strategy": strategy,
                "gpu_ids": gpu_ids,
            },
        )
        commit = repo.commit(dst=dst_r, task=task, build=build, parent=parent_of(sources))
    prog.done(task_type)
    return MiningReport(
        commit=commit,
        selected=commit.stats["assets"],
        candidates=n,
        predictions=commit.stats["pred"]["boxes"],
    )


def mine(**kwargs: Any) -> MiningReport:
    """``mir mining``: the ``topk`` most useful assets (and, optionally, the model's boxes on them)."""
    return run_model(task_type="mining", **kwargs)


def infer(**kwargs: Any) -> MiningReport:
    """``mir infer``: the model's boxes on every asset, stored as the version's predictions."""
    return run_model(task_type="infer", topk=None, add_prediction=True, **kwargs)

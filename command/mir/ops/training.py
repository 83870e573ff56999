"""``mir train``: run an executor on a version's train/val assets, keep the model, judge it ourselves.

After the executor finishes, its stages are packed into a model package stored by sha1, and the
best stage is run on the validation assets so that the mAP recorded in the commit is computed by
mir's evaluator (:mod:`mir.evaluation`), not taken on trust from the executor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mir import models
from mir.errors import InvalidArgsError
from mir.evaluation import evaluate
from mir.executors.contract import WorkDir, merge_config, read_training_result, write_config, write_env
from mir.executors.runtime import RunRequest, Runtime, runtime_for
from mir.labels import Labels
from mir.ops.common import absolute, dst_rev, load_sources, parent_of, restrict
from mir.ops.executing import (
    TaskOptions,
    export_for_executor,
    export_format,
    load_task_config,
    predictions_table,
    stage_files,
    template_for,
    work_directory,
    write_candidates,
    write_training_indexes,
)
from mir.ops.export import class_mapping
from mir.ops.merge import Strategy, merge_sources
from mir.ops.select import split_names
from mir.progress import Progress
from mir.store.repo import Commit, Repo, Snapshot, Task
from mir.store.schema import Tvt

log = logging.getLogger(__name__)


@dataclass
class TrainReport:
    """The commit, the stored model and the metrics mir measured."""

    commit: Commit
    model_hash: str
    best_stage: str
    metrics: dict[str, Any]
    model: dict[str, Any]  # the commit's model record: stages, class names, map50, map50_95, executor_map50
    class_names: list[str]
    class_names_source: str


CLASSES_FROM_ARGUMENT = "--class-names"
CLASSES_FROM_CONFIG = "class_names of the task config"
CLASSES_FROM_DATASET = "all classes of the training set (the default: neither --class-names nor class_names)"


def _class_names(
    snap: Snapshot, labels: Labels, config: dict[str, Any], class_names: str | list[str]
) -> tuple[list[str], str]:
    """The classes to train and where they came from (one of the ``CLASSES_FROM_*`` phrases)."""
    wanted = split_names(class_names)
    source = CLASSES_FROM_ARGUMENT
    if not wanted:
        wanted = [str(n) for n in config.get("class_names") or []]
        source = CLASSES_FROM_CONFIG
    if wanted:
        ids = labels.ids_of(wanted, where=source.split(" of ")[0])
        if len(set(ids)) != len(ids):
            raise InvalidArgsError(
                f"class names {wanted} name the same class twice", fix="list each class once"
            )
        return [labels.name_of(i) for i in ids], source
    used = sorted(set(snap.gt["class_id"].to_pylist()))
    if not used:
        raise InvalidArgsError("the training set has no ground-truth boxes", fix="import annotations first")
    return [labels.name_of(i) for i in used], CLASSES_FROM_DATASET


def train(
    *,
    root: Path,
    src_revs: str,
    dst: str,
    options: TaskOptions,
    task_config_file: Path | None = None,
    task_config: dict[str, Any] | None = None,
    pretrained: str | None = None,
    class_names: str | list[str] = "",
    strategy: Strategy = "stop",
    unlabeled_revs: str = "",
) -> TrainReport:
    """Train on ``src_revs`` (``tr:`` and ``va:`` assets) and commit ``dst`` recording the model.

    ``unlabeled_revs`` names versions whose images (less the training and validation ones) the executor
    may train on without labels: they go to it as the candidate index, and the config's
    ``pseudo_labels`` defaults to true (our executor labels them with the starting model's detections).
    """
    repo = Repo(root)
    dst_r = dst_rev(repo, dst)
    sources = load_sources(repo, src_revs)
    merged = merge_sources(sources, strategy=strategy).snap
    labels = repo.labels()
    user_config = load_task_config(task_config_file, task_config)
    unlabeled = None
    if unlabeled_revs:
        unlabeled = merge_sources(load_sources(repo, unlabeled_revs), strategy="host").snap.assets
        user_config = {"pseudo_labels": True, **user_config}
    names, names_source = _class_names(merged, labels, user_config, class_names)
    log.info("training %d class(es): %s (from %s)", len(names), ", ".join(names), names_source)
    ids = labels.ids_of(names)
    tvt = merged.assets["tvt"]
    n_train = int(pc.sum(pc.equal(tvt, pa.scalar(int(Tvt.TRAIN), pa.int8()))).as_py() or 0)
    n_val = int(pc.sum(pc.equal(tvt, pa.scalar(int(Tvt.VAL), pa.int8()))).as_py() or 0)
    if not n_train or not n_val:
        raise InvalidArgsError(
            f"{src_revs} holds {n_train} training and {n_val} validation assets; both are needed",
            fix="mark them when merging: --src-revs 'tr:train-set;va:val-set'",
        )
    model_ref = models.parse_model_ref(pretrained) if pretrained else None
    media = absolute(options.media_location)
    model_location = absolute(options.model_location)
    runtime = runtime_for(
        options.executor, docker_client=options.docker_client, local_executors=options.local_executors
    )
    template = template_for(runtime, ["training"])
    prog = Progress(options.progress, bar=False)
    gpu_ids = list(options.gpu_ids or [])
    task_id = dst_r.tid or ""
    selection, mapped_names = class_mapping(merged, names, ids)
    with work_directory(options.work_dir, "train") as work:
        prog.phase(0.0, 0.05)
        prog.update(0.0, "exporting training data")
        trainval = selection.assets.filter(pc.is_in(tvt, value_set=pa.array([1, 2], pa.int8())))
        placed = export_for_executor(work, trainval, media, container=runtime.container)
        counts = write_training_indexes(
            work,
            placed,
            selection.gt,
            mapped_names,
            export_format({**template, **user_config}),
            container=runtime.container,
        )
        reserved: dict[str, Any] = {
            "task_id": task_id,
            "class_names": mapped_names,
            "gpu_id": ",".join(gpu_ids),
            "gpu_count": len(gpu_ids),
        }
        if model_ref is not None:
            _stage, files, _info = stage_files(work, model_ref, model_location, container=runtime.container)
            reserved["pretrained_model_params"] = files
        if unlabeled is not None:
            known = pc.is_in(unlabeled["asset_id"], value_set=trainval["asset_id"])
            rest = unlabeled.filter(pc.invert(known))
            write_candidates(work, export_for_executor(work, rest, media, container=runtime.container))
            log.info("%d unlabelled images passed to the executor", rest.num_rows)
        config = merge_config(template, user_config, reserved)
        write_config(work, config)
        write_env(
            work,
            task_id=task_id,
            run_training=True,
            container=runtime.container,
            candidates=unlabeled is not None,
        )
        prog.phase(0.05, 0.85)
        runtime.run(
            RunRequest(
                work=work,
                task_id=task_id,
                gpu_ids=gpu_ids,
                shm_size=str(config.get("shm_size", "16G")),
                progress=lambda f, s: prog.update(f, "training"),
                should_cancel=options.should_cancel,
                timeout=options.timeout,
                cpu_threads=options.cpu_threads,
            )
        )
        result = read_training_result(work.output / "models")
        stages = {
            name: {"stage_name": name, "files": st.files, "timestamp": st.timestamp, **st.metrics}
            for name, st in result.stages.items()
        }
        model_hash, _info = models.pack(
            models_dir=work.output / "models",
            stages=stages,
            best_stage=result.best_stage,
            model_location=model_location,
            executor_config=config,
            task_context={
                "src_revs": src_revs,
                "dst_rev": str(dst_r),
                "executor": runtime.name,
                "producer": "ymir",
                "task_id": task_id,
            },
        )
        try:
            prog.phase(0.85, 0.98)
            prog.update(0.0, "evaluating the best stage")
            val = selection.assets.filter(pc.equal(tvt, pa.scalar(int(Tvt.VAL), pa.int8())))
            val_snap = restrict(Snapshot(assets=val, gt=selection.gt), val)
            metrics = _evaluate_stage(
                runtime,
                work,
                model_hash,
                result.best_stage,
                model_location,
                media,
                val_snap,
                mapped_names,
                options,
                task_id,
            )
            model = {
                "model_hash": model_hash,
                "best_stage_name": result.best_stage,
                "class_names": mapped_names,
                "stages": stages,
                "executor": runtime.name,
                "executor_config": config,
                "map50_95": metrics["map50_95"],
                "map50": metrics["map50"],
                "executor_map50": result.stages[result.best_stage].metrics.get("mAP"),
                "evaluation": metrics,
                "executor_reported": result.stages[result.best_stage].metrics,
                "train_assets": counts["train-index.tsv"],
                "val_assets": counts["val-index.tsv"],
            }
            params = {
                "config": config,
                "pretrained": pretrained or "",
                "strategy": strategy,
                "gpu_ids": gpu_ids,
                "unlabeled_revs": unlabeled_revs,
            }
            task = Task(
                type="training",
                tid=task_id,
                user=options.user,
                src_revs=src_revs,
                model=model,
                executor=runtime.name,
                params=params,
            )
            models.write_metrics(
                model_location,
                model_hash,
                {k: model[k] for k in ("map50_95", "map50", "executor_map50", "val_assets")}
                | {"measured_for": str(dst_r)},
            )
            commit = repo.commit(
                dst=dst_r, task=task, build=lambda _labels: merged, parent=parent_of(sources)
            )
        except BaseException:
            (model_location / model_hash).unlink(missing_ok=True)  # no commit, no model: nothing half-done
            models.drop_metrics(model_location, model_hash)
            raise
    prog.done("trained")
    return TrainReport(
        commit=commit,
        model_hash=model_hash,
        best_stage=result.best_stage,
        metrics=metrics,
        model=model,
        class_names=names,
        class_names_source=names_source,
    )


def _evaluate_stage(
    runtime: Runtime,
    train_work: WorkDir,
    model_hash: str,
    stage: str,
    model_location: Path,
    media: Path,
    val: Snapshot,
    names: list[str],
    options: TaskOptions,
    task_id: str,
) -> dict[str, Any]:
    """Run the best stage on the validation images and evaluate with mir's own evaluator.

    ``val.gt`` carries class ids that are positions in ``names`` (the mapping the executor saw).
    """
    work = WorkDir(train_work.root / "evaluation").create()
    placed = export_for_executor(work, val.assets, media, container=runtime.container)
    lookup = write_candidates(work, placed)
    _stage, files, _info = stage_files(
        work, models.ModelRef(model_hash, stage), model_location, container=runtime.container
    )
    config = merge_config(
        template_for(runtime, ["infer"]),
        {},
        {
            "task_id": f"{task_id}-eval",
            "class_names": names,
            "gpu_id": ",".join(options.gpu_ids or []),
            "gpu_count": len(options.gpu_ids or []),
            "model_params_path": files,
            "run_infer": True,
            "run_mining": False,
            "conf_threshold": 0.005,
        },
    )
    write_config(work, config)
    write_env(work, task_id=f"{task_id}-eval", run_infer=True, container=runtime.container)
    runtime.run(
        RunRequest(
            work=work,
            task_id=f"{task_id}-eval",
            gpu_ids=list(options.gpu_ids or []),
            should_cancel=options.should_cancel,
            timeout=options.timeout,
            cpu_threads=options.cpu_threads,
        )
    )
    local = Labels()
    for n in names:
        local.add(n)
    pred = predictions_table(work.output / "infer-result.json", lookup, val.assets, local)
    _marked, result = evaluate(Snapshot(assets=val.assets, gt=val.gt, pred=pred), list(range(len(names))))
    result["class_names"] = {str(i): n for i, n in enumerate(names)}
    return result

"""Iterations: YMIR's rounds — prepare mining data, mine, label, merge into the training set, train —
each step bound to its task, presets carried from the previous round, and per-round summaries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.api.deps import DB, CurrentUser, project_access
from ymir_backend.api.routes.datasets import launch, new_version, ready, version_of
from ymir_backend.api.routes.images import usable
from ymir_backend.api.routes.mlmodels import executor_of, model_of, model_ref, new_model
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import DatasetVersion, Iteration, IterationStep, ModelVersion, Project, User
from ymir_backend.models.iterations import STEPS
from ymir_backend.schemas import IterationIn, IterationOut, IterationStepOut, StepRun, TaskOut
from ymir_backend.services import tasks as task_service
from ymir_controller.protocol import FuseRequest, MergeRequest, MiningRequest, TrainRequest

router = APIRouter(tags=["iterations"])
SKIPPABLE = {"prepare_mining", "label"}


def _out(db: Session, it: Iteration) -> IterationOut:
    out = IterationOut.model_validate(it)
    steps = list(
        db.scalars(
            select(IterationStep).where(IterationStep.iteration_id == it.id).order_by(IterationStep.id)
        )
    )
    out.steps = [IterationStepOut.model_validate(s) for s in steps]
    out.summary = _summary(db, it)
    return out


def _summary(db: Session, it: Iteration) -> dict[str, Any]:
    """Training-set size and mAP of this round and their change from the previous round."""

    def train_size(dataset_id: int | None) -> int | None:
        dv = db.get(DatasetVersion, dataset_id) if dataset_id else None
        return dv.asset_count if dv else None

    merge = db.scalar(
        select(IterationStep).where(IterationStep.iteration_id == it.id, IterationStep.name == "merge")
    )
    size = train_size(
        merge.output_dataset_id if merge and merge.output_dataset_id else it.training_dataset_id
    )
    model = db.get(ModelVersion, it.result_model_id) if it.result_model_id else None
    prev = db.scalar(
        select(Iteration).where(Iteration.project_id == it.project_id, Iteration.round == it.round - 1)
    )
    prev_map = None
    prev_size = None
    if prev is not None:
        pm = db.get(ModelVersion, prev.result_model_id) if prev.result_model_id else None
        prev_map = pm.map if pm else None
        prev_out = _summary(db, prev)
        prev_size = prev_out["training_set_size"]
    map_now = model.map if model else None
    return {
        "training_set_size": size,
        "map": map_now,
        "map50": model.map50 if model else None,
        "training_set_change": (size - prev_size) if size is not None and prev_size is not None else None,
        "map_change": (map_now - prev_map) if map_now is not None and prev_map is not None else None,
    }


def iteration_of(
    db: Session, user: User, iteration_id: int, *, write: bool = False
) -> tuple[Iteration, Project]:
    """An iteration of a project the user may see."""
    it = db.get(Iteration, iteration_id)
    if it is None:
        raise not_found("iteration", iteration_id)
    try:
        project = project_access(db, user, it.project_id, write=write)
    except ApiError as e:
        if e.status == 404:
            raise not_found("iteration", iteration_id) from e
        raise
    return it, project


@router.post("/projects/{project_id}/iterations", response_model=IterationOut, status_code=201)
def start_round(project_id: int, body: IterationIn, user: CurrentUser, db: DB) -> IterationOut:
    """Start the next round; what it does not name comes from the previous round or the project."""
    project = project_access(db, user, project_id, write=True)
    prev = db.scalar(
        select(Iteration).where(Iteration.project_id == project.id).order_by(Iteration.round.desc())
    )
    if prev is not None and prev.state != "done":
        raise ApiError(
            409, "round_open", f"round {prev.round} is not finished; finish its training step first"
        )
    prev_train = None
    if prev is not None:
        merge = db.scalar(
            select(IterationStep).where(IterationStep.iteration_id == prev.id, IterationStep.name == "merge")
        )
        prev_train = (
            merge.output_dataset_id if merge and merge.output_dataset_id else prev.training_dataset_id
        )
    it = Iteration(
        project_id=project.id,
        round=(prev.round + 1) if prev else 1,
        training_dataset_id=body.training_dataset_id or prev_train or project.training_dataset_id,
        mining_dataset_id=body.mining_dataset_id or project.mining_dataset_id,
        model_id=body.model_id or (prev.result_model_id if prev else None) or project.initial_model_id,
        presets={**(prev.presets if prev else {}), **body.presets},
    )
    if it.training_dataset_id is None or it.mining_dataset_id is None:
        raise ApiError(
            400, "missing_sets", "set the project's training and mining datasets (or give them here)"
        )
    db.add(it)
    db.flush()
    for name in STEPS:
        db.add(IterationStep(iteration_id=it.id, name=name, presets=dict(it.presets.get(name, {}))))
    db.commit()
    return _out(db, it)


@router.get("/projects/{project_id}/iterations", response_model=list[IterationOut])
def list_rounds(project_id: int, user: CurrentUser, db: DB) -> list[IterationOut]:
    """Every round with its steps and summary."""
    project_access(db, user, project_id)
    rows = db.scalars(select(Iteration).where(Iteration.project_id == project_id).order_by(Iteration.round))
    return [_out(db, it) for it in rows]


@router.get("/iterations/{iteration_id}", response_model=IterationOut)
def get_round(iteration_id: int, user: CurrentUser, db: DB) -> IterationOut:
    """One round."""
    return _out(db, iteration_of(db, user, iteration_id)[0])


def _previous_output(db: Session, it: Iteration, name: str) -> int | None:
    step = db.scalar(
        select(IterationStep).where(IterationStep.iteration_id == it.id, IterationStep.name == name)
    )
    if step is None or step.state not in ("done", "skipped"):
        return None
    return step.output_dataset_id


def _label_outcome(
    db: Session, user: User, it: Iteration, project: Project, step: IterationStep, body: StepRun
) -> None:
    """What the label step hands to the merge: the labeled dataset, or (only when asked for with
    ``merge_unlabeled``) the mined images without labels. Skipping it otherwise skips the merge too, so
    unlabeled images never reach training as images without boxes."""
    if body.labeled_dataset_id is not None:
        labeled, p = version_of(db, user, body.labeled_dataset_id)
        if p.id != project.id:
            raise ApiError(400, "not_in_project", "the labeled dataset must belong to this project")
        ready(labeled)
        step.output_dataset_id = labeled.id
    elif body.merge_unlabeled:
        step.output_dataset_id = _previous_output(db, it, "mining")
    elif body.skip:
        step.output_dataset_id = None
        merge = db.scalar(
            select(IterationStep).where(IterationStep.iteration_id == it.id, IterationStep.name == "merge")
        )
        if merge is not None and merge.state == "pending":
            merge.state = "skipped"
            merge.output_dataset_id = None
    else:
        raise ApiError(
            422,
            "invalid_request",
            "labeled_dataset_id: give the dataset the annotators labeled; or skip the step "
            '({"skip": true}: the mined images are not merged), or merge them without labels '
            '({"skip": true, "merge_unlabeled": true})',
        )


@router.post(
    "/iterations/{iteration_id}/steps/{name}", response_model=TaskOut | IterationOut, status_code=202
)
def run_step(iteration_id: int, name: str, body: StepRun, request: Request, user: CurrentUser, db: DB) -> Any:
    """Run (or skip, where YMIR allows) one step; its task answers ``202``."""
    it, project = iteration_of(db, user, iteration_id, write=True)
    step = db.scalar(
        select(IterationStep).where(IterationStep.iteration_id == it.id, IterationStep.name == name)
    )
    if step is None:
        raise ApiError(404, "step_not_found", f"no step {name!r}; steps are {', '.join(STEPS)}")
    order = list(STEPS)
    for before in order[: order.index(name)]:
        other = db.scalar(
            select(IterationStep).where(IterationStep.iteration_id == it.id, IterationStep.name == before)
        )
        if other is None or other.state not in ("done", "skipped"):
            raise ApiError(409, "step_out_of_order", f"finish or skip step {before!r} before {name!r}")
    if step.state in ("running", "done", "skipped"):
        raise ApiError(409, "step_done", f"step {name!r} is already {step.state}")
    presets = {**step.presets, **body.presets}
    step.presets = presets
    if body.skip or name == "label":
        if name not in SKIPPABLE:
            raise ApiError(400, "cannot_skip", f"step {name!r} cannot be skipped")
        if name == "label":
            _label_outcome(db, user, it, project, step, body)
        else:
            step.output_dataset_id = it.mining_dataset_id
        step.state = "skipped" if body.skip else "done"
        db.commit()
        return _out(db, it)
    tid = task_service.new_task_id()
    step.task_id = None
    if name == "prepare_mining":
        src, _ = version_of(db, user, it.mining_dataset_id or 0)
        trn, _ = version_of(db, user, it.training_dataset_id or 0)
        out = new_version(db, project, "mining-data", tid, [src.id])
        req: Any = FuseRequest(
            repo=project.repo,
            dst_rev=out.rev,
            src_revs=ready(src).rev,
            ex_src_revs=ready(trn).rev,
            strategy="host",
            count=presets.get("count"),
            rate=presets.get("rate"),
            user=user.email,
        )
        versions: list[Any] = [out]
        step.output_dataset_id = out.id
    elif name == "mining":
        src_id = _previous_output(db, it, "prepare_mining") or it.mining_dataset_id
        src, _ = version_of(db, user, src_id or 0)
        if it.model_id is None:
            raise ApiError(
                400, "no_model", "this round has no model to mine with; set the project's initial model"
            )
        mv, _ = model_of(db, user, it.model_id)
        image = usable(db, user.id, user.role, presets.get("image_id"), "mining")
        out = new_version(db, project, "mined", tid, [src.id])
        req = MiningRequest(
            repo=project.repo,
            dst_rev=out.rev,
            src_revs=ready(src).rev,
            model=model_ref(mv),
            topk=int(presets.get("topk", 100)),
            add_prediction=bool(presets.get("add_prediction", False)),
            algorithm=presets.get("algorithm"),
            config=presets.get("config", {}),
            executor=executor_of(image),
            user=user.email,
        )
        versions = [out]
        step.output_dataset_id = out.id
    elif name == "merge":
        labeled_id = _previous_output(db, it, "label")
        trn, _ = version_of(db, user, it.training_dataset_id or 0)
        lab, _ = version_of(db, user, labeled_id or 0)
        out = new_version(db, project, "training-set", tid, [trn.id, lab.id])
        req = MergeRequest(
            repo=project.repo,
            dst_rev=out.rev,
            src_revs=f"tr:{ready(trn).rev};tr:{ready(lab).rev}",
            strategy="host",
            user=user.email,
        )
        versions = [out]
        step.output_dataset_id = out.id
    else:  # training
        merged_id = _previous_output(db, it, "merge") or it.training_dataset_id
        trn, _ = version_of(db, user, merged_id or 0)
        if project.validation_dataset_id is None:
            raise ApiError(400, "no_validation_set", "set the project's validation dataset first")
        val, _ = version_of(db, user, project.validation_dataset_id)
        image = usable(db, user.id, user.role, presets.get("image_id"), "training")
        pretrained = None
        if it.model_id is not None:
            pm, _ = model_of(db, user, it.model_id)
            pretrained = model_ref(pm)
        mv = new_model(db, project, "iterations", tid)
        mv.training_dataset_id = trn.id
        req = TrainRequest(
            repo=project.repo,
            dst_rev=f"training-{mv.group_id}@{tid}",
            src_revs=f"tr:{ready(trn).rev};va:{ready(val).rev}",
            config=presets.get("config", {}),
            class_names=list(project.training_classes),
            pretrained=pretrained,
            strategy="host",
            executor=executor_of(image),
            user=user.email,
        )
        versions = [mv]
        step.output_model_id = mv.id
        it.result_model_id = mv.id
    step.state = "running"
    task = launch(db, request, user=user, project=project, task_id=tid, req=req, versions=versions)
    step.task_id = tid
    db.commit()
    return task

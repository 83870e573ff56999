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
from ymir_backend.errors import ApiError
from ymir_backend.models import Iteration, IterationStep, Project, User
from ymir_backend.models.iterations import STEPS
from ymir_backend.schemas import DbId, IterationIn, IterationOut, IterationStepOut, StepRun, TaskOut
from ymir_backend.services import round_summary
from ymir_backend.services import tasks as task_service
from ymir_backend.services.access import iteration_of
from ymir_controller.protocol import FuseRequest, MergeRequest, MiningRequest, TrainRequest

router = APIRouter(tags=["iterations"])
SKIPPABLE = {"prepare_mining", "label"}


def _outs(db: Session, rounds: list[Iteration]) -> list[IterationOut]:
    """Rounds with their steps and summaries (a fixed number of queries for any number of rounds)."""
    steps: dict[int, list[IterationStepOut]] = {it.id: [] for it in rounds}
    if rounds:
        for s in db.scalars(
            select(IterationStep).where(IterationStep.iteration_id.in_(steps)).order_by(IterationStep.id)
        ):
            steps[s.iteration_id].append(IterationStepOut.model_validate(s))
    figures = round_summary.summaries(db, rounds)
    outs = []
    for it in rounds:
        out = IterationOut.model_validate(it)
        out.steps = steps[it.id]
        out.summary = figures[it.id]
        outs.append(out)
    return outs


def _out(db: Session, it: Iteration) -> IterationOut:
    return _outs(db, [it])[0]


@router.post("/projects/{project_id}/iterations", response_model=IterationOut, status_code=201)
def start_round(project_id: DbId, body: IterationIn, user: CurrentUser, db: DB) -> IterationOut:
    """Start the next round; what it does not name comes from the previous round or the project."""
    project = project_access(db, user, project_id, write=True)
    for ident in (body.training_dataset_id, body.mining_dataset_id):
        if ident is not None:
            version_of(db, user, ident, within=project)
    if body.model_id is not None:
        model_of(db, user, body.model_id, within=project)
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
def list_rounds(project_id: DbId, user: CurrentUser, db: DB) -> list[IterationOut]:
    """Every round with its steps and summary."""
    project_access(db, user, project_id)
    rows = db.scalars(select(Iteration).where(Iteration.project_id == project_id).order_by(Iteration.round))
    return _outs(db, list(rows))


@router.get("/iterations/{iteration_id}", response_model=IterationOut)
def get_round(iteration_id: DbId, user: CurrentUser, db: DB) -> IterationOut:
    """One round."""
    return _out(db, iteration_of(db, user, iteration_id)[0])


def _label_in_label_studio(
    db: Session,
    request: Request,
    user: User,
    project: Project,
    it: Iteration,
    step: IterationStep,
    presets: dict[str, Any],
) -> Any:
    """The label step through Label Studio: a labeling task on the mined images (presets: class_names,
    annotators, instruction, pre_annotations); its new version is the step's output."""
    from ymir_backend.api.routes.labeling import LabelIn, start_labeling

    mined = _previous_output(db, it, "mining")
    if mined is None:
        raise ApiError(409, "step_out_of_order", "the mining step has no output to label")
    fields = {k: presets[k] for k in LabelIn.model_fields if k in presets}
    task, out_id = start_labeling(db, request, user, project, mined, LabelIn(**fields), group="labeled")
    step.task_id = task.id
    step.output_dataset_id = out_id
    step.state = "running"
    db.commit()
    return task


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
        labeled, _ = version_of(db, user, body.labeled_dataset_id, within=project)
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
            '({"skip": true}: the mined images are not merged), merge them without labels '
            '({"skip": true, "merge_unlabeled": true}), or label them in Label Studio '
            '({"presets": {"label_studio": true}})',
        )


def _gpu_count(presets: dict[str, Any]) -> int:
    """The GPUs a mining or training step asks for (its presets carry the form's ``gpu_count``)."""
    value = presets.get("gpu_count", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(
            422, "invalid_gpu_count", f"presets.gpu_count must be a whole number >= 0, not {value!r}"
        )
    return value


@router.post(
    "/iterations/{iteration_id}/steps/{name}", response_model=TaskOut | IterationOut, status_code=202
)
def run_step(
    iteration_id: DbId, name: str, body: StepRun, request: Request, user: CurrentUser, db: DB
) -> Any:
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
    gpu_count = _gpu_count(presets)
    step.presets = presets
    if name == "label" and not body.skip and body.labeled_dataset_id is None and presets.get("label_studio"):
        return _label_in_label_studio(db, request, user, project, it, step, presets)
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
            topk=presets.get("topk", 100),
            add_prediction=bool(presets.get("add_prediction", False)),
            algorithm=presets.get("algorithm"),
            config=presets.get("config", {}),
            executor=executor_of(image),
            gpu_count=gpu_count,
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
            gpu_count=gpu_count,
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

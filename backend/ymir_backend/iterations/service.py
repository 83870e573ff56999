"""Iterations: YMIR's rounds — prepare mining data, mine, label, merge into the training set, train —
each step bound to its task, presets carried from the previous round, and per-round summaries.

A step's task is planned by the same service functions the dataset, model and labeling routes use
(``plan_fuse``, ``plan_mining``, ``plan_labeling``, ``plan_merge``, ``plan_training``), bound to the
step, and launched by the tasks service; so a round runs on the GPUs its presets ask for, exactly as
a training started from the model page would.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.datasets.schemas import FuseIn
from ymir_backend.datasets.service import plan_fuse, plan_merge, ready
from ymir_backend.errors import ApiError
from ymir_backend.images.service import usable
from ymir_backend.iterations import summary
from ymir_backend.iterations.schemas import IterationIn, IterationOut, IterationStepOut, StepRun
from ymir_backend.labeling.schemas import LabelingIn
from ymir_backend.labeling.service import plan_labeling
from ymir_backend.mlmodels.service import plan_mining, plan_training
from ymir_backend.models import Iteration, IterationStep, Project, Task, User
from ymir_backend.models.iterations import STEPS
from ymir_backend.services.access import iteration_of, model_of, project_access, version_of
from ymir_backend.services.engine import Engine
from ymir_backend.tasks.service import TaskPlan, launch

SKIPPABLE = {"prepare_mining", "label"}


def outs(db: Session, rounds: list[Iteration]) -> list[IterationOut]:
    """Rounds with their steps and summaries (a fixed number of queries for any number of rounds)."""
    steps: dict[int, list[IterationStepOut]] = {it.id: [] for it in rounds}
    if rounds:
        for s in db.scalars(
            select(IterationStep).where(IterationStep.iteration_id.in_(steps)).order_by(IterationStep.id)
        ):
            steps[s.iteration_id].append(IterationStepOut.model_validate(s))
    figures = summary.summaries(db, rounds)
    result = []
    for it in rounds:
        out = IterationOut.model_validate(it)
        out.steps = steps[it.id]
        out.summary = figures[it.id]
        result.append(out)
    return result


def _out(db: Session, it: Iteration) -> IterationOut:
    return outs(db, [it])[0]


def _step(db: Session, it: Iteration, name: str) -> IterationStep | None:
    return db.scalar(
        select(IterationStep).where(IterationStep.iteration_id == it.id, IterationStep.name == name)
    )


def start_round(db: Session, *, user: User, project_id: int, body: IterationIn) -> IterationOut:
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
        merge = _step(db, prev, "merge")
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


def list_rounds(db: Session, user: User, project_id: int) -> list[IterationOut]:
    """Every round of the project with its steps and summary."""
    project_access(db, user, project_id)
    rows = db.scalars(select(Iteration).where(Iteration.project_id == project_id).order_by(Iteration.round))
    return outs(db, list(rows))


def get_round(db: Session, user: User, iteration_id: int) -> IterationOut:
    """One round."""
    return _out(db, iteration_of(db, user, iteration_id)[0])


def _previous_output(db: Session, it: Iteration, name: str) -> int | None:
    step = _step(db, it, name)
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
        merge = _step(db, it, "merge")
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


def gpu_count(presets: dict[str, Any]) -> int:
    """The GPUs a mining or training step asks for (its presets carry the form's ``gpu_count``)."""
    value = presets.get("gpu_count", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(
            422, "invalid_gpu_count", f"presets.gpu_count must be a whole number >= 0, not {value!r}"
        )
    return value


def _plan_step(
    db: Session, user: User, project: Project, it: Iteration, name: str, presets: dict[str, Any]
) -> TaskPlan:
    """The task of step ``name``, planned by the dataset, model and labeling services."""
    if name == "label":  # through Label Studio (presets: class_names, annotators, instruction, ...)
        mined = _previous_output(db, it, "mining")
        if mined is None:
            raise ApiError(409, "step_out_of_order", "the mining step has no output to label")
        fields = {k: presets[k] for k in LabelingIn.model_fields if k in presets}
        source, _ = version_of(db, user, mined)
        body = LabelingIn(**fields)
        return plan_labeling(db, user=user, project=project, source=source, body=body, group="labeled")
    gpus = gpu_count(presets)
    if name == "prepare_mining":
        src, _ = version_of(db, user, it.mining_dataset_id or 0)
        trn, _ = version_of(db, user, it.training_dataset_id or 0)
        spec = FuseIn(
            group_name=None,
            dataset_ids=[src.id],
            strategy="host",
            count=presets.get("count"),
            rate=presets.get("rate"),
            seed=0,
        )
        return plan_fuse(
            db, user=user, project=project, sources=[src], excluded=[trn], group="mining-data", body=spec
        )
    if name == "mining":
        src, _ = version_of(db, user, _previous_output(db, it, "prepare_mining") or it.mining_dataset_id or 0)
        if it.model_id is None:
            raise ApiError(
                400, "no_model", "this round has no model to mine with; set the project's initial model"
            )
        mv, _ = model_of(db, user, it.model_id)
        return plan_mining(
            db,
            user=user,
            project=project,
            source=src,
            model=mv,
            image=usable(db, user, presets.get("image_id"), "mining"),
            topk=presets.get("topk", 100),
            add_prediction=bool(presets.get("add_prediction", False)),
            algorithm=presets.get("algorithm"),
            config=presets.get("config", {}),
            gpu_count=gpus,
        )
    if name == "merge":
        trn, _ = version_of(db, user, it.training_dataset_id or 0)
        lab, _ = version_of(db, user, _previous_output(db, it, "label") or 0)
        return plan_merge(
            db,
            user=user,
            project=project,
            sources=[trn, lab],
            types=["train", "train"],
            group="training-set",
            strategy="host",
        )
    # training
    trn, _ = version_of(db, user, _previous_output(db, it, "merge") or it.training_dataset_id or 0)
    if project.validation_dataset_id is None:
        raise ApiError(400, "no_validation_set", "set the project's validation dataset first")
    val, _ = version_of(db, user, project.validation_dataset_id)
    image = usable(db, user, presets.get("image_id"), "training")
    pretrained = model_of(db, user, it.model_id)[0] if it.model_id is not None else None
    return plan_training(
        db,
        user=user,
        project=project,
        training=trn,
        validation=val,
        image=image,
        config=presets.get("config", {}),
        class_names=list(project.training_classes),
        pretrained=pretrained,
        gpu_count=gpus,
        group="iterations",
    )


def run_step(
    db: Session, engine: Engine, *, user: User, iteration_id: int, name: str, body: StepRun
) -> Task | IterationOut:
    """Run (or skip, where YMIR allows) one step: its task, or the round when nothing was launched."""
    it, project = iteration_of(db, user, iteration_id, write=True)
    step = _step(db, it, name)
    if step is None:
        raise ApiError(404, "step_not_found", f"no step {name!r}; steps are {', '.join(STEPS)}")
    order = list(STEPS)
    for before in order[: order.index(name)]:
        other = _step(db, it, before)
        if other is None or other.state not in ("done", "skipped"):
            raise ApiError(409, "step_out_of_order", f"finish or skip step {before!r} before {name!r}")
    if step.state in ("running", "done", "skipped"):
        raise ApiError(409, "step_done", f"step {name!r} is already {step.state}")
    presets = {**step.presets, **body.presets}
    gpu_count(presets)
    step.presets = presets
    in_label_studio = body.labeled_dataset_id is None and bool(presets.get("label_studio"))
    if body.skip or (name == "label" and not in_label_studio):
        if name not in SKIPPABLE:
            raise ApiError(400, "cannot_skip", f"step {name!r} cannot be skipped")
        if name == "label":
            _label_outcome(db, user, it, project, step, body)
        else:
            step.output_dataset_id = it.mining_dataset_id
        step.state = "skipped" if body.skip else "done"
        db.commit()
        return _out(db, it)
    step.task_id = None
    plan = _plan_step(db, user, project, it, name, presets)
    (output,) = plan.versions
    if name == "training":
        step.output_model_id = it.result_model_id = output.id
    else:
        step.output_dataset_id = output.id
    step.state = "running"
    plan.steps.append(step)  # bound in the task's own commit: its result always finds the step
    return launch(db, engine, user=user, project=project, plan=plan)

"""Iterations: YMIR's rounds — prepare mining data, mine, label, merge into the training set, train —
each step bound to its task, presets carried from the previous round, and per-round summaries."""

from __future__ import annotations

from fastapi import APIRouter

from ymir_backend.api.deps import DB, CurrentUser, EngineDep
from ymir_backend.iterations import service
from ymir_backend.iterations.schemas import IterationIn, IterationOut, StepRun
from ymir_backend.models import Task
from ymir_backend.schemas import DbId
from ymir_backend.tasks.schemas import TaskOut

router = APIRouter(tags=["iterations"])


@router.post("/projects/{project_id}/iterations", response_model=IterationOut, status_code=201)
def start_round(project_id: DbId, body: IterationIn, user: CurrentUser, db: DB) -> IterationOut:
    """Start the next round; what it does not name comes from the previous round or the project."""
    return service.start_round(db, user=user, project_id=project_id, body=body)


@router.get("/projects/{project_id}/iterations", response_model=list[IterationOut])
def list_rounds(project_id: DbId, user: CurrentUser, db: DB) -> list[IterationOut]:
    """Every round with its steps and summary."""
    return service.list_rounds(db, user, project_id)


@router.get("/iterations/{iteration_id}", response_model=IterationOut)
def get_round(iteration_id: DbId, user: CurrentUser, db: DB) -> IterationOut:
    """One round."""
    return service.get_round(db, user, iteration_id)


@router.post(
    "/iterations/{iteration_id}/steps/{name}", response_model=TaskOut | IterationOut, status_code=202
)
def run_step(
    iteration_id: DbId, name: str, body: StepRun, user: CurrentUser, db: DB, engine: EngineDep
) -> Task | IterationOut:
    """Run (or skip, where YMIR allows) one step; its task answers ``202``."""
    return service.run_step(db, engine, user=user, iteration_id=iteration_id, name=name, body=body)

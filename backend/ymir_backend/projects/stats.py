"""The home page's figures per project: the current round and step, the newest model's mAP against
the target, and how many dataset versions and models are ready.

A fixed number of queries for any number of projects (the home page lists them all at once)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ymir_backend.models import (
    DatasetVersion,
    Iteration,
    IterationStep,
    ModelVersion,
    Project,
    ProjectMember,
    User,
)
from ymir_backend.models.iterations import STEPS
from ymir_backend.models.users import Role
from ymir_backend.projects.schemas import ProjectStatsOut


def visible_projects(db: Session, user: User) -> Sequence[Project]:
    """The projects the user owns or that are shared with them (the super admin: all), newest first."""
    q = select(Project).where(Project.deleted.is_(False))
    if user.role != Role.SUPER_ADMIN:
        shared = select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)
        q = q.where(or_(Project.owner_id == user.id, Project.id.in_(shared)))
    return db.scalars(q.order_by(Project.id.desc())).all()


def project_stats(db: Session, user: User) -> list[ProjectStatsOut]:
    """One row per project the user may see (5 queries in all)."""
    projects = visible_projects(db, user)
    ids = [p.id for p in projects]
    if not ids:
        return []
    latest_round = (
        select(Iteration.project_id, func.max(Iteration.round).label("round"))
        .where(Iteration.project_id.in_(ids))
        .group_by(Iteration.project_id)
        .subquery()
    )
    rounds = {
        it.project_id: it
        for it in db.scalars(
            select(Iteration).join(
                latest_round,
                (Iteration.project_id == latest_round.c.project_id)
                & (Iteration.round == latest_round.c.round),
            )
        )
    }
    open_steps: dict[int, list[IterationStep]] = {}
    for step in db.scalars(
        select(IterationStep).where(
            IterationStep.iteration_id.in_([it.id for it in rounds.values() if it.state != "done"])
        )
    ):
        open_steps.setdefault(step.iteration_id, []).append(step)
    ready_models = (
        select(ModelVersion)
        .where(
            ModelVersion.project_id.in_(ids),
            ModelVersion.state == "ready",
            ModelVersion.deleted.is_(False),
        )
        .order_by(ModelVersion.id)
    )
    newest: dict[int, ModelVersion] = {}
    models: dict[int, int] = {}
    for mv in db.scalars(ready_models):
        newest[mv.project_id] = mv  # ordered by id: the last one is the newest
        models[mv.project_id] = models.get(mv.project_id, 0) + 1
    counted = (
        select(DatasetVersion.project_id, func.count())
        .where(
            DatasetVersion.project_id.in_(ids),
            DatasetVersion.state == "ready",
            DatasetVersion.deleted.is_(False),
        )
        .group_by(DatasetVersion.project_id)
    )
    datasets: dict[int, int] = dict(db.execute(counted).all())
    out = []
    for p in projects:
        it = rounds.get(p.id)
        model = newest.get(p.id)
        out.append(
            ProjectStatsOut(
                project_id=p.id,
                round=it.round if it else None,
                round_state=it.state if it else None,
                step=_current_step(open_steps.get(it.id, [])) if it else None,
                model_id=model.id if model else None,
                map50_95=model.map50_95 if model else None,
                map50=model.map50 if model else None,
                target_map=p.target_map,
                target_iterations=p.target_iterations,
                datasets=datasets.get(p.id, 0),
                models=models.get(p.id, 0),
            )
        )
    return out


def _current_step(steps: list[IterationStep]) -> str | None:
    """The first step of a running round that is neither done nor skipped (None once all are)."""
    by_name = {s.name: s for s in steps}
    for name in STEPS:
        step = by_name.get(name)
        if step is not None and step.state not in ("done", "skipped"):
            return name
    return None

"""Who may reach what: the one place that turns an id from a request (path, query or body) into a row.

Every id a request names goes through these resolvers, whether it came in the path or in the body.
A user who may not see a resource gets the same 404 as for an id that does not exist, so guessing ids
confirms nothing; an id beyond the database's integer range is simply one that does not exist. A
resource inside a deleted project is gone for everyone: its versions, models, iterations, tasks and
their downloads resolve to 404 too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.errors import ApiError, forbidden, not_found
from ymir_backend.models import DatasetVersion, Iteration, ModelVersion, Project, ProjectMember, Task, User
from ymir_backend.models.users import Role
from ymir_backend.schemas import DB_INT_MAX

R = TypeVar("R", DatasetVersion, ModelVersion)


@dataclass(frozen=True, slots=True)
class VersionRef:
    """What reading a dataset version needs."""

    id: int
    project_id: int
    rev: str
    state: str


def _in_range(ident: int) -> bool:
    return 1 <= ident <= DB_INT_MAX


def project_access(db: Session, user: User, project_id: int, *, write: bool = False) -> Project:
    """The project if ``user`` may see it (owner, member, or super admin) and, with ``write``, change it."""
    project = db.get(Project, project_id) if _in_range(project_id) else None
    if project is None or project.deleted:
        raise not_found("project", project_id)
    if project.owner_id == user.id or user.role == Role.SUPER_ADMIN:
        return project
    member = db.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user.id)
    )
    if member is None:
        raise not_found("project", project_id)
    if write and member.role != "editor":
        raise forbidden(
            f"you may view project {project_id} but not change it (ask its owner for editor access)"
        )
    return project


def _through_project(
    db: Session, user: User, what: str, ident: object, project_id: int, *, write: bool, within: Project | None
) -> Project:
    """The resource's project, with the resource's own 404 for a user who may not see it; with
    ``within``, refused (400) when it is a visible resource of another project."""
    try:
        project = project_access(db, user, project_id, write=write)
    except ApiError as e:
        if e.status == 404:
            raise not_found(what, ident) from e
        raise
    if within is not None and project.id != within.id:
        raise ApiError(400, "not_in_project", f"{what} {ident} is not in project {within.id}; copy it first")
    return project


def _project_row(
    db: Session, user: User, kind: type[R], what: str, ident: int, *, write: bool, within: Project | None
) -> tuple[R, Project]:
    """A not-deleted row of ``kind`` (a dataset or model version) through its project's access rules."""
    row = db.get(kind, ident) if _in_range(ident) else None
    if row is None or row.deleted:
        raise not_found(what, ident)
    return row, _through_project(db, user, what, ident, row.project_id, write=write, within=within)


def version_of(
    db: Session, user: User, version_id: int, *, write: bool = False, within: Project | None = None
) -> tuple[DatasetVersion, Project]:
    """A dataset version the user may see (or change); with ``within``, one of that project."""
    return _project_row(db, user, DatasetVersion, "dataset", version_id, write=write, within=within)


def model_of(
    db: Session, user: User, model_id: int, *, write: bool = False, within: Project | None = None
) -> tuple[ModelVersion, Project]:
    """A model version the user may see (or change); with ``within``, one of that project."""
    return _project_row(db, user, ModelVersion, "model", model_id, write=write, within=within)


def iteration_of(
    db: Session, user: User, iteration_id: int, *, write: bool = False
) -> tuple[Iteration, Project]:
    """An iteration of a project the user may see."""
    it = db.get(Iteration, iteration_id) if _in_range(iteration_id) else None
    if it is None:
        raise not_found("iteration", iteration_id)
    return it, _through_project(db, user, "iteration", iteration_id, it.project_id, write=write, within=None)


def task_of(db: Session, user: User, task_id: str, *, write: bool = False) -> Task:
    """A task of a project the user may see (or change), or a project-less one the user started; a
    task of a deleted project, or of one the user was removed from, is gone even for its starter."""
    task = db.get(Task, task_id) if len(task_id) <= 40 else None
    if task is None:
        raise not_found("task", task_id)
    if task.project_id is not None:
        project = db.get(Project, task.project_id)
        if project is None or project.deleted:
            raise not_found("task", task_id)
        _through_project(db, user, "task", task_id, task.project_id, write=write, within=None)
    elif task.user_id != user.id and user.role != Role.SUPER_ADMIN:
        raise not_found("task", task_id)
    return task


def public_or_visible(db: Session, user: User, version_id: int) -> tuple[DatasetVersion, Project]:
    """A ready dataset version the user may copy: one they may see, or one marked public, in a
    project that still exists."""
    dv = db.get(DatasetVersion, version_id) if _in_range(version_id) else None
    project = db.get(Project, dv.project_id) if dv is not None else None
    if dv is None or dv.deleted or dv.state != "ready" or project is None or project.deleted:
        raise not_found("dataset", version_id)
    if not dv.is_public:
        _through_project(db, user, "dataset", version_id, dv.project_id, write=False, within=None)
    return dv, project

"""Projects and sharing them."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ymir_backend.api.deps import DB, CurrentUser, Settings
from ymir_backend.models import Project
from ymir_backend.projects import service, stats
from ymir_backend.projects.schemas import MemberIn, ProjectIn, ProjectOut, ProjectStatsOut, ProjectUpdate
from ymir_backend.schemas import DB_INT_MAX, DbId, Page

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", response_model=ProjectOut, status_code=201)
def create_project(body: ProjectIn, user: CurrentUser, db: DB, settings: Settings) -> Project:
    """A project with its own mir repository; its training classes must be among your labels."""
    return service.create_project(db, settings, user, body)


@router.get("", response_model=Page[ProjectOut])
def list_projects(
    user: CurrentUser,
    db: DB,
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(20, ge=1, le=200),
) -> Page[ProjectOut]:
    """Projects you own or that are shared with you."""
    return service.list_projects(db, user, offset=offset, limit=limit)


@router.get("/stats", response_model=list[ProjectStatsOut])
def project_stats(user: CurrentUser, db: DB) -> list[ProjectStatsOut]:
    """Each of your projects' current round and step, newest model's mAP against the target, and ready
    dataset versions and models (the home page's figures; the same projects as ``GET /projects``)."""
    return stats.project_stats(db, user)


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project_id: DbId, user: CurrentUser, db: DB) -> Project:
    """One project."""
    return service.get_project(db, user, project_id)


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(
    project_id: DbId, body: ProjectUpdate, user: CurrentUser, db: DB, settings: Settings
) -> Project:
    """Change a project's settings, including its training / validation / mining sets and initial model."""
    return service.update_project(db, settings, user, project_id, body)


@router.delete("/{project_id}", status_code=204)
def delete_project(project_id: DbId, user: CurrentUser, db: DB) -> None:
    """Delete (soft: data and history stay on disk) a project you own."""
    service.delete_project(db, user, project_id)


@router.put("/{project_id}/members", status_code=204)
def share(project_id: DbId, body: MemberIn, user: CurrentUser, db: DB) -> None:
    """Share a project you own with another user as viewer or editor."""
    service.share(db, user, project_id, body)


@router.delete("/{project_id}/members/{user_id}", status_code=204)
def unshare(project_id: DbId, user_id: DbId, user: CurrentUser, db: DB) -> None:
    """Remove a member: the owner removes anyone, a member may leave. From then on the project and
    everything in it (versions, models, iterations, tasks, downloads) answer 404 to them."""
    service.unshare(db, user, project_id, user_id)

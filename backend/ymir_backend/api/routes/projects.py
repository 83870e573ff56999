"""Projects and sharing them."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import func, or_, select

from ymir_backend.api.deps import DB, CurrentUser, Settings, project_access
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import Project, ProjectMember, User
from ymir_backend.models.users import Role
from ymir_backend.schemas import DB_INT_MAX, DbId, MemberIn, Page, ProjectIn, ProjectOut, ProjectUpdate
from ymir_backend.services.access import model_of, version_of
from ymir_backend.services.repos import resolve_classes, sync_labels

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", response_model=ProjectOut, status_code=201)
def create_project(body: ProjectIn, user: CurrentUser, db: DB, settings: Settings) -> Project:
    """A project with its own mir repository; its training classes must be among your labels."""
    data = body.model_dump()
    data["training_classes"] = resolve_classes(db, user.id, body.training_classes, field="training_classes")
    project = Project(owner_id=user.id, **data)
    db.add(project)
    db.flush()
    sync_labels(db, settings, project)  # before the commit: if it fails, nothing is kept
    db.commit()
    return project


@router.get("", response_model=Page[ProjectOut])
def list_projects(
    user: CurrentUser,
    db: DB,
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(20, ge=1, le=200),
) -> Page[ProjectOut]:
    """Projects you own or that are shared with you."""
    shared = select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)
    q = select(Project).where(Project.deleted.is_(False))
    if user.role != Role.SUPER_ADMIN:
        q = q.where(or_(Project.owner_id == user.id, Project.id.in_(shared)))
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.scalars(q.order_by(Project.id.desc()).offset(offset).limit(limit))
    return Page(items=[ProjectOut.model_validate(p) for p in rows], total=total, offset=offset, limit=limit)


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project_id: DbId, user: CurrentUser, db: DB) -> Project:
    """One project."""
    return project_access(db, user, project_id)


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(
    project_id: DbId, body: ProjectUpdate, user: CurrentUser, db: DB, settings: Settings
) -> Project:
    """Change a project's settings, including its training / validation / mining sets and initial model."""
    project = project_access(db, user, project_id, write=True)
    data = body.model_dump(exclude_unset=True)
    for field in ("training_dataset_id", "validation_dataset_id", "mining_dataset_id"):
        if data.get(field) is not None:
            version_of(db, user, data[field], within=project)
    if data.get("initial_model_id") is not None:
        model_of(db, user, data["initial_model_id"], within=project)
    if "training_classes" in data:
        names = [c.strip().lower() for c in data["training_classes"] or []]
        data["training_classes"] = resolve_classes(db, project.owner_id, names, field="training_classes")
    for k, v in data.items():
        setattr(project, k, v)
    db.flush()
    sync_labels(db, settings, project)  # before the commit: if it fails, nothing is kept
    db.commit()
    return project


@router.delete("/{project_id}", status_code=204)
def delete_project(project_id: DbId, user: CurrentUser, db: DB) -> None:
    """Delete (soft: data and history stay on disk) a project you own."""
    project = project_access(db, user, project_id, write=True)
    if project.owner_id != user.id and user.role != Role.SUPER_ADMIN:
        raise ApiError(403, "forbidden", "only the owner may delete a project")
    project.deleted = True
    db.commit()


@router.put("/{project_id}/members", status_code=204)
def share(project_id: DbId, body: MemberIn, user: CurrentUser, db: DB) -> None:
    """Share a project you own with another user as viewer or editor."""
    project = project_access(db, user, project_id, write=True)
    if project.owner_id != user.id and user.role != Role.SUPER_ADMIN:
        raise ApiError(403, "forbidden", "only the owner may share a project")
    other = db.scalar(select(User).where(User.email == body.email.lower()))
    if other is None:
        raise not_found("user", body.email)
    member = db.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project.id, ProjectMember.user_id == other.id)
    )
    if member is None:
        db.add(ProjectMember(project_id=project.id, user_id=other.id, role=body.role))
    else:
        member.role = body.role
    db.commit()


@router.delete("/{project_id}/members/{user_id}", status_code=204)
def unshare(project_id: DbId, user_id: DbId, user: CurrentUser, db: DB) -> None:
    """Remove a member: the owner removes anyone, a member may leave. From then on the project and
    everything in it (versions, models, iterations, tasks, downloads) answer 404 to them."""
    project = project_access(db, user, project_id)
    if project.owner_id != user.id and user.role != Role.SUPER_ADMIN and user_id != user.id:
        raise ApiError(403, "forbidden", "only the owner may remove other members")
    member = db.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project.id, ProjectMember.user_id == user_id)
    )
    if member is None:
        raise not_found("member", user_id)
    db.delete(member)
    db.commit()

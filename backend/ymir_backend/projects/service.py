"""Projects: creating them with their classes, changing their settings, deleting them, and sharing
them with other users as viewers or editors."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import Project, ProjectMember, User
from ymir_backend.models.users import Role
from ymir_backend.projects.schemas import MemberIn, ProjectIn, ProjectOut, ProjectUpdate
from ymir_backend.schemas import Page
from ymir_backend.services.access import model_of, project_access, version_of
from ymir_backend.services.pages import page
from ymir_backend.services.repos import check_labels_fit, project_labels, resolve_classes


def create_project(db: Session, settings: BackendSettings, user: User, body: ProjectIn) -> Project:
    """A project with its own mir repository; its training classes must be among the user's labels."""
    data = body.model_dump()
    data["training_classes"] = resolve_classes(db, user.id, body.training_classes, field="training_classes")
    project = Project(owner_id=user.id, **data)
    db.add(project)
    db.flush()
    check_labels_fit(settings, project, project_labels(db, project))  # before the commit: nothing kept
    db.commit()
    return project


def list_projects(db: Session, user: User, *, offset: int, limit: int) -> Page[ProjectOut]:
    """Projects the user owns or that are shared with them (the super admin: all)."""
    shared = select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)
    q = select(Project).where(Project.deleted.is_(False))
    if user.role != Role.SUPER_ADMIN:
        q = q.where(or_(Project.owner_id == user.id, Project.id.in_(shared)))
    return page(db, q, order_by=Project.id.desc(), out=ProjectOut, offset=offset, limit=limit)


def get_project(db: Session, user: User, project_id: int) -> Project:
    """One project the user may see."""
    return project_access(db, user, project_id)


def update_project(
    db: Session, settings: BackendSettings, user: User, project_id: int, body: ProjectUpdate
) -> Project:
    """Change a project's settings; the sets and the initial model must be of the project."""
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
    check_labels_fit(settings, project, project_labels(db, project))  # before the commit: nothing kept
    db.commit()
    return project


def _owned(db: Session, user: User, project_id: int, what: str) -> Project:
    project = project_access(db, user, project_id, write=True)
    if project.owner_id != user.id and user.role != Role.SUPER_ADMIN:
        raise ApiError(403, "forbidden", f"only the owner may {what} a project")
    return project


def delete_project(db: Session, user: User, project_id: int) -> None:
    """Delete (soft: data and history stay on disk) a project the user owns."""
    project = _owned(db, user, project_id, "delete")
    project.deleted = True
    db.commit()


def share(db: Session, user: User, project_id: int, body: MemberIn) -> None:
    """Share a project the user owns with another user as viewer or editor."""
    project = _owned(db, user, project_id, "share")
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


def unshare(db: Session, user: User, project_id: int, user_id: int) -> None:
    """Remove a member: the owner removes anyone, a member may leave."""
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

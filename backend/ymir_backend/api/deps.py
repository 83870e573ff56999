"""FastAPI dependencies: the session, the current user, and access checks.

A user who may not see a resource gets 404, not 403, so ids of other users' resources are not
confirmed by guessing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError, forbidden, not_found
from ymir_backend.models import ApiToken, Project, ProjectMember, User
from ymir_backend.models.users import Role, UserState
from ymir_backend.security import API_TOKEN_PREFIX, hash_api_token, read_token

bearer = HTTPBearer(auto_error=False, description="a JWT from /auth/login, or a personal API token")


def get_db(request: Request) -> Iterator[Session]:
    """One session per request."""
    yield from request.app.state.db.session()


def get_settings(request: Request) -> BackendSettings:
    """The app's settings."""
    settings: BackendSettings = request.app.state.settings
    return settings


DB = Annotated[Session, Depends(get_db)]
Settings = Annotated[BackendSettings, Depends(get_settings)]


def _unauthorized(detail: str) -> ApiError:
    err = ApiError(401, "not_authenticated", detail)
    return err


def current_user(
    db: DB, settings: Settings, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    """The user a bearer token (JWT access token or personal API token) belongs to."""
    if creds is None or not creds.credentials:
        raise _unauthorized("missing bearer token; log in at /api/v1/auth/login")
    token = creds.credentials
    if token.startswith(API_TOKEN_PREFIX):
        row = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(token)))
        if row is None or row.revoked:
            raise _unauthorized("unknown or revoked API token")
        row.last_used_at = dt.datetime.now(dt.UTC)
        db.commit()
        user = db.get(User, row.user_id)
    else:
        payload = read_token(token, key=settings.key(), kind="access")
        if payload is None:
            raise _unauthorized("invalid or expired token; refresh it or log in again")
        user = db.get(User, int(payload["sub"]))
        if user is not None and payload.get("ver") != user.token_version:
            raise _unauthorized("this token was revoked (logged out); log in again")
    if user is None or user.state != UserState.ACTIVE:
        raise _unauthorized("the account is not active")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_admin(user: CurrentUser) -> User:
    """Admins and super admins."""
    if user.role not in (Role.ADMIN, Role.SUPER_ADMIN):
        raise forbidden("only administrators may do this")
    return user


def require_super_admin(user: CurrentUser) -> User:
    """Super admins."""
    if user.role != Role.SUPER_ADMIN:
        raise forbidden("only the super administrator may do this")
    return user


Admin = Annotated[User, Depends(require_admin)]
SuperAdmin = Annotated[User, Depends(require_super_admin)]


def project_access(db: Session, user: User, project_id: int, *, write: bool = False) -> Project:
    """The project if ``user`` may see it (owner, member, or super admin) and, with ``write``, change it."""
    project = db.get(Project, project_id)
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

"""Your account and API tokens; user management for the super admin."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.auth.service import end_sessions
from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import ApiToken, User
from ymir_backend.models.users import Role
from ymir_backend.schemas import Page
from ymir_backend.security import make_token, new_api_token
from ymir_backend.services.pages import page
from ymir_backend.users.schemas import ApiTokenIn, ApiTokenOut, UserAdminUpdate, UserOut


def list_tokens(db: Session, user: User) -> list[ApiToken]:
    """The user's personal API tokens that are not revoked (never the secrets)."""
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))))


def create_token(db: Session, user: User, body: ApiTokenIn) -> ApiTokenOut:
    """A personal API token for scripts; the secret is in this answer only."""
    secret, digest = new_api_token()
    row = ApiToken(user_id=user.id, name=body.name, token_hash=digest)
    db.add(row)
    db.commit()
    out = ApiTokenOut.model_validate(row)
    out.token = secret
    return out


def revoke_token(db: Session, user: User, token_id: int) -> None:
    """Revoke one of the user's API tokens."""
    row = db.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise not_found("api_token", token_id)
    row.revoked = True
    db.commit()


def list_users(db: Session, *, state: str | None, offset: int, limit: int) -> Page[UserOut]:
    """All users, optionally by state."""
    q = select(User)
    if state:
        q = q.where(User.state == state)
    return page(db, q, order_by=User.id.asc(), out=UserOut, offset=offset, limit=limit)


def update_user(db: Session, admin: User, user_id: int, body: UserAdminUpdate) -> User:
    """Approve, decline, deactivate, or change the role of a user; never demote yourself."""
    user = db.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    if user.id == admin.id and (
        body.role not in (None, Role.SUPER_ADMIN) or body.state not in (None, "active")
    ):
        raise ApiError(400, "self_demotion", "you cannot demote or deactivate yourself")
    if body.role is not None:
        user.role = body.role
    if body.state is not None and body.state != user.state:
        user.state = body.state
        user.token_version += 1  # a deactivated (or declined) account's tokens die now
    db.commit()
    return user


def issue_reset(db: Session, settings: BackendSettings, user_id: int) -> dict[str, str]:
    """A one-time password-reset token valid for an hour; every session and personal API token of
    the user is revoked at once (a reset is for a lost or stolen account)."""
    user = db.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    end_sessions(db, user)
    db.commit()
    token = make_token(
        user_id=user.id,
        version=user.token_version,
        kind="reset",
        key=settings.key(),
        lifetime=dt.timedelta(hours=1),
    )
    return {"reset_token": token}

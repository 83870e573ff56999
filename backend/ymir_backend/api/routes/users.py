"""Your account and API tokens; user management for the super admin."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from ymir_backend.api.deps import DB, CurrentUser, Settings, SuperAdmin
from ymir_backend.api.routes.auth import end_sessions
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import ApiToken, User
from ymir_backend.models.users import Role
from ymir_backend.schemas import DB_INT_MAX, ApiTokenIn, ApiTokenOut, DbId, Page, UserAdminUpdate, UserOut
from ymir_backend.security import make_token, new_api_token

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    """Who you are."""
    return user


@router.get("/me/tokens", response_model=list[ApiTokenOut])
def list_tokens(user: CurrentUser, db: DB) -> list[ApiToken]:
    """Your personal API tokens (never the secrets)."""
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))))


@router.post("/me/tokens", response_model=ApiTokenOut, status_code=201)
def create_token(body: ApiTokenIn, user: CurrentUser, db: DB) -> ApiTokenOut:
    """A personal API token for scripts; the secret is shown once, in this answer."""
    secret, digest = new_api_token()
    row = ApiToken(user_id=user.id, name=body.name, token_hash=digest)
    db.add(row)
    db.commit()
    out = ApiTokenOut.model_validate(row)
    out.token = secret
    return out


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_token(token_id: DbId, user: CurrentUser, db: DB) -> None:
    """Revoke one of your API tokens."""
    row = db.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise not_found("api_token", token_id)
    row.revoked = True
    db.commit()


@router.get("", response_model=Page[UserOut])
def list_users(
    _: SuperAdmin,
    db: DB,
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(50, ge=1, le=500),
    state: str | None = None,
) -> Page[UserOut]:
    """All users (super admin), optionally by state, e.g. ``pending`` sign-ups."""
    q = select(User)
    if state:
        q = q.where(User.state == state)
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.scalars(q.order_by(User.id).offset(offset).limit(limit))
    return Page(items=[UserOut.model_validate(u) for u in rows], total=total, offset=offset, limit=limit)


@router.patch("/{user_id}", response_model=UserOut)
def update_user(user_id: DbId, body: UserAdminUpdate, admin: SuperAdmin, db: DB) -> User:
    """Approve, decline, deactivate, or change the role of a user (super admin)."""
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


@router.post("/{user_id}/reset", response_model=dict[str, str])
def issue_reset(user_id: DbId, _: SuperAdmin, db: DB, settings: Settings) -> dict[str, str]:
    """A one-time password-reset token valid for an hour, to hand to the user (super admin); every
    session and personal API token of the user is revoked at once."""
    user = db.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    end_sessions(db, user)  # a reset is for a lost or stolen account: its tokens die now
    db.commit()
    token = make_token(
        user_id=user.id,
        version=user.token_version,
        kind="reset",
        key=settings.key(),
        lifetime=dt.timedelta(hours=1),
    )
    return {"reset_token": token}

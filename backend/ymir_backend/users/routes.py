"""Your account and API tokens; user management for the super admin."""

from __future__ import annotations

from fastapi import APIRouter, Query

from ymir_backend.api.deps import DB, CurrentUser, Settings, SuperAdmin
from ymir_backend.models import ApiToken, User
from ymir_backend.schemas import DB_INT_MAX, DbId, Page
from ymir_backend.users import service
from ymir_backend.users.schemas import ApiTokenIn, ApiTokenOut, UserAdminUpdate, UserOut

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    """Who you are."""
    return user


@router.get("/me/tokens", response_model=list[ApiTokenOut])
def list_tokens(user: CurrentUser, db: DB) -> list[ApiToken]:
    """Your personal API tokens (never the secrets)."""
    return service.list_tokens(db, user)


@router.post("/me/tokens", response_model=ApiTokenOut, status_code=201)
def create_token(body: ApiTokenIn, user: CurrentUser, db: DB) -> ApiTokenOut:
    """A personal API token for scripts; the secret is shown once, in this answer."""
    return service.create_token(db, user, body)


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_token(token_id: DbId, user: CurrentUser, db: DB) -> None:
    """Revoke one of your API tokens."""
    service.revoke_token(db, user, token_id)


@router.get("", response_model=Page[UserOut])
def list_users(
    _: SuperAdmin,
    db: DB,
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(50, ge=1, le=500),
    state: str | None = None,
) -> Page[UserOut]:
    """All users (super admin), optionally by state, e.g. ``pending`` sign-ups."""
    return service.list_users(db, state=state, offset=offset, limit=limit)


@router.patch("/{user_id}", response_model=UserOut)
def update_user(user_id: DbId, body: UserAdminUpdate, admin: SuperAdmin, db: DB) -> User:
    """Approve, decline, deactivate, or change the role of a user (super admin)."""
    return service.update_user(db, admin, user_id, body)


@router.post("/{user_id}/reset", response_model=dict[str, str])
def issue_reset(user_id: DbId, _: SuperAdmin, db: DB, settings: Settings) -> dict[str, str]:
    """A one-time password-reset token valid for an hour, to hand to the user (super admin); every
    session and personal API token of the user is revoked at once."""
    return service.issue_reset(db, settings, user_id)

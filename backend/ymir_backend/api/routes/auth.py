"""Sign-up, login, refresh, logout, password change and reset."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from sqlalchemy import select

from ymir_backend.api.deps import DB, CurrentUser, Settings
from ymir_backend.errors import ApiError
from ymir_backend.models import User
from ymir_backend.models.users import UserState
from ymir_backend.schemas import Login, PasswordChange, PasswordReset, Refresh, SignUp, Tokens, UserOut
from ymir_backend.security import hash_password, make_token, read_token, verify_password

router = APIRouter(prefix="/auth", tags=["auth"])


def issue(user: User, settings: Settings) -> Tokens:
    """A fresh access + refresh token pair."""
    key = settings.key()
    return Tokens(
        access_token=make_token(
            user_id=user.id,
            version=user.token_version,
            kind="access",
            key=key,
            lifetime=dt.timedelta(minutes=settings.access_token_minutes),
        ),
        refresh_token=make_token(
            user_id=user.id,
            version=user.token_version,
            kind="refresh",
            key=key,
            lifetime=dt.timedelta(days=settings.refresh_token_days),
        ),
    )


@router.post("/signup", response_model=UserOut, status_code=201)
def signup(body: SignUp, db: DB, settings: Settings) -> User:
    """Create an account (pending approval when ``YMIR_SIGNUP_NEEDS_APPROVAL`` is on)."""
    email = body.email.lower()
    if db.scalar(select(User).where(User.email == email)):
        raise ApiError(409, "email_taken", f"an account with {email} already exists; log in instead")
    user = User(
        email=email,
        username=body.username,
        password_hash=hash_password(body.password),
        state=UserState.PENDING if settings.signup_needs_approval else UserState.ACTIVE,
    )
    db.add(user)
    db.commit()
    return user


@router.post("/login", response_model=Tokens)
def login(body: Login, request: Request, db: DB, settings: Settings) -> Tokens:
    """Exchange email and password for tokens; attempts are rate-limited per client and email."""
    limiter = request.app.state.login_limiter
    client = request.client.host if request.client else "?"
    wait = limiter.hit(f"{client}|{body.email.lower()}")
    if wait:
        raise ApiError(429, "too_many_attempts", f"too many login attempts; try again in {wait:.0f} s")
    user = db.scalar(select(User).where(User.email == body.email.lower()))
    if user is None or not verify_password(body.password, user.password_hash):
        raise ApiError(401, "bad_credentials", "wrong email or password")
    if user.state == UserState.PENDING:
        raise ApiError(403, "pending_approval", "your account waits for an administrator's approval")
    if user.state != UserState.ACTIVE:
        raise ApiError(403, "inactive", f"your account is {user.state}")
    return issue(user, settings)


@router.post("/refresh", response_model=Tokens)
def refresh(body: Refresh, db: DB, settings: Settings) -> Tokens:
    """A new token pair from a valid refresh token."""
    payload = read_token(body.refresh_token, key=settings.key(), kind="refresh")
    user = db.get(User, int(payload["sub"])) if payload else None
    if payload is None or user is None or payload.get("ver") != user.token_version:
        raise ApiError(
            401, "invalid_refresh_token", "the refresh token is invalid, expired or revoked; log in again"
        )
    if user.state != UserState.ACTIVE:
        raise ApiError(403, "inactive", f"your account is {user.state}")
    return issue(user, settings)


@router.post("/logout", status_code=204)
def logout(user: CurrentUser, db: DB) -> None:
    """Revoke every token issued so far (API tokens stay; revoke those separately)."""
    user.token_version += 1
    db.commit()


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, user: CurrentUser, db: DB) -> None:
    """Change your password (logs out other sessions)."""
    if not verify_password(body.old_password, user.password_hash):
        raise ApiError(400, "bad_password", "the current password is wrong")
    user.password_hash = hash_password(body.new_password)
    user.token_version += 1
    db.commit()


@router.post("/password-reset", status_code=204)
def reset_password(body: PasswordReset, db: DB, settings: Settings) -> None:
    """Set a new password with a one-time reset token (issued by the super admin: POST /users/{id}/reset)."""
    payload = read_token(body.reset_token, key=settings.key(), kind="reset")
    user = db.get(User, int(payload["sub"])) if payload else None
    if payload is None or user is None or payload.get("ver") != user.token_version:
        raise ApiError(400, "invalid_reset_token", "the reset token is invalid, expired or already used")
    user.password_hash = hash_password(body.new_password)
    user.token_version += 1
    db.commit()

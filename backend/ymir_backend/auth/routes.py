"""Sign-up, login, refresh, logout, password change and reset."""

from __future__ import annotations

from fastapi import APIRouter

from ymir_backend.api.deps import DB, CurrentUser, LoginThrottle, Settings
from ymir_backend.auth import service
from ymir_backend.auth.schemas import Login, PasswordChange, PasswordReset, Refresh, SignUp, SignUpOut, Tokens

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/signup", response_model=SignUpOut, status_code=201)
def signup(body: SignUp, db: DB, settings: Settings) -> SignUpOut:
    """Create an account (pending approval when ``YMIR_SIGNUP_NEEDS_APPROVAL`` is on).

    An e-mail that already has an account gets the same answer, after the same work, and nothing
    changes: sign-up does not tell who has an account (docs/security.md)."""
    return service.signup(db, settings, body)


@router.post("/login", response_model=Tokens)
def login(body: Login, throttle: LoginThrottle, db: DB, settings: Settings) -> Tokens:
    """Exchange email and password for tokens; attempts are limited per account and per address, and
    an unknown account costs the same time as a wrong password."""
    return service.login(db, settings, body, throttle=throttle)


@router.post("/refresh", response_model=Tokens)
def refresh(body: Refresh, db: DB, settings: Settings) -> Tokens:
    """A new token pair from a refresh token, which is then used up. Presenting a used one again
    means it was copied: its whole family is revoked and the account logged out everywhere."""
    return service.refresh(db, settings, body)


@router.post("/logout", status_code=204)
def logout(user: CurrentUser, db: DB) -> None:
    """Revoke every login token issued so far (API tokens stay; revoke those separately)."""
    service.logout(db, user)


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, user: CurrentUser, db: DB) -> None:
    """Change your password: every other session and every personal API token is revoked."""
    service.change_password(db, user, body)


@router.post("/password-reset", status_code=204)
def reset_password(body: PasswordReset, db: DB, settings: Settings) -> None:
    """Set a new password with a one-time reset token (issued by the super admin: POST /users/{id}/reset);
    every session and personal API token of the account is revoked."""
    service.reset_password(db, settings, body)

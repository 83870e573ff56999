"""Sign-up, login, refresh, logout, password change and reset: tokens, their families and revocation."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ymir_backend.auth.schemas import Login, PasswordChange, PasswordReset, Refresh, SignUp, SignUpOut, Tokens
from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError
from ymir_backend.models import ApiToken, RefreshToken, User
from ymir_backend.models.users import UserState
from ymir_backend.security import (
    Throttle,
    hash_password,
    make_token,
    needs_rehash,
    read_token,
    verify_or_waste,
    verify_password,
)


def issue(db: Session, user: User, settings: BackendSettings, family: str | None = None) -> Tokens:
    """A fresh access + refresh token pair; the refresh token is recorded, good for one refresh, and
    belongs to ``family`` (new at login)."""
    key = settings.key()
    jti = secrets.token_hex(16)
    family = family or jti
    db.add(RefreshToken(jti=jti, user_id=user.id, family=family))
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
            jti=jti,
            family=family,
        ),
    )


def end_sessions(db: Session, user: User) -> None:
    """Revoke every login token (access and refresh) and every personal API token of ``user``: what a
    password change, a password reset or a detected token theft does."""
    user.token_version += 1
    db.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))
    db.execute(update(RefreshToken).where(RefreshToken.user_id == user.id).values(revoked=True))


def signup(db: Session, settings: BackendSettings, body: SignUp) -> SignUpOut:
    """Create an account (pending approval when ``YMIR_SIGNUP_NEEDS_APPROVAL`` is on).

    An e-mail that already has an account gets the same answer, after the same work, and nothing
    changes: sign-up does not tell who has an account (docs/security.md)."""
    email = body.email.lower()
    state = UserState.PENDING if settings.signup_needs_approval else UserState.ACTIVE
    password_hash = hash_password(body.password)  # the same work for a taken e-mail
    if db.scalar(select(User.id).where(User.email == email)) is None:
        db.add(User(email=email, username=body.username, password_hash=password_hash, state=state))
        try:
            db.commit()
        except IntegrityError:  # the same e-mail signed up at the same moment
            db.rollback()
    return SignUpOut(email=email, username=body.username, state=state)


def login(db: Session, settings: BackendSettings, body: Login, *, throttle: Throttle) -> Tokens:
    """Exchange email and password for tokens; attempts are limited per account and per address, and
    an unknown account costs the same time as a wrong password."""
    email = body.email.lower()
    throttle.check(email)
    user = db.scalar(select(User).where(User.email == email))
    if not verify_or_waste(body.password, user.password_hash if user else None) or user is None:
        raise ApiError(401, "bad_credentials", "wrong email or password")
    if user.state == UserState.PENDING:
        raise ApiError(403, "pending_approval", "your account waits for an administrator's approval")
    if user.state != UserState.ACTIVE:
        raise ApiError(403, "inactive", f"your account is {user.state}")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(body.password)
    tokens = issue(db, user, settings)
    db.commit()
    return tokens


_BAD_REFRESH = "the refresh token is invalid, expired, already used or revoked; log in again"


def refresh(db: Session, settings: BackendSettings, body: Refresh) -> Tokens:
    """A new token pair from a refresh token, which is then used up. Presenting a used one again
    means it was copied: its whole family is revoked and the account logged out everywhere."""
    payload = read_token(body.refresh_token, key=settings.key(), kind="refresh")
    jti = str(payload.get("jti", "")) if payload else ""
    row = db.get(RefreshToken, jti) if jti and len(jti) <= 32 else None
    user = db.get(User, row.user_id) if row is not None else None
    if payload is None or row is None or user is None or payload.get("ver") != user.token_version:
        raise ApiError(401, "invalid_refresh_token", _BAD_REFRESH)
    if row.revoked:
        raise ApiError(401, "invalid_refresh_token", _BAD_REFRESH)
    # one use: only the request whose UPDATE flips ``used`` goes on (two at once: one wins)
    claimed = db.execute(
        update(RefreshToken).where(RefreshToken.jti == jti, RefreshToken.used.is_(False)).values(used=True)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.execute(update(RefreshToken).where(RefreshToken.family == row.family).values(revoked=True))
        user.token_version += 1  # the access tokens of the stolen family die too
        db.commit()  # kept although the answer is an error: this is the answer's whole point
        raise ApiError(
            401,
            "refresh_token_reused",
            "this refresh token was already used, so it was copied: every session of this account "
            "was ended; log in again (and change your password if you did not do this)",
        )
    if user.state != UserState.ACTIVE:
        raise ApiError(403, "inactive", f"your account is {user.state}")
    tokens = issue(db, user, settings, family=row.family)
    db.commit()
    return tokens


def logout(db: Session, user: User) -> None:
    """Revoke every login token issued so far (API tokens stay; revoke those separately)."""
    user.token_version += 1
    db.execute(update(RefreshToken).where(RefreshToken.user_id == user.id).values(revoked=True))
    db.commit()


def change_password(db: Session, user: User, body: PasswordChange) -> None:
    """Change your password: every other session and every personal API token is revoked."""
    if not verify_password(body.old_password, user.password_hash):
        raise ApiError(400, "bad_password", "the current password is wrong")
    user.password_hash = hash_password(body.new_password)
    end_sessions(db, user)
    db.commit()


def reset_password(db: Session, settings: BackendSettings, body: PasswordReset) -> None:
    """Set a new password with a one-time reset token (issued by the super admin: POST /users/{id}/reset);
    every session and personal API token of the account is revoked."""
    payload = read_token(body.reset_token, key=settings.key(), kind="reset")
    user = db.get(User, int(payload["sub"])) if payload else None
    if payload is None or user is None or payload.get("ver") != user.token_version:
        raise ApiError(400, "invalid_reset_token", "the reset token is invalid, expired or already used")
    user.password_hash = hash_password(body.new_password)
    end_sessions(db, user)
    db.commit()

"""Users and their personal API tokens."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ymir_backend.db import Base, UtcDateTime
from ymir_backend.models._common import Timestamped


class Role(StrEnum):
    """What a user may do: users own projects, admins manage executor images, super admins manage users."""

    USER = "user"
    ADMIN = "admin"
    SUPER_ADMIN = "super_admin"


class UserState(StrEnum):
    """Sign-up life cycle."""

    PENDING = "pending"
    ACTIVE = "active"
    DECLINED = "declined"
    DEACTIVATED = "deactivated"


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    username: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default=Role.USER)
    state: Mapped[str] = mapped_column(String(20), default=UserState.ACTIVE)
    token_version: Mapped[int] = mapped_column(Integer, default=0)  # bump = log out everywhere


class ApiToken(Timestamped, Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # sha256 of the secret
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked: Mapped[bool] = mapped_column(default=False)


class RefreshToken(Timestamped, Base):
    """One issued refresh token. Each is good for one refresh; a second use of the same one means it
    was copied, and revokes its whole family (every token descended from the same login)."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family: Mapped[str] = mapped_column(String(32), index=True)  # the jti of the login that began it
    used: Mapped[bool] = mapped_column(default=False)
    revoked: Mapped[bool] = mapped_column(default=False)

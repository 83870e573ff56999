"""Bodies of accounts and personal API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field

from ymir_backend.schemas import In, Orm


class UserOut(Orm):
    id: int
    email: str
    username: str
    role: str
    state: str
    created_at: dt.datetime


class UserAdminUpdate(In):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "admin", "super_admin"] | None = None
    state: Literal["pending", "active", "declined", "deactivated"] | None = None


class ApiTokenIn(In):
    name: str = Field(min_length=1, max_length=80)


class ApiTokenOut(Orm):
    id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    token: str | None = None  # shown once, at creation

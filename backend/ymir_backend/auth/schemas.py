"""Bodies of sign-up, login, tokens and passwords."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from ymir_backend.schemas import In


class SignUp(In):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=8, max_length=200)


class SignUpOut(BaseModel):
    """The same for a new and an already registered e-mail (sign-up does not reveal accounts)."""

    email: str
    username: str
    state: str


class Login(In):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    password: str = Field(max_length=200)


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"


class Refresh(In):
    refresh_token: str


class PasswordChange(In):
    model_config = ConfigDict(extra="forbid")
    old_password: str
    new_password: str = Field(min_length=8, max_length=200)


class PasswordReset(In):
    model_config = ConfigDict(extra="forbid")
    reset_token: str
    new_password: str = Field(min_length=8, max_length=200)

"""FastAPI dependencies: the session, the current user, and access checks.

A user who may not see a resource gets 404, not 403, so ids of other users' resources are not
confirmed by guessing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from ymir_backend.config import BackendSettings
from ymir_backend.db import Database
from ymir_backend.errors import ApiError, forbidden, not_found
from ymir_backend.models import ApiToken, DatasetVersion, Project, ProjectMember, User
from ymir_backend.models.users import Role, UserState
from ymir_backend.schemas import DbId
from ymir_backend.security import API_TOKEN_PREFIX, Throttle, client_address, hash_api_token, read_token
from ymir_backend.services.access import VersionRef, version_of
from ymir_backend.services.access import project_access as project_access
from ymir_backend.services.browse import BrowseCache
from ymir_backend.services.engine import Engine

bearer = HTTPBearer(auto_error=False, description="a JWT from /auth/login, or a personal API token")


def refuse_nul(request: Request) -> None:
    """422 for a NUL character in the path or the query (PostgreSQL cannot even compare one); request
    bodies are checked by their models (``schemas.In``)."""
    for where, params in (("path", request.path_params), ("query", request.query_params)):
        for key, value in params.items():
            if "\x00" in str(key) or "\x00" in str(value):
                raise RequestValidationError(
                    [
                        {
                            "loc": (where, key),
                            "msg": f"{key} contains a NUL character; remove it",
                            "type": "value_error",
                        }
                    ]
                )


def get_db(request: Request) -> Iterator[Session]:
    """One session per request."""
    yield from request.app.state.db.session()


async def get_settings(request: Request) -> BackendSettings:
    """The app's settings (async: read on the event loop, no thread-pool hop for a plain lookup)."""
    settings: BackendSettings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    """The app's client of the task engine."""
    engine: Engine = request.app.state.engine
    return engine


async def get_database(request: Request) -> Database:
    """The app's database (for the async routes' one-round-trip reads: ``Database.read_one``)."""
    database: Database = request.app.state.db
    return database


async def get_browse(request: Request) -> BrowseCache:
    """The app's cache of loaded dataset versions."""
    cache: BrowseCache = request.app.state.browse
    return cache


async def login_throttle(request: Request) -> Throttle:
    """The app's login budgets and the address the request came from (the TCP peer, unless it is a
    trusted proxy: docs/security.md)."""
    peer = request.client.host if request.client else "?"
    proxies = request.app.state.trusted_proxies
    address = client_address(peer, request.headers.get("x-forwarded-for"), proxies)
    return Throttle(request.app.state.login_limiter, request.app.state.address_limiter, address)


DB = Annotated[Session, Depends(get_db)]
Settings = Annotated[BackendSettings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
Browse = Annotated[BrowseCache, Depends(get_browse)]
AppDatabase = Annotated[Database, Depends(get_database)]
LoginThrottle = Annotated[Throttle, Depends(login_throttle)]


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
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


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


_users, _versions = User.__table__, DatasetVersion.__table__
_projects, _members = Project.__table__, ProjectMember.__table__
# the user, the version, its project and the user's membership: one round trip
_VERSION_ACCESS = (
    select(
        _users.c.state,
        _users.c.token_version,
        _users.c.role,
        _versions.c.deleted,
        _versions.c.project_id,
        _versions.c.rev,
        _versions.c.state,
        _projects.c.id,
        _projects.c.deleted,
        _projects.c.owner_id,
        _members.c.id,
    )
    .select_from(
        _users.outerjoin(_versions, _versions.c.id == bindparam("version_id"))
        .outerjoin(_projects, _projects.c.id == _versions.c.project_id)
        .outerjoin(_members, and_(_members.c.project_id == _projects.c.id, _members.c.user_id == _users.c.id))
    )
    .where(_users.c.id == bindparam("user_id"))
)


async def version_for_reading(
    database: Database, settings: BackendSettings, token: str, version_id: int
) -> VersionRef | None:
    """The version a JWT access token's user may see, with the checks and answers of ``current_user``
    followed by ``version_of`` (read access), in one query. None for a personal API token: those go
    through ``current_user``, which also records their use."""
    if token.startswith(API_TOKEN_PREFIX):
        return None
    payload = read_token(token, key=settings.key(), kind="access")
    if payload is None:
        raise _unauthorized("invalid or expired token; refresh it or log in again")
    user_id = int(payload["sub"])
    row = await database.read_one(_VERSION_ACCESS, {"user_id": user_id, "version_id": version_id})
    if row is None:
        raise _unauthorized("the account is not active")
    state, token_ver, role, dv_deleted, project_id, rev, dv_state, pid, p_deleted, owner, member = tuple(row)
    if payload.get("ver") != token_ver:
        raise _unauthorized("this token was revoked (logged out); log in again")
    if state != UserState.ACTIVE:
        raise _unauthorized("the account is not active")
    visible = (
        project_id is not None
        and not dv_deleted
        and pid is not None
        and not p_deleted
        and (owner == user_id or role == Role.SUPER_ADMIN or member is not None)
    )
    if not visible:
        raise not_found("dataset", version_id)
    return VersionRef(id=version_id, project_id=int(project_id), rev=str(rev), state=str(dv_state))


_ID = TypeAdapter(DbId)


async def readable_version(request: Request, creds: Bearer) -> VersionRef | None:
    """The ``dataset_id`` of the path, if the bearer may read it, with the answers of ``current_user``
    + ``version_of``: one query for a JWT; for a personal API token, those two (they also record the
    token's use).

    A dependency, so that authentication fails before the parameters are checked, as with
    ``current_user`` elsewhere; for the same reason the id is read from the path here rather than
    declared. None for an id that is not one: the route's own validation then answers 422."""
    settings: BackendSettings = request.app.state.settings
    database: Database = request.app.state.db
    if creds is None or not creds.credentials:
        raise _unauthorized("missing bearer token; log in at /api/v1/auth/login")
    try:
        dataset_id = _ID.validate_python(request.path_params["dataset_id"])
    except ValidationError:
        await run_in_threadpool(_authenticate, database, settings, creds)
        return None
    ref = await version_for_reading(database, settings, creds.credentials, dataset_id)
    if ref is None:
        ref = await run_in_threadpool(_version_by_api_token, database, settings, creds, dataset_id)
    return ref


def _authenticate(database: Database, settings: BackendSettings, creds: HTTPAuthorizationCredentials) -> None:
    with database.sessions() as db:
        current_user(db, settings, creds)


def _version_by_api_token(
    database: Database, settings: BackendSettings, creds: HTTPAuthorizationCredentials, dataset_id: int
) -> VersionRef:
    with database.sessions() as db:
        user = current_user(db, settings, creds)
        dv, project = version_of(db, user, dataset_id)
        return VersionRef(id=dv.id, project_id=project.id, rev=dv.rev, state=dv.state)


ReadableVersion = Annotated[VersionRef | None, Depends(readable_version)]

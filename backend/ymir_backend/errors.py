"""Errors as ``{"detail": ..., "code": ...}`` with real HTTP status codes (YMIR answered 200)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mir.errors import MirError
from mir.messages import error_id, workplace_relative

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API reports as is: status, a stable machine code, and a message for humans."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def not_found(what: str, ident: object) -> ApiError:
    """404 — also what a user gets for another user's resources (their ids are not confirmed)."""
    return ApiError(404, f"{what}_not_found", f"{what.replace('_', ' ')} {ident} does not exist")


def forbidden(detail: str) -> ApiError:
    """403."""
    return ApiError(403, "forbidden", detail)


def _relative(request: Request, text: str) -> str:
    """``text`` without the server's absolute paths (workplace-relative ones instead)."""
    settings = getattr(request.app.state, "settings", None)
    return workplace_relative(text, settings.root) if settings is not None else text


def _body(detail: Any, code: str) -> dict[str, Any]:
    return {"detail": detail, "code": code}


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.detail, exc.code), status_code=exc.status)

    @app.exception_handler(MirError)
    async def _mir(request: Request, exc: MirError) -> JSONResponse:
        text = exc.message + (f"; {exc.fix}" if exc.fix else "")
        return JSONResponse(_body(_relative(request, text), f"mir_{exc.code}"), status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        eid = error_id()
        log.error("%s %s failed [error id %s]", request.method, request.url.path, eid, exc_info=exc)
        detail = (
            f"the server failed to answer {request.method} {request.url.path} "
            f"({type(exc).__name__}); retry, and if it fails again give the operator the error id {eid}"
        )
        return JSONResponse(_body(detail, "internal_error"), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(_body(exc.detail, code), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = []
        for e in errors[:5]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
        return JSONResponse(_body("; ".join(parts) or "invalid request", "invalid_request"), status_code=422)

"""Errors as ``{"detail": ..., "code": ...}`` with real HTTP status codes (YMIR answered 200)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mir.errors import MirError


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


def _body(detail: Any, code: str) -> dict[str, Any]:
    return {"detail": detail, "code": code}


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.detail, exc.code), status_code=exc.status)

    @app.exception_handler(MirError)
    async def _mir(_: Request, exc: MirError) -> JSONResponse:
        text = exc.message + (f"; {exc.fix}" if exc.fix else "")
        return JSONResponse(_body(text, f"mir_{exc.code}"), status_code=400)

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

"""Errors as ``{"detail": ..., "code": ...}`` with real HTTP status codes (YMIR answered 200)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
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


class ErrorOut(BaseModel):
    """Every error: a message for humans that ends with the fix, and a stable machine code."""

    detail: str
    code: str


class FieldError(BaseModel):
    """One refused field: where it is (``["body", "name"]``, ``["query", "offset"]``), why, and
    pydantic's error type."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(ErrorOut):
    """422: ``detail`` sums up the first few problems; ``errors`` lists each one, for forms."""

    errors: list[FieldError] = []


def _declared(description: str, model: type[BaseModel] = ErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _declared("the request cannot be carried out as asked (the message says why and what to do)"),
    401: _declared("no valid bearer token (missing, expired, revoked), or wrong credentials at login"),
    403: _declared("authenticated, but your role (viewer, user, admin) may not do this"),
    404: _declared("no such resource, or one you may not see (the same answer for both)"),
    409: _declared("the resource is not in a state that allows this (not ready, already done, taken)"),
    413: _declared("the request body is larger than this route accepts"),
    422: _declared("a parameter or body field is invalid (each is listed in ``errors``)", ValidationErrorOut),
    429: _declared("too many attempts; wait the number of seconds the message gives"),
}
"""What any route of the API may answer besides its success: declared once, for every operation."""


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
        return invalid(exc.errors())

    @app.exception_handler(ValidationError)
    async def _model(_: Request, exc: ValidationError) -> JSONResponse:
        # a request model the API builds from what the user gave (an iteration step's presets...)
        return invalid(exc.errors(include_url=False, include_input=False))


def invalid(errors: Any) -> JSONResponse:
    """422 in the declared shape (``ValidationErrorOut``), from pydantic's list of errors."""
    parts: list[str] = []
    fields: list[dict[str, Any]] = []
    for e in errors:
        loc = [p if isinstance(p, int) else str(p) for p in e.get("loc", ())]
        msg = str(e.get("msg", "invalid"))
        fields.append({"loc": loc, "msg": msg, "type": str(e.get("type", "value_error"))})
        where = ".".join(str(p) for p in loc if p != "body")
        if len(parts) < 5:
            parts.append(f"{where}: {msg}" if where else msg)
    body = _body("; ".join(parts) or "invalid request", "invalid_request")
    body["errors"] = fields
    return JSONResponse(body, status_code=422)

"""Errors as ``{"detail": ..., "code": ...}`` with real HTTP status codes (YMIR answered 200)."""

from __future__ import annotations

import errno
import logging
import re
import shutil
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
    """An error the API reports as is: status, a stable machine code, a message for humans, and what to
    do about it (``fix``; a default for the status when not given). ``loc`` names the request field at
    fault (``("body", "path")``), as a 422 from validation does, so a form marks that field."""

    def __init__(
        self, status: int, code: str, detail: str, fix: str = "", *, loc: tuple[str | int, ...] = ()
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.fix = fix
        self.loc = loc


# What to do, by status, when an error names no fix of its own.
DEFAULT_FIX = {
    400: "correct the request as the detail says",
    401: "log in (POST /api/v1/auth/login) and send the access token as 'Authorization: Bearer <token>'",
    403: "ask the owner of the resource or an admin for access",
    404: "check the id; the list endpoints show what you may see",
    405: "see /docs for the methods this path takes",
    409: "look at the resource's current state (or wait for its task) and try again",
    413: "send less data, or import large datasets from the sharing folder",
    422: "correct the named field(s); /docs shows every body and parameter",
    429: "wait a minute and try again",
}

# mir's CLI words and the API's: mir's errors name its flags; the API names its fields.
_PHRASES_BY_KIND: dict[str, list[tuple[str, str]]] = {
    "train": [
        (
            r"mark them when merging: --src-revs '[^']*'",
            "give a training_dataset_id and a validation_dataset_id that both hold images "
            "(two different datasets)",
        ),
        (r"--src-revs", "training_dataset_id / validation_dataset_id"),
    ],
    "mining": [(r"--src-revs", "dataset_id")],
    "infer": [(r"--src-revs", "dataset_id")],
    "filter": [(r"--src-revs", "dataset_id")],
    "sampling": [(r"--src-revs", "dataset_id")],
    "export": [(r"--src-revs?", "dataset_id")],
    "evaluate": [(r"--src-revs", "dataset_id")],
    "copy": [(r"--src-revs", "source_dataset_id")],
}
_FLAGS: list[tuple[str, str]] = [
    (r"--ex-src-revs", "exclude_dataset_ids"),
    (r"--src-revs?", "dataset_ids"),
    (r"--dst-rev", "group_name"),
    (r"--class-names", "class_names"),
    (r"--unknown-types-strategy", "unknown_types_strategy"),
    (r"--anno-format", "anno_format"),
    (r"--invalid-boxes", "invalid_boxes"),
    (r"--model-hash", "model_id"),
    (r"--task-config-file", "config"),
    (r"--executor", "image_id"),
    (r"--topk", "topk"),
    (r"--cis|(?<![\w-])-p(?![\w-])", "include"),
    (r"--ex-cis|(?<![\w-])-P(?![\w-])", "exclude"),
    (r"--gt-dir|--annotation-dir", "the annotations/ folder"),
    (r"--pred-dir", "the predictions/ folder"),
    (r"--index-file|--asset-path", "the images/ folder"),
]


def api_words(text: str, kind: str | None = None) -> str:
    """``text`` (a mir message or fix) with mir's CLI flags replaced by the API's field names, and
    quoted CLI examples after a flag dropped."""
    if not text or "-" not in text:
        return text
    for pattern, words in [*_PHRASES_BY_KIND.get(kind or "", []), *_FLAGS]:
        text = re.sub(rf"(?:{pattern})(?:[ =]'[^']*')?", words, text)
    return text


class ErrorOut(BaseModel):
    """Every error: a message for humans, a stable machine code, and what to do about it."""

    detail: str
    code: str
    fix: str = ""


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


def _body(detail: Any, code: str, status: int, fix: str = "") -> dict[str, Any]:
    return {"detail": detail, "code": code, "fix": fix or DEFAULT_FIX.get(status, "")}


def _disk_full(request: Request) -> JSONResponse:
    """507 for a write that found the workplace's disk full (reads keep working)."""
    root = getattr(getattr(request.app.state, "settings", None), "root", None)
    try:
        free = shutil.disk_usage(root).free if root is not None else 0
    except OSError:
        free = 0
    log.warning("%s %s: the workplace's disk is full", request.method, request.url.path)
    detail = f"disk full in the workplace, free {free / 1e6:.0f} MB"
    fix = "free some space on the workplace's disk (or move it to a larger one), then try again"
    return JSONResponse(_body(detail, "disk_full", 507, fix), status_code=507)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        body = _body(exc.detail, exc.code, exc.status, exc.fix)
        if exc.loc:
            msg = exc.detail.removeprefix(f"{exc.loc[-1]}: ")  # the field's own message need not name it
            body["errors"] = [{"loc": list(exc.loc), "msg": msg, "type": exc.code}]
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(MirError)
    async def _mir(request: Request, exc: MirError) -> JSONResponse:
        detail = _relative(request, api_words(exc.message))
        fix = _relative(request, api_words(exc.fix))
        return JSONResponse(_body(detail, f"mir_{exc.code}", 400, fix), status_code=400)

    @app.exception_handler(OSError)
    async def _os(request: Request, exc: OSError) -> JSONResponse:
        if exc.errno == errno.ENOSPC:
            return _disk_full(request)
        raise exc  # any other: the unexpected-error answer below

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        eid = error_id()
        log.error("%s %s failed [error id %s]", request.method, request.url.path, eid, exc_info=exc)
        detail = (
            f"the server failed to answer {request.method} {request.url.path} "
            f"({type(exc).__name__}); retry, and if it fails again give the operator the error id {eid}"
        )
        return JSONResponse(
            _body(detail, "internal_error", 500, f"give the operator the error id {eid}"), status_code=500
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            _body(exc.detail, code, exc.status_code), status_code=exc.status_code, headers=exc.headers
        )

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
    body = _body("; ".join(parts) or "invalid request", "invalid_request", 422)
    body["errors"] = fields
    return JSONResponse(body, status_code=422)

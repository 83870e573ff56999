"""The web GUI's bundle (``web/dist``, built by ``./ymir.sh start``) served by the API process.

Files of the bundle are served as they are (hashed ``/assets/*`` cached for a year); every other path
that is not the API, the docs or the health check answers ``index.html`` so the browser's router can
show the page (the SPA fallback). Without a bundle, ``/`` points to ``/docs`` as before.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

_NOT_PAGES = re.compile(r"^/(?:api(?:/|$)|docs(?:/|$)|redoc(?:/|$)|openapi\.json$|health$)")


IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
NO_CACHE = {"Cache-Control": "no-cache"}


def default_dist() -> Path:
    """``web/dist`` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "web" / "dist"


def install(app: FastAPI, dist: Path) -> bool:
    """Serve the bundle in ``dist``; True when there is one (else ``/`` redirects to ``/docs``)."""
    dist = dist.resolve()
    index = dist / "index.html"
    if not index.is_file():

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

        return False

    # a 404 of a GET outside the API is a page of the SPA: no route of its own, so every route, even
    # one added later, answers first
    api_errors = app.exception_handlers[StarletteHTTPException]

    async def page(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if (
            not isinstance(exc, StarletteHTTPException)
            or exc.status_code != 404
            or request.method not in ("GET", "HEAD")
            or _NOT_PAGES.match(path)
        ):
            answer = api_errors(request, exc)  # the API's own handler (errors.install): async
            return await answer if inspect.isawaitable(answer) else answer
        rel = path.lstrip("/")
        if rel:
            file = (dist / rel).resolve()
            if dist in file.parents and file.is_file():
                return FileResponse(file, headers=IMMUTABLE if rel.startswith("assets/") else NO_CACHE)
        return FileResponse(index, headers=NO_CACHE)

    app.add_exception_handler(StarletteHTTPException, page)
    return True

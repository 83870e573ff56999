"""The web GUI's bundle (``web/dist``, built by ``./ymir.sh start``) served by the API process.

Files of the bundle are served as they are (hashed ``/assets/*`` cached for a year); every other path
that is not the API, the docs or the health check answers ``index.html`` so the browser's router can
show the page (the SPA fallback). Without a bundle, ``/`` points to ``/docs`` as before.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.convertors import Convertor, register_url_convertor


class _PagePath(Convertor[str]):
    """Any path except the API's and the docs' (they keep their own 404)."""

    regex = r"(?!api(?:/|$)|docs(?:/|$)|redoc(?:/|$)|openapi\.json$|health$).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("webpage", _PagePath())

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

    @app.get("/{path:webpage}", include_in_schema=False)
    def page(path: str) -> Response:
        if path:
            file = (dist / path).resolve()
            if dist in file.parents and file.is_file():
                return FileResponse(file, headers=IMMUTABLE if path.startswith("assets/") else NO_CACHE)
        return FileResponse(index, headers=NO_CACHE)

    return True

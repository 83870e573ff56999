"""The FastAPI application: ``uvicorn ymir_backend.main:app`` (``./ymir.sh start`` runs it on :12001)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from ymir_backend import __version__, errors
from ymir_backend.api.router import api_router
from ymir_backend.config import BackendSettings, get_settings
from ymir_backend.db import Database
from ymir_backend.json_limit import JsonBodyLimit
from ymir_backend.limits import BodyLimit
from ymir_backend.migrate import upgrade
from ymir_backend.models import DatasetVersion, ExecutorImage, Project, User
from ymir_backend.models.users import Role, UserState
from ymir_backend.security import RateLimiter, configure_hasher, hash_password, parse_networks
from ymir_backend.services.browse import BrowseCache
from ymir_backend.services.engine import Engine
from ymir_backend.services.uploads import sweep_partial_uploads
from ymir_backend.tasks.monitor import Monitor
from ymir_backend.webapp import default_dist
from ymir_backend.webapp import install as install_web

log = logging.getLogger(__name__)


def bootstrap(db: Database, settings: BackendSettings) -> None:
    """The first super admin (from settings) and the built-in executor image."""
    with db.sessions() as s:
        if s.scalar(select(User).where(User.role == Role.SUPER_ADMIN)) is None:
            s.add(
                User(
                    email=settings.admin_email.lower(),
                    username="admin",
                    role=Role.SUPER_ADMIN,
                    state=UserState.ACTIVE,
                    password_hash=hash_password(settings.admin_password),
                )
            )
        if s.scalar(select(ExecutorImage).where(ExecutorImage.name == "ymir-executor")) is None:
            from mir.executors.runtime import runtime_for

            templates = runtime_for(None).templates()
            s.add(
                ExecutorImage(
                    name="ymir-executor",
                    description="YMIR's built-in pure-PyTorch detector",
                    templates=templates,
                    capabilities=sorted(templates),
                    is_public=True,
                )
            )
        s.commit()


DOCS_ASSETS = "/docs-assets"


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with their scripts served from this server: the files
    come with the ``fastapi-offline`` package, so the pages work on machines without internet."""
    static = Path(str(resources.files("fastapi_offline") / "static"))
    app.mount(DOCS_ASSETS, StaticFiles(directory=static), name="docs-assets")
    title = f"{app.title} API"
    oauth_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            oauth2_redirect_url=oauth_redirect,
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get(oauth_redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=title,
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        # ReDoc's footer loads its maker's logo from a CDN: images come from this server only
        page.headers["Content-Security-Policy"] = "img-src 'self' data:"
        return page


def warm_latest(db: Database, settings: BackendSettings, browse: BrowseCache) -> None:
    """Load the latest ready dataset versions (``warm_versions`` of them) for browsing, in the background:
    after a restart, opening one need not wait seconds for its index."""
    if settings.warm_versions <= 0:
        return
    with db.sessions() as s:
        latest = s.execute(
            select(DatasetVersion.project_id, DatasetVersion.rev)
            .join(Project, Project.id == DatasetVersion.project_id)
            .where(
                DatasetVersion.state == "ready", DatasetVersion.deleted.is_(False), Project.deleted.is_(False)
            )
            .order_by(DatasetVersion.id.desc())
            .limit(settings.warm_versions)
        ).all()
    for project_id, rev in latest:
        browse.warm(settings.root / f"repos/project-{project_id}", rev)  # = repo_path(settings, project)


def create_app(settings: BackendSettings | None = None) -> FastAPI:
    """A configured app: migrated database, first admin, built-in image, task monitor."""
    settings = settings or get_settings()
    configure_hasher(time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib)
    db = Database(settings.db_url)
    upgrade(settings.db_url)
    bootstrap(db, settings)
    for part in sweep_partial_uploads(settings.root / "uploads"):
        log.warning("removed %s: a partial upload of an API process that is gone", part.name)
    engine = Engine(settings)
    browse = BrowseCache()
    # a version made ready by a task is loaded for browsing before anyone opens it
    engine.on_version_ready = lambda project_id, rev: browse.warm(
        settings.root / f"repos/project-{project_id}", rev
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        warm_latest(db, settings, browse)
        monitor = Monitor(db.sessions, engine, settings.monitor_interval) if settings.run_monitor else None
        if monitor is not None:
            monitor.start()
        yield
        if monitor is not None:
            monitor.close()

    app = FastAPI(
        title="YMIR",
        version=__version__,
        lifespan=lifespan,
        description="Data-centric computer vision: datasets, models, mining and iterations.",
        docs_url=None,  # served by install_docs from installed files, never from a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings
    app.state.db = db
    app.state.engine = engine
    app.state.browse = browse
    app.state.login_limiter = RateLimiter(settings.login_attempts_per_minute)  # per account
    app.state.address_limiter = RateLimiter(3 * settings.login_attempts_per_minute)  # per client address
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    errors.install(app)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(JsonBodyLimit, limit=settings.max_json_bytes)
    app.include_router(api_router())

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    install_web(app, Path(settings.web_dist) if settings.web_dist else default_dist())  # last: its catch-all

    return app


def __getattr__(name: str) -> object:
    """``ymir_backend.main:app`` for uvicorn, built on first access."""
    if name == "app":
        return create_app()
    raise AttributeError(name)

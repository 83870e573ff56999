"""The GUI against a real server: uvicorn serving the API and the built bundle (web/dist) on a free
port, PostgreSQL, a real worker on the embedded broker, and headless Chromium (Debian's, driven by
the PyPI ``playwright`` package; nothing is downloaded). Under CI a missing part fails the run."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.backend.conftest import _drop, _pg_database
from tests.controller.conftest import make_engine
from tests.label_studio import TOKEN as LS_TOKEN
from tests.label_studio import label_studio_url
from ymir_backend.config import BackendSettings
from ymir_backend.main import create_app

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "dist"
CHROMIUM = "/usr/bin/chromium"
IMAGES = ROOT / "docs" / "images"
ADMIN = ("root@example.com", "root-pass-123")


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI needs it; ./ymir.sh test installs it)")
    pytest.skip(what)


@dataclass
class Live:
    """A running platform: its URL, settings and an HTTP client for setting up data."""

    url: str
    settings: BackendSettings
    http: httpx.Client

    def sign_up(
        self, email: str, username: str, password: str, labels: tuple[str, ...] = ()
    ) -> dict[str, str]:
        """A new account, signed in (its headers), with ``labels`` added."""
        r = self.http.post(
            "/api/v1/auth/signup", json={"email": email, "username": username, "password": password}
        )
        assert r.status_code == 201, r.text
        h = self.login(email, password)
        for name in labels:
            assert self.http.post("/api/v1/labels", json={"name": name}, headers=h).status_code == 201
        return h

    def login(self, email: str, password: str) -> dict[str, str]:
        r = self.http.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def wait(self, headers: dict[str, str], task_id: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.http.get(f"/api/v1/tasks/{task_id}", headers=headers).json()
            if body["state"] in ("done", "failed", "cancelled") and body["result"] is not None:
                return dict(body)
            time.sleep(0.3)
        raise TimeoutError(task_id)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """uvicorn + the bundle + PostgreSQL + a worker, shared by the GUI tests."""
    if not (DIST / "index.html").is_file():
        _missing("web/dist is not built (./ymir.sh test builds it; or: cd web && npm ci && npm run build)")
    tmp = tmp_path_factory.mktemp("web")
    url = _pg_database()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # labeling tasks talk to the run's one Label Studio (started only when a test asks for it)
    engine = make_engine(
        "embedded",
        tmp,
        tmp / "gpu-locks",
        YMIR_LABEL_STUDIO_URL=label_studio_url(),
        YMIR_LABEL_STUDIO_TOKEN=LS_TOKEN,
        YMIR_LABEL_POLL_SECONDS="2",
        YMIR_PUBLIC_URL=base,
    )
    engine.start()
    settings = BackendSettings(
        workplace=tmp,
        database_url=url,
        admin_email=ADMIN[0],
        admin_password=ADMIN[1],
        monitor_interval=0.2,
        heartbeat_seconds=1,
        login_attempts_per_minute=1000,
        web_dist=str(DIST),
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            yield Live(url=base, settings=settings, http=http)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.kill()  # a throw-away workplace: no need to wait for a warm shutdown
        _drop(url)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's /usr/bin/chromium)."""
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is missing (pip install -e 'backend[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str) -> None:
    """A small PNG for the README and docs/gui.md (written by the tests, so it shows what runs): the
    page at 1280 x 800 reduced to 256 colours, a few tens of kB instead of several hundred.

    It goes to docs/images/ when missing there or when ``YMIR_SCREENSHOTS=1`` asks to refresh them;
    otherwise to .ymir/screenshots/, so an ordinary test run leaves the checkout clean."""
    import io

    from PIL import Image

    out = IMAGES / f"{name}.png"
    if out.exists() and os.environ.get("YMIR_SCREENSHOTS") != "1":
        out = ROOT / ".ymir" / "screenshots" / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(out, optimize=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a GUI test fails, a screenshot of each page it opened (.ymir/failures) shows what the user saw."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call":
        return
    from tests.web.helpers import OPEN_PAGES

    if report.failed:
        out = ROOT / ".ymir" / "failures"
        out.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(OPEN_PAGES):
            try:
                page.screenshot(path=str(out / f"{item.name}-{i}.png"))
                report.sections.append(("page", f"{page.url} -> {out / f'{item.name}-{i}.png'}"))
            except Exception:  # noqa: BLE001 - a closed page has nothing to show
                pass
    # a page left open keeps its event stream and polls running against the shared server for the rest
    # of the session, slowing every later test
    for page in OPEN_PAGES:
        with contextlib.suppress(Exception):
            page.context.close()
    OPEN_PAGES.clear()

"""``/docs`` and ``/redoc`` work on a machine without internet: headless Chromium loads them from a real
server with every request outside 127.0.0.1 blocked, and finds the operations listed."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from ymir_backend.config import BackendSettings
from ymir_backend.main import create_app

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API served by uvicorn on a free local port (SQLite, no worker)."""
    tmp = tmp_path_factory.mktemp("docs")
    app = create_app(BackendSettings(workplace=tmp, run_monitor=False, admin_password="root-pass-123"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: ./ymir.sh test installs it (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _offline_page(browser: object, blocked: list[str]) -> object:
    """A page whose requests leave 127.0.0.1 never: they are aborted and recorded in ``blocked``."""
    page = browser.new_page()  # type: ignore[attr-defined]

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        if urlsplit(url).hostname == "127.0.0.1":
            r.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(url)
            r.abort()  # type: ignore[attr-defined]

    page.route("**/*", route)
    return page


def test_swagger_ui_lists_the_operations_without_internet(server: str, browser: object) -> None:
    blocked: list[str] = []
    page = _offline_page(browser, blocked)
    page.goto(f"{server}/docs")  # type: ignore[attr-defined]
    page.wait_for_selector(".opblock", timeout=30_000)  # type: ignore[attr-defined]
    paths = page.locator(".opblock-summary-path").all_inner_texts()  # type: ignore[attr-defined]
    assert "/api/v1/labels" in [p.replace("\u200b", "") for p in paths]
    assert len(paths) > 30
    assert blocked == []  # the page asked nothing of the internet


def test_redoc_lists_the_operations_without_internet(server: str, browser: object) -> None:
    blocked: list[str] = []
    page = _offline_page(browser, blocked)
    page.goto(f"{server}/redoc")  # type: ignore[attr-defined]
    page.wait_for_selector("text=Import a zip from a URL", timeout=30_000)  # type: ignore[attr-defined]
    assert page.locator("text=Your labels").count() >= 1  # type: ignore[attr-defined]
    assert blocked == []

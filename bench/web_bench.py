"""GUI figures in headless Chromium against a real server (uvicorn serving the API and the built bundle,
PostgreSQL by default) on a version of ``--images`` assets (default 1,000,000):

* initial JS: the gzip size of the scripts ``web/dist/index.html`` loads before any page chunk;
* first grid: from navigation to the dataset's page until every thumbnail the grid rendered is decoded and
  its boxes drawn — ``cold``: the first visit after the server started (it loads the version's index),
  ``warm``: a new browser context (empty HTTP cache) on a server that has seen the version;
* open an image with ``--boxes`` boxes: from the click on its thumbnail until the viewer shows the full
  image and its canvas has drawn all the boxes;
* scrolling: the grid scrolled through the first ``--scroll`` assets one row (180 px) per frame, pages and
  thumbnails loading as they come; the longest main-thread task seen (``PerformanceObserver``).

The version is committed straight into the project's mir repository (``bench/browse_version.py``: no
import task, which for a million images is beyond a bench run): the first ``--real`` assets are distinct
48x48 JPEGs in the media store (every asset the bench shows is among them), the rest have random ids and
no file (rows only: their images are never requested); the first asset is a 1000x1000 image with
``--boxes`` boxes, the others ~2 boxes each.

Run: ``.venv/bin/python -m bench.web_bench [--images 1000000] [--sqlite]`` after ``./ymir.sh test web``
(or ``cd web && npm ci && npm run build``) built ``web/dist``; prints JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench.browse_version import commit_bulk, register

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "web" / "dist"

GRID_DRAWN = """() => {
  const cells = [...document.querySelectorAll('[data-testid=thumb]')];
  const boxes = document.querySelector('[data-testid=grid-boxes]');
  return cells.length > 0 && boxes && boxes.dataset.count !== undefined && cells.every(c => {
    const i = c.querySelector('img'); return i && i.complete && i.naturalWidth > 0 }) }"""
VIEWER_DRAWN = """n => {
  const v = document.querySelector('[data-testid=viewer]');
  const img = v && v.querySelector('img'), c = v && v.querySelector('[data-testid=box-canvas]');
  return img && img.complete && img.naturalWidth > 0 && c && c.dataset.count === String(n) }"""
WATCH_LONG_TASKS = """() => { window.__long = 0; window.__longs = [];
  new PerformanceObserver(l => { for (const e of l.getEntries()) {
      window.__long = Math.max(window.__long, e.duration); window.__longs.push(Math.round(e.duration)) } })
    .observe({type: 'longtask', buffered: false}) }"""
SCROLL = """async rows => {
  const g = document.querySelector('[data-testid=grid]');
  const end = rows * 180;
  while (g.scrollTop < end && g.scrollTop + g.clientHeight < g.scrollHeight - 2) {
    g.scrollTop += 180;
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))) }
  return [g.scrollTop, document.querySelectorAll('[data-testid=thumb]').length] }"""


def initial_js() -> dict[str, Any]:
    """What the browser loads before any page's own chunk: index.html's module script and preloads."""
    html = (DIST / "index.html").read_text()
    files = sorted(set(re.findall(r'(?:src|href)="/(assets/[^"]+\.js)"', html)))
    sizes = {f: len(gzip.compress((DIST / f).read_bytes(), 9)) for f in files}
    return {"files": len(files), "gzip_kB": round(sum(sizes.values()) / 1000, 1)}


def _serve(tmp: Path, db_url: str) -> tuple[uvicorn.Server, str]:
    from ymir_backend.config import BackendSettings
    from ymir_backend.main import create_app

    settings = BackendSettings(
        workplace=tmp,
        database_url=db_url,
        run_monitor=False,
        login_attempts_per_minute=1000,
        web_dist=str(DIST),
        admin_password="bench-admin-1",
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=1_000_000)
    p.add_argument("--real", type=int, default=12_000, help="assets with a real image file (the first ones)")
    p.add_argument("--boxes", type=int, default=500)
    p.add_argument("--scroll", type=int, default=10_000, help="assets to scroll through")
    p.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL at 127.0.0.1:5432")
    args = p.parse_args()
    out: dict[str, Any] = {
        "initial_js": initial_js(),
        "images": args.images,
        "db": "sqlite" if args.sqlite else "postgresql",
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        db_url = ""
        if not args.sqlite:
            from tests.backend.conftest import _pg_database

            db_url = _pg_database()
        server, url = _serve(tmp, db_url)
        try:
            http = httpx.Client(base_url=url, timeout=120)
            http.post(
                "/api/v1/auth/signup",
                json={"email": "b@example.com", "username": "b", "password": "bench-pass-1"},
            )
            tok = http.post(
                "/api/v1/auth/login", json={"email": "b@example.com", "password": "bench-pass-1"}
            ).json()
            h = {"Authorization": f"Bearer {tok['access_token']}"}
            for name in ("circle", "square", "triangle"):
                http.post("/api/v1/labels", json={"name": name}, headers=h)
            body = {"name": "bench", "training_classes": ["circle", "square", "triangle"]}
            pid = http.post("/api/v1/projects", json=body, headers=h).json()["id"]
            built = commit_bulk(tmp, pid, args.images, real=args.real, crowded=args.boxes)
            out["version"] = built
            settings_url = db_url or f"sqlite:///{tmp / 'ymir.sqlite3'}"
            did = register(settings_url, pid, built["rev"], args.images)
            out.update(_browser(url, tok, pid, did, args))
        finally:
            server.should_exit = True
            if db_url:
                from tests.backend.conftest import _drop

                _drop(db_url)
    out["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


def _first_grid(browser: Any, url: str, tok: dict[str, str], pid: int, did: int) -> tuple[Any, int, int]:
    """A new context (empty HTTP cache; the app shell loaded once first, as for a returning user), then the
    time from navigating to the dataset's page until the grid is drawn."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
    page = ctx.new_page()
    page.goto("/signin")
    page.evaluate(f"localStorage.setItem('ymir.tokens', JSON.stringify({json.dumps(tok)}))")
    page.goto("/")
    page.get_by_role("heading").first.wait_for()
    page.goto(f"/projects/{pid}/datasets")  # the datasets chunk (the asset page's own chunk loads below)
    page.get_by_test_id("dataset-group").first.wait_for()
    t0 = time.monotonic()
    page.goto(f"/projects/{pid}/datasets/{did}")
    page.wait_for_function(GRID_DRAWN, timeout=120_000, polling="raf")
    ms = round((time.monotonic() - t0) * 1000)
    return page, ms, page.locator("[data-testid=thumb]").count()


def _browser(url: str, tok: dict[str, str], pid: int, did: int, args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    res: dict[str, Any] = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page, res["first_grid_cold_ms"], _ = _first_grid(b, url, tok, pid, did)
        page.context.close()
        page, res["first_grid_ms"], res["thumbs_rendered"] = _first_grid(b, url, tok, pid, did)

        t0 = time.monotonic()
        page.locator("[data-testid=thumb]").first.click()
        page.wait_for_function(VIEWER_DRAWN, arg=args.boxes, timeout=60_000, polling="raf")
        res["open_image_with_boxes_ms"] = round((time.monotonic() - t0) * 1000)
        page.keyboard.press("Escape")
        page.locator(".ant-modal-wrap").wait_for(state="detached")

        columns = page.evaluate(
            "() => new Set([...document.querySelectorAll('[data-testid=thumb]')].map(t => t.offsetLeft)).size"
        )
        rows = -(-args.scroll // columns)
        page.evaluate(WATCH_LONG_TASKS)
        t0 = time.monotonic()
        top, _ = page.evaluate(SCROLL, rows)
        res["scroll_s"] = round(time.monotonic() - t0, 1)
        res["scrolled_assets"] = round(top / 180) * columns
        # the last screen: its images loaded (or failed: counted); thumbnails requested on the way down
        # queue ahead of them (an <img> removed from the page keeps its request)
        t1 = time.monotonic()
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-testid=thumb] img')].every(i => i.complete)",
                timeout=120_000,
            )
            res["last_screen_loaded_after_s"] = round(time.monotonic() - t1, 1)
        except Exception:  # noqa: BLE001 - a figure, not a failure
            res["last_screen_loaded_after_s"] = None
        res["broken_images_on_last_screen"] = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=thumb] img')]"
            ".filter(i => i.complete && !i.naturalWidth).length"
        )
        res["longest_task_while_scrolling_ms"] = round(page.evaluate("window.__long"))
        longs = page.evaluate("window.__longs")
        res["long_tasks_over_50ms"] = len(longs)
        res["long_tasks_over_200ms"] = sum(1 for d in longs if d > 200)
        b.close()
    return res


if __name__ == "__main__":
    main()

"""GUI figures in headless Chromium against a real server (uvicorn serving the API and the built bundle,
PostgreSQL by default) on a version of ``--images`` assets (default 1,000,000):

* initial JS: the gzip size of the scripts ``web/dist/index.html`` loads before any page chunk;
* first grid: from navigation to the dataset's page until every thumbnail the grid rendered is decoded and
  its boxes drawn, timed in the page — ``cold``: the first visit after the server started (it loads the
  version's index), ``warm``: a new browser context (empty HTTP cache) on a server that has seen it;
* open an image with ``--boxes`` boxes: from the press on its thumbnail until the viewer shows the full
  image and its canvas has drawn all the boxes, timed in the page (``*_wall_ms``: as Playwright saw it);
* scrolling: the grid scrolled through the first ``--scroll`` assets one row (180 px) per frame, pages and
  thumbnails loading as they come; the longest main-thread task seen (``PerformanceObserver``), and when
  the screen it stopped on had all its thumbnails.

The version is committed straight into the project's mir repository (``bench/browse_version.py``: no
import task, which for a million images is beyond a bench run): the first ``--real`` assets are distinct
48x48 JPEGs in the media store (every asset the bench shows is among them), the rest have random ids and
no file (rows only: their images are never requested); the first asset is a 1000x1000 image with
``--boxes`` boxes, the others ~2 boxes each.

Run: ``.venv/bin/python -m bench.web_bench [--keep DIR] [--runs N] [--dist DIST ...]`` after
``./ymir.sh test web`` (or ``cd web && npm ci && npm run build``) built ``web/dist``; prints JSON (each
run's figures and their medians). Each run starts a fresh server; with ``--keep`` the version and its
database are built once and reused (``--drop DIR`` removes them).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import socket
import statistics
import sys
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

# the predicates run in the page on every frame; the first frame they hold is noted (performance.now():
# milliseconds since the page's navigation started)
GRID_DRAWN = """() => {
  const cells = [...document.querySelectorAll('[data-testid=thumb]')];
  const boxes = document.querySelector('[data-testid=grid-boxes]');
  const done = cells.length > 0 && boxes && boxes.dataset.count !== undefined && cells.every(c => {
    const i = c.querySelector('img'); return i && i.complete && i.naturalWidth > 0 });
  if (done) window.__drawnAt ??= performance.now();
  return done }"""
VIEWER_DRAWN = """n => {
  const v = document.querySelector('[data-testid=viewer]');
  const img = v && v.querySelector('img'), c = v && v.querySelector('[data-testid=box-canvas]');
  const done = img && img.complete && img.naturalWidth > 0 && c && c.dataset.count === String(n);
  if (done) window.__drawnAt ??= performance.now();
  return done }"""
# the press on a thumbnail: where opening it starts
NOTE_PRESS = """() => { window.__drawnAt = undefined;
  document.addEventListener('pointerdown', e => { window.__pressAt = e.timeStamp },
    {capture: true, once: true}) }"""
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

TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "disabled-by-default-devtools.timeline.frame",
    "v8.execute",
    "disabled-by-default-v8.cpu_profiler",
    "blink.user_timing",
    "loading",
    "netlog",
]


def initial_js(dist: Path = DIST) -> dict[str, Any]:
    """What the browser loads before any page's own chunk: index.html's module script and preloads (and,
    apart, its stylesheets)."""
    html = (dist / "index.html").read_text()
    files = sorted(set(re.findall(r'(?:src|href)="/(assets/[^"]+\.js)"', html)))
    sizes = {f: len(gzip.compress((dist / f).read_bytes(), 9)) for f in files}
    css = sorted(set(re.findall(r'href="/(assets/[^"]+\.css)"', html)))
    css_gzip = sum(len(gzip.compress((dist / f).read_bytes(), 9)) for f in css)
    return {
        "files": len(files),
        "gzip_kB": round(sum(sizes.values()) / 1000, 1),
        "css_gzip_kB": round(css_gzip / 1000, 1),
    }


def _serve(workplace: Path, db_url: str, dist: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    from ymir_backend.config import BackendSettings
    from ymir_backend.main import create_app

    settings = BackendSettings(
        workplace=workplace,
        database_url=db_url,
        run_monitor=False,
        login_attempts_per_minute=1000,
        web_dist=str(dist),
        admin_password="bench-admin-1",
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


USER = {"email": "b@example.com", "username": "b", "password": "bench-pass-1"}


def _build(workplace: Path, db_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """A user, a project and the version, on a server that stops afterwards; returns what a run needs."""
    server, thread, url = _serve(workplace, db_url, DIST)
    try:
        http = httpx.Client(base_url=url, timeout=120)
        http.post("/api/v1/auth/signup", json=USER)
        h = {"Authorization": f"Bearer {_login(http)['access_token']}"}
        for name in ("circle", "square", "triangle"):
            http.post("/api/v1/labels", json={"name": name}, headers=h)
        body = {"name": "bench", "training_classes": ["circle", "square", "triangle"]}
        pid = http.post("/api/v1/projects", json=body, headers=h).json()["id"]
        built = commit_bulk(workplace, pid, args.images, real=args.real, crowded=args.boxes)
        did = register(db_url or f"sqlite:///{workplace / 'ymir.sqlite3'}", pid, built["rev"], args.images)
    finally:
        server.should_exit = True
        thread.join()
    return {"db_url": db_url, "pid": pid, "did": did, "version": built, "boxes": args.boxes}


def _login(http: httpx.Client) -> dict[str, str]:
    r = http.post("/api/v1/auth/login", json={"email": USER["email"], "password": USER["password"]})
    r.raise_for_status()
    return dict(r.json())


def _new_database(sqlite: bool) -> str:
    if sqlite:
        return ""
    from tests.backend.conftest import _pg_database

    return _pg_database()


def _drop_database(db_url: str) -> None:
    if db_url:
        from tests.backend.conftest import _drop

        _drop(db_url)


def _run(workplace: Path, state: dict[str, Any], dist: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement: a fresh server (its browse cache empty) on the built version, then the browser."""
    server, thread, url = _serve(workplace, state["db_url"], dist)
    try:
        tok = _login(httpx.Client(base_url=url, timeout=120))
        return _browser(url, tok, state["pid"], state["did"], args)
    finally:
        server.should_exit = True
        thread.join()


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in runs[0].items():
        values = [r[k] for r in runs if isinstance(r.get(k), int | float) and not isinstance(r.get(k), bool)]
        if isinstance(v, int | float) and len(values) == len(runs):
            out[k] = statistics.median(values)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=1_000_000)
    p.add_argument("--real", type=int, default=12_000, help="assets with a real image file (the first ones)")
    p.add_argument("--boxes", type=int, default=500)
    p.add_argument("--scroll", type=int, default=10_000, help="assets to scroll through")
    p.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL at 127.0.0.1:5432")
    p.add_argument("--runs", type=int, default=1, help="measurements per bundle (a fresh server each)")
    p.add_argument(
        "--dist",
        type=Path,
        action="append",
        help="a built bundle to measure (repeat to compare bundles, alternated run by run; default web/dist)",
    )
    p.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the workplace and the database in DIR: built by the first run, reused by the next ones",
    )
    p.add_argument("--drop", type=Path, metavar="DIR", help="drop the database kept in DIR, delete DIR, exit")
    p.add_argument(
        "--trace",
        type=Path,
        metavar="DIR",
        help="write Chromium traces of each step into DIR (figures taken while tracing are not comparable)",
    )
    args = p.parse_args()
    if args.drop:
        saved = args.drop / "bench.json"
        if saved.exists():
            _drop_database(json.loads(saved.read_text())["db_url"])
        shutil.rmtree(args.drop, ignore_errors=True)
        return
    dists = args.dist or [DIST]
    out: dict[str, Any] = {
        "initial_js": {str(d): initial_js(d) for d in dists},
        "images": args.images,
        "db": "sqlite" if args.sqlite else "postgresql",
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as t:
        workplace = args.keep or Path(t)
        saved = workplace / "bench.json"
        fresh = not saved.exists()
        if fresh:
            workplace.mkdir(parents=True, exist_ok=True)
            db_url = _new_database(args.sqlite)
            try:
                state = _build(workplace, db_url, args)
            except BaseException:
                _drop_database(db_url)
                raise
            if args.keep:
                saved.write_text(json.dumps(state))
        else:
            state = json.loads(saved.read_text())
            if state["boxes"] != args.boxes or state["version"]["assets"] != args.images:
                p.error(f"{saved} holds a version of {state['version']['assets']} images; use another DIR")
        out["version"] = state["version"]
        runs: dict[str, list[dict[str, Any]]] = {str(d): [] for d in dists}
        try:
            for i in range(args.runs):
                for d in dists:
                    res = _run(workplace, state, d, args)
                    res["load_average"] = os.getloadavg()[0]
                    runs[str(d)].append(res)
                    print(f"run {i + 1} {d}: {json.dumps(res)}", file=sys.stderr, flush=True)
        finally:
            if not args.keep:
                _drop_database(state["db_url"])
        out["runs"] = runs
        out["median"] = {d: _median(r) for d, r in runs.items()}
    out["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


def _first_grid(
    browser: Any, url: str, tok: dict[str, str], pid: int, did: int, trace: Any = None
) -> tuple[Any, tuple[int, int], int]:
    """A new context (empty HTTP cache; the app shell loaded once first, as for a returning user), then the
    time from navigating to the dataset's page until the grid is drawn: in the page (from its navigation
    start to the first frame it is drawn) and as Playwright saw it (from ``goto`` to its last poll)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
    page = ctx.new_page()
    page.goto("/signin")
    page.evaluate(f"localStorage.setItem('ymir.tokens', JSON.stringify({json.dumps(tok)}))")
    page.goto("/")
    page.get_by_role("heading").first.wait_for()
    page.goto(f"/projects/{pid}/datasets")  # the datasets chunk (the asset page's own chunk loads below)
    page.get_by_test_id("dataset-group").first.wait_for()
    if trace:
        trace(page, "grid")
    t0 = time.monotonic()
    page.goto(f"/projects/{pid}/datasets/{did}")
    page.wait_for_function(GRID_DRAWN, timeout=120_000, polling="raf")
    wall = round((time.monotonic() - t0) * 1000)
    if trace:
        trace(None, "grid")
    return page, (round(page.evaluate("window.__drawnAt")), wall), page.locator("[data-testid=thumb]").count()


def _browser(url: str, tok: dict[str, str], pid: int, did: int, args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    res: dict[str, Any] = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )

        def trace(page: Any, step: str) -> None:
            """Start (a page) or stop (None) a Chromium performance trace of ``step`` (with --trace)."""
            if args.trace is None:
                return
            if page is not None:
                args.trace.mkdir(parents=True, exist_ok=True)
                path = args.trace / f"{step}-{time.strftime('%H%M%S')}.json"
                b.start_tracing(page=page, path=str(path), categories=TRACE_CATEGORIES)
            else:
                b.stop_tracing()

        page, (res["first_grid_cold_ms"], res["first_grid_cold_wall_ms"]), _ = _first_grid(
            b, url, tok, pid, did
        )
        page.context.close()
        page, (res["first_grid_ms"], res["first_grid_wall_ms"]), res["thumbs_rendered"] = _first_grid(
            b, url, tok, pid, did, trace
        )

        trace(page, "open")
        page.evaluate(NOTE_PRESS)
        t0 = time.monotonic()
        page.locator("[data-testid=thumb]").first.click()
        page.wait_for_function(VIEWER_DRAWN, arg=args.boxes, timeout=60_000, polling="raf")
        res["open_image_with_boxes_wall_ms"] = round((time.monotonic() - t0) * 1000)
        res["open_image_with_boxes_ms"] = round(page.evaluate("window.__drawnAt - window.__pressAt"))
        trace(None, "open")
        page.keyboard.press("Escape")
        page.get_by_test_id("viewer").wait_for(state="detached")

        columns = page.evaluate(
            "() => new Set([...document.querySelectorAll('[data-testid=thumb]')].map(t => t.offsetLeft)).size"
        )
        rows = -(-args.scroll // columns)
        page.evaluate(WATCH_LONG_TASKS)
        trace(page, "scroll")
        t0 = time.monotonic()
        top, _ = page.evaluate(SCROLL, rows)
        res["scroll_s"] = round(time.monotonic() - t0, 1)
        trace(None, "scroll")
        res["scrolled_assets"] = round(top / 180) * columns
        # the last screen: its images loaded (or failed: counted); thumbnails requested on the way down
        # queue ahead of them (an <img> removed from the page keeps its request)
        t1 = time.monotonic()
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-testid=thumb]')].every(t => {"
                " const i = t.querySelector('img'); return t.dataset.asset && i && i.complete })",
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

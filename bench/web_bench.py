"""GUI figures in headless Chromium against a real server (uvicorn + the built bundle + a worker on the
embedded broker, SQLite or PostgreSQL):

* initial JS: the gzip size of the scripts ``web/dist/index.html`` loads before any page chunk;
* first grid: from navigation to a dataset's page until every thumbnail of the first screen is drawn
  (its image decoded), on a version of ``--images`` synthetic images;
* open an image with ``--boxes`` boxes: from the click on its thumbnail until the viewer shows the image
  and all its rects;
* scrolling: the grid scrolled to its end row by row, the longest main-thread task seen (PerformanceObserver).

Run: ``.venv/bin/python -m bench.web_bench [--images 5000] [--boxes 500] [--pg]`` after
``./ymir.sh test web`` (or ``cd web && npm run build``) built ``web/dist``; prints JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from PIL import Image

from bench.synthetic import generate_voc

ROOT = Path(__file__).resolve().parents[1]

GRID_DRAWN = """() => {
  const cells = document.querySelectorAll('[data-testid=thumb]');
  const imgs = [...document.querySelectorAll('[data-testid=thumb] img')];
  return cells.length > 0 && imgs.length === cells.length
    && imgs.every(i => i.complete && i.naturalWidth > 0) }"""
VIEWER_DRAWN = """n => {
  const v = document.querySelector('[data-testid=viewer]');
  const img = v && v.querySelector('img');
  return img && img.complete && v.querySelectorAll('[data-side=gt] rect').length === n }"""
WATCH_LONG_TASKS = """() => { window.__long = 0;
  new PerformanceObserver(l => {
    for (const e of l.getEntries()) window.__long = Math.max(window.__long, e.duration) })
    .observe({type: 'longtask', buffered: false}) }"""
SCROLL_TO_END = """async () => {
  const g = document.querySelector('[data-testid=grid]');
  while (g.scrollTop + g.clientHeight < g.scrollHeight - 2) {
    g.scrollTop += 180;
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))) } }"""
DIST = ROOT / "web" / "dist"


def initial_js() -> dict[str, Any]:
    """What the browser loads before any page's own chunk: index.html's module script and preloads."""
    html = (DIST / "index.html").read_text()
    files = sorted(set(re.findall(r'(?:src|href)="/(assets/[^"]+\.js)"', html)))
    sizes = {f: len(gzip.compress((DIST / f).read_bytes(), 9)) for f in files}
    return {"files": len(files), "gzip_kB": round(sum(sizes.values()) / 1000, 1)}


def _many_boxes(folder: Path, boxes: int) -> None:
    """One 1000x1000 image annotated with ``boxes`` circles (VOC), added to an existing VOC folder."""
    Image.new("RGB", (1000, 1000), (90, 120, 150)).save(folder / "images" / "crowded.jpg", quality=85)
    objs = []
    for i in range(boxes):
        x, y = (i % 25) * 40 + 2, (i // 25) * 40 + 2
        objs.append(
            f"<object><name>circle</name><bndbox><xmin>{x}</xmin><ymin>{y}</ymin>"
            f"<xmax>{x + 30}</xmax><ymax>{y + 30}</ymax></bndbox></object>"
        )
    (folder / "annotations" / "crowded.xml").write_text(
        "<annotation><filename>crowded.jpg</filename><size><width>1000</width><height>1000</height>"
        f"<depth>3</depth></size>{''.join(objs)}</annotation>"
    )
    index = folder / "index.txt"
    if index.exists():
        index.write_text(index.read_text().rstrip("\n") + "\nimages/crowded.jpg\n")


def _serve(tmp: Path, db_url: str) -> tuple[uvicorn.Server, str, Any]:
    from tests.controller.conftest import make_engine
    from ymir_backend.config import BackendSettings
    from ymir_backend.main import create_app

    engine = make_engine("embedded", tmp, tmp / "gpu-locks")
    engine.start()
    settings = BackendSettings(
        workplace=tmp,
        database_url=db_url,
        monitor_interval=0.2,
        login_attempts_per_minute=1000,
        web_dist=str(DIST),
        admin_password="bench-admin-1",
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}", engine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--boxes", type=int, default=500)
    p.add_argument("--pg", action="store_true", help="PostgreSQL at 127.0.0.1:5432 instead of SQLite")
    args = p.parse_args()
    out: dict[str, Any] = {"initial_js": initial_js(), "images": args.images}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        db_url = ""
        if args.pg:
            from tests.backend.conftest import _pg_database

            db_url = _pg_database()
        server, url, engine = _serve(tmp, db_url)
        try:
            http = httpx.Client(base_url=url, timeout=60)
            http.post(
                "/api/v1/auth/signup",
                json={"email": "b@example.com", "username": "b", "password": "bench-pass-1"},
            )
            tok = http.post(
                "/api/v1/auth/login", json={"email": "b@example.com", "password": "bench-pass-1"}
            ).json()
            h = {"Authorization": f"Bearer {tok['access_token']}"}
            pid = http.post("/api/v1/projects", json={"name": "bench"}, headers=h).json()["id"]
            folder = generate_voc(tmp / "sharing" / "big", n_images=args.images, seed=3, image_size=(96, 96))
            _many_boxes(folder, args.boxes)
            t0 = time.monotonic()
            task = http.post(
                f"/api/v1/projects/{pid}/datasets/path", headers=h, json={"group_name": "big", "path": "big"}
            ).json()
            while (body := http.get(f"/api/v1/tasks/{task['id']}", headers=h).json())["result"] is None:
                time.sleep(0.5)
            assert body["state"] == "done", body["error"]
            out["import_s"] = round(time.monotonic() - t0, 1)
            did = next(
                v["id"] for v in http.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
            )
            crowded = http.get(f"/api/v1/datasets/{did}/assets", headers=h, params={"limit": 200}).json()[
                "items"
            ]
            crowded_index = next((i for i, a in enumerate(crowded) if len(a["gt"]) == args.boxes), None)
            out.update(_browser(url, tok, pid, did, args.boxes, crowded_index))
        finally:
            server.should_exit = True
            engine.stop()
            if db_url:
                from tests.backend.conftest import _drop

                _drop(db_url)
    print(json.dumps(out, indent=1))


def _browser(
    url: str, tok: dict[str, str], pid: int, did: int, boxes: int, crowded: int | None
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    res: dict[str, Any] = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        ctx = b.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
        page = ctx.new_page()
        page.goto("/signin")
        page.evaluate(f"localStorage.setItem('ymir.tokens', JSON.stringify({json.dumps(tok)}))")
        page.goto("/")  # warm: the shell and the page chunk in the browser's cache, as for a returning user
        page.get_by_role("heading").first.wait_for()
        t0 = time.monotonic()
        page.goto(f"/projects/{pid}/datasets/{did}")
        page.wait_for_function(
            GRID_DRAWN,
            timeout=60_000,
            polling="raf",
        )
        res["first_grid_ms"] = round((time.monotonic() - t0) * 1000)
        res["thumbs_on_first_screen"] = page.locator("[data-testid=thumb]").count()
        if crowded is not None:
            page.evaluate(
                """i => { const g = document.querySelector('[data-testid=grid]'); g.scrollTop = 0 }""",
                crowded,
            )
            cell = page.locator("[data-testid=thumb]").nth(crowded)
            cell.scroll_into_view_if_needed()
            t0 = time.monotonic()
            cell.click()
            page.wait_for_function(
                VIEWER_DRAWN,
                arg=boxes,
                timeout=30_000,
                polling="raf",
            )
            res["open_image_with_boxes_ms"] = round((time.monotonic() - t0) * 1000)
            page.keyboard.press("Escape")
        page.evaluate(WATCH_LONG_TASKS)
        t0 = time.monotonic()
        page.evaluate(SCROLL_TO_END)
        res["scroll_to_end_s"] = round(time.monotonic() - t0, 1)
        res["longest_task_while_scrolling_ms"] = round(page.evaluate("window.__long"))
        b.close()
    return res


if __name__ == "__main__":
    main()

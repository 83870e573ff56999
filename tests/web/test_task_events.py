"""GET /api/v1/tasks/events: task progress pushed as Server-Sent Events (what the GUI listens to)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.web.conftest import Live
from tests.web.helpers import voc, zip_of


def _signup(live: Live, email: str) -> dict[str, str]:
    r = live.http.post(
        "/api/v1/auth/signup", json={"email": email, "username": email[:5], "password": "secret-pass-1"}
    )
    assert r.status_code == 201, r.text
    return live.login(email, "secret-pass-1")


def test_events_stream_an_import_to_its_end(live: Live, tmp_path: Path) -> None:
    h = _signup(live, "sse@example.com")
    pid = live.http.post("/api/v1/projects", json={"name": "sse"}, headers=h).json()["id"]
    data = zip_of(voc(tmp_path / "sse", 4, seed=5), tmp_path / "sse.zip").read_bytes()
    seen: list[dict[str, object]] = []
    with httpx.Client(base_url=live.url, timeout=60) as http:
        with http.stream("GET", "/api/v1/tasks/events", params={"seconds": 60}, headers=h) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            r = live.http.post(
                f"/api/v1/projects/{pid}/datasets/upload",
                headers=h,
                data={"group_name": "sse"},
                files={"file": ("sse.zip", data, "application/zip")},
            )
            assert r.status_code == 202, r.text
            task_id = r.json()["id"]
            event = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "task":
                    body = json.loads(line[6:])
                    if body["id"] == task_id:
                        seen.append(body)
                        if body["state"] in ("done", "failed"):
                            break
    assert seen, "no event for the import"
    assert seen[-1]["state"] == "done" and seen[-1]["percent"] == 1.0
    # each event is a change: no two in a row are the same
    keys = [(e["state"], e["percent"], e["stage"]) for e in seen]
    assert all(a != b for a, b in zip(keys, keys[1:], strict=False))


def test_events_need_a_token_and_a_visible_project(live: Live) -> None:
    r = live.http.get("/api/v1/tasks/events", params={"seconds": 1})
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    owner = _signup(live, "sse-owner@example.com")
    other = _signup(live, "sse-other@example.com")
    pid = live.http.post("/api/v1/projects", json={"name": "mine"}, headers=owner).json()["id"]
    r = live.http.get("/api/v1/tasks/events", params={"project_id": pid, "seconds": 1}, headers=other)
    assert r.status_code == 404 and r.json()["code"] == "project_not_found"
    r = live.http.get("/api/v1/tasks/events", params={"seconds": 0}, headers=owner)
    assert r.status_code == 422


def test_the_bundle_is_served_with_a_page_fallback(live: Live) -> None:
    index = live.http.get("/")
    assert index.status_code == 200 and '<div id="root">' in index.text
    deep = live.http.get("/projects/1/datasets/2")  # a page of the SPA: index.html, for the browser's router
    assert deep.status_code == 200 and deep.text == index.text
    asset = next((Path(live.settings.web_dist) / "assets").iterdir())
    r = live.http.get(f"/assets/{asset.name}")
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    # the API, the docs and unknown API paths are untouched
    assert live.http.get("/api/v1/nope").json()["code"] == "not_found"
    assert live.http.get("/docs").status_code == 200
    assert live.http.get("/../etc/passwd").text == index.text  # never a file outside the bundle

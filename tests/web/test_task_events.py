"""GET /api/v1/tasks/events: task progress pushed as Server-Sent Events (what the GUI listens to)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.web.conftest import Live
from tests.web.helpers import voc, zip_of


def _signup(live: Live, email: str) -> dict[str, str]:
    return live.sign_up(email, email[:5], "secret-pass-1")


def _import(live: Live, h: dict[str, str], pid: int, data: bytes) -> str:
    r = live.http.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "sse"},
        files={"file": ("sse.zip", data, "application/zip")},
    )
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _task_events(
    live: Live,
    h: dict[str, str],
    *,
    seconds: float,
    since: float | None = None,
    until: str | None = None,
    start: Callable[[], str] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """One stream's task events as (id, task): for ``seconds``, or until task ``until`` (or the one
    ``start`` starts once the stream is open) ended."""
    params: dict[str, float] = {"seconds": seconds} | ({} if since is None else {"since": since})
    out: list[tuple[str, dict[str, Any]]] = []
    with (
        httpx.Client(base_url=live.url, timeout=60) as http,
        http.stream("GET", "/api/v1/tasks/events", params=params, headers=h) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        until = start() if start is not None else until
        event, eid = "", ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: "):
                eid = line[4:]
            elif line.startswith("data: ") and event == "task":
                out.append((eid, json.loads(line[6:])))
                if out[-1][1]["id"] == until and out[-1][1]["state"] in ("done", "failed"):
                    break
    return out


def test_events_stream_an_import_to_its_end(live: Live, tmp_path: Path) -> None:
    h = _signup(live, "sse@example.com")
    pid = live.http.post("/api/v1/projects", json={"name": "sse"}, headers=h).json()["id"]
    data = zip_of(voc(tmp_path / "sse", 4, seed=5), tmp_path / "sse.zip").read_bytes()
    task_id = ""

    def start() -> str:
        nonlocal task_id
        task_id = _import(live, h, pid, data)
        return task_id

    seen = [task for _, task in _task_events(live, h, seconds=60, start=start) if task["id"] == task_id]
    assert seen, "no event for the import"
    assert seen[-1]["state"] == "done" and seen[-1]["percent"] == 1.0
    # each event is a change: no two in a row are the same
    keys = [(e["state"], e["percent"], e["stage"]) for e in seen]
    assert all(a != b for a, b in zip(keys, keys[1:], strict=False))


def test_a_page_that_connects_again_gets_the_tasks_that_ended_while_it_was_away(
    live: Live, tmp_path: Path
) -> None:
    """A stream ends every few minutes (and when the network drops); the page connects again with the
    ``id`` of its last message. A task that ended in between used to be sent never, and the form that
    started it said "running" for ever."""
    h = _signup(live, "sse-away@example.com")
    pid = live.http.post("/api/v1/projects", json={"name": "away"}, headers=h).json()["id"]
    data = zip_of(voc(tmp_path / "away", 2, seed=7), tmp_path / "away.zip").read_bytes()
    last_message = time.time()  # the server's time in the id of the page's last message (one machine)
    task_id = _import(live, h, pid, data)
    assert live.wait(h, task_id)["state"] == "done"  # it ends while the page has no stream
    time.sleep(2.5)  # longer than the look-back of a stream that does not resume
    new_page = _task_events(live, h, seconds=1)
    assert task_id not in [task["id"] for _, task in new_page]  # a new page loads its lists instead
    resumed = _task_events(live, h, seconds=30, since=last_message, until=task_id)
    ended = [(eid, task) for eid, task in resumed if task["id"] == task_id]
    assert ended and ended[-1][1]["state"] == "done", resumed
    assert float(ended[-1][0]) >= last_message  # the id: when the server read it, to resume from next


def test_events_need_a_token_and_a_visible_project(live: Live) -> None:
    r = live.http.get("/api/v1/tasks/events", params={"seconds": 1})
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    owner = _signup(live, "sse-owner@example.com")
    other = _signup(live, "sse-other@example.com")
    pid = live.http.post("/api/v1/projects", json={"name": "mine"}, headers=owner).json()["id"]
    r = live.http.get("/api/v1/tasks/events", params={"project_id": pid, "seconds": 1}, headers=other)
    assert r.status_code == 404 and r.json()["code"] == "project_not_found"
    for bad in ({"seconds": 0}, {"since": -1}, {"since": "yesterday"}):
        r = live.http.get("/api/v1/tasks/events", params=bad, headers=owner)
        assert r.status_code == 422, bad


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

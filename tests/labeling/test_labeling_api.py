"""Labeling over HTTP: the label endpoint, Label Studio's real webhooks waking the task, the signed image
links Label Studio's pages load, finishing early (twice), on the embedded broker and SQLite."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from bench.synthetic import generate_voc, zip_voc
from tests.controller.conftest import Engine, make_engine
from tests.labeling.conftest import TOKEN, LabelStudioServer, wait_for
from tests.labeling.test_labeling import rect
from ymir_backend.config import BackendSettings
from ymir_backend.main import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, url: str, ls: LabelStudioServer, engine: Engine, app: Any) -> None:
        self.url, self.ls, self.engine, self.app = url, ls, engine, app
        self.http = httpx.Client(base_url=url, timeout=30)

    def signup(self, email: str) -> dict[str, str]:
        body = {"email": email, "username": email.split("@")[0], "password": "secret-pass-1"}
        assert self.http.post("/api/v1/auth/signup", json=body).status_code == 201
        r = self.http.post("/api/v1/auth/login", json={"email": email, "password": "secret-pass-1"})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def task(self, h: dict[str, str], tid: str) -> dict[str, Any]:
        r = self.http.get(f"/api/v1/tasks/{tid}", headers=h)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def done(self, h: dict[str, str], tid: str, timeout: float = 90) -> dict[str, Any]:
        body = wait_for(
            lambda: (
                (t := self.task(h, tid))["state"] in ("done", "failed", "cancelled") and t["result"] and t
            ),
            timeout,
            f"task {tid}",
        )
        return dict(body)


@pytest.fixture(scope="module")
def stack(label_studio: LabelStudioServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """API served by uvicorn on a real port (Label Studio's webhooks reach it), a worker on the embedded
    broker, SQLite."""
    root = tmp_path_factory.mktemp("labeling-api")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    engine = make_engine("embedded", root, root / "gpu-locks")
    engine.env.update(
        {
            "YMIR_LABEL_STUDIO_URL": label_studio.url,
            "YMIR_LABEL_STUDIO_TOKEN": TOKEN,
            "YMIR_LABEL_POLL_SECONDS": "600",  # progress must come from the webhooks
            "YMIR_PUBLIC_URL": url,
        }
    )
    engine.start()
    settings = BackendSettings(
        workplace=root,
        database_url="",
        admin_email="root@example.com",
        admin_password="root-pass-123",
        monitor_interval=0.2,
        heartbeat_seconds=1,
        login_attempts_per_minute=1000,
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, "the API")
    try:
        yield Stack(url, label_studio, engine, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.kill()  # a throw-away workplace: the warm shutdown is tested in test_engine.py


@dataclass
class Shapes:
    """A user's project with the three shape classes and its version 'pool' of four images with boxes."""

    headers: dict[str, str]
    project: int
    pool: dict[str, Any]  # the version as the API lists it


@pytest.fixture(scope="module")
def shapes(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Shapes:
    """Made once for the module's tests (each labels the pool into versions of its own), so that any of
    them runs alone."""
    c = stack.http
    h = stack.signup("lena@example.com")
    for name in ("circle", "square", "triangle"):
        assert c.post("/api/v1/labels", json={"name": name, "aliases": []}, headers=h).status_code == 201
    body = {"name": "shapes", "training_classes": ["circle", "square", "triangle"]}
    pid = c.post("/api/v1/projects", json=body, headers=h).json()["id"]
    folder = generate_voc(
        tmp_path_factory.mktemp("pool") / "pool", n_images=4, seed=5, image_size=(80, 60), name_prefix="pool"
    )
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "pool"},
        files={"file": ("pool.zip", zip_voc(folder), "application/zip")},
    )
    assert r.status_code == 202, r.text
    assert stack.done(h, r.json()["id"])["state"] == "done"
    pool = c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"][0]
    assert pool["asset_count"] == 4, pool
    return Shapes(h, int(pid), dict(pool))


def test_label_over_http_with_webhooks_images_and_finish(stack: Stack, shapes: Shapes) -> None:
    c, ls = stack.http, stack.ls
    h, pid, pool = shapes.headers, shapes.project, shapes.pool

    bad = c.post(f"/api/v1/datasets/{pool['id']}/label", json={"annotators": ["not-an-email"]}, headers=h)
    assert bad.status_code == 422 and "not-an-email" in bad.json()["detail"]
    r = c.post(
        f"/api/v1/datasets/{pool['id']}/label",
        json={"annotators": ["anna@example.com"], "pre_annotations": "gt", "instruction": "Box the shapes."},
        headers=h,
    )
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    wait_for(lambda: stack.task(h, tid)["stage"] == "labeling", 90, "labeling")
    task = stack.task(h, tid)
    assert "0/4 labeled" in task["message"] and "/projects/" in task["message"]
    assert "must join Label Studio" in task["message"]  # anna has no Label Studio account yet
    project = ls.project_of(tid)
    tasks = ls.tasks(project["id"])

    # the images Label Studio's pages load: signed links to our API, with CORS; a forged one is refused
    link = tasks[0]["data"]["image"]
    assert link.startswith(stack.url)
    got = httpx.get(link)
    assert got.status_code == 200 and got.headers["access-control-allow-origin"] == "*"
    assert got.headers["content-type"] == "image/jpeg" and got.content[:2] == b"\xff\xd8"
    forged = httpx.get(link.replace("sig=", "sig=0"))
    assert forged.status_code == 403 and forged.json()["code"] == "bad_signature"

    # Label Studio's webhook (not the 600 s poll) brings the progress
    ls.annotate(tasks[0]["id"], tasks[0]["predictions"][0]["result"])
    wait_for(lambda: "1/4 labeled" in stack.task(h, tid)["message"], 20, "progress from the webhook")
    ls.annotate(tasks[1]["id"], [rect(10, 10, 20, 20, "square")])
    wait_for(lambda: "2/4 labeled" in stack.task(h, tid)["message"], 20, "progress from the webhook")

    for _ in range(2):  # finishing twice makes one version
        r = c.post(f"/api/v1/tasks/{tid}/finish", headers=h)
        assert r.status_code == 202, r.text
    done = stack.done(h, tid)
    assert done["state"] == "done", done["error"]
    assert done["result"]["labeling"]["unlabeled"] and len(done["result"]["labeling"]["unlabeled"]) == 2
    assert c.post(f"/api/v1/tasks/{tid}/finish", headers=h).status_code == 202
    versions = [
        v for v in c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"] if v["task_id"] == tid
    ]
    assert len(versions) == 1
    labeled = versions[0]
    assert labeled["state"] == "ready" and labeled["asset_count"] == 2
    expected_boxes = len(tasks[0]["predictions"][0]["result"]) + 1
    assert labeled["gt_boxes"] == expected_boxes
    time.sleep(0.5)
    assert (
        len(
            [
                v
                for v in c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
                if v["task_id"] == tid
            ]
        )
        == 1
    )
    imp = c.post(f"/api/v1/tasks/{pool['task_id']}/finish", headers=h)
    assert imp.status_code == 409 and imp.json()["code"] == "not_labeling"


def test_worker_killed_mid_labeling_on_the_embedded_broker(stack: Stack, shapes: Shapes) -> None:
    """The embedded broker does not redeliver: the API sees the labeling task lost and sends it again
    under its own id; it finds its project and carries on, losing nothing."""
    c, ls, h = stack.http, stack.ls, shapes.headers
    r = c.post(f"/api/v1/datasets/{shapes.pool['id']}/label", json={}, headers=h)
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    wait_for(lambda: stack.task(h, tid)["stage"] == "labeling", 90, "labeling")
    project = ls.project_of(tid)
    tasks = ls.tasks(project["id"])
    stack.engine.kill()
    ls.annotate(tasks[0]["id"], [rect(10, 10, 20, 20, "circle")])  # while no worker runs
    stack.engine.start()
    wait_for(lambda: "1/4 labeled" in stack.task(h, tid)["message"], 90, "the task sent again")
    assert len(ls.projects_of(tid)) == 1 and len(ls.tasks(project["id"])) == 4
    ls.annotate(tasks[1]["id"], [rect(5, 5, 20, 20, "square")])
    assert c.post(f"/api/v1/tasks/{tid}/finish", headers=h).status_code == 202
    done = stack.done(h, tid)
    assert done["state"] == "done", done["error"]
    assert done["result"]["version"]["assets"] == 2 and done["result"]["version"]["gt_boxes"] == 2


def test_iteration_label_step_through_label_studio(stack: Stack, shapes: Shapes) -> None:
    """The round's label step labels the mining step's output in Label Studio; the new version is the
    step's output and the merge step takes it."""
    from sqlalchemy import select

    from ymir_backend.models import IterationStep

    c, ls, h, pid, pool = stack.http, stack.ls, shapes.headers, shapes.project, shapes.pool["id"]
    r = c.post(
        f"/api/v1/projects/{pid}/iterations",
        json={"training_dataset_id": pool, "mining_dataset_id": pool},
        headers=h,
    )
    assert r.status_code == 201, r.text
    it = r.json()["id"]
    assert (
        c.post(f"/api/v1/iterations/{it}/steps/prepare_mining", json={"skip": True}, headers=h).status_code
        == 202
    )
    # mining needs a trained model and an executor run (tests/backend/test_flow.py covers it); here its
    # output is set directly: the pool stands for the mined images
    with stack.app.state.db.sessions() as db:
        step = db.scalar(
            select(IterationStep).where(IterationStep.iteration_id == it, IterationStep.name == "mining")
        )
        step.state, step.output_dataset_id = "done", pool
        db.commit()
    r = c.post(
        f"/api/v1/iterations/{it}/steps/label",
        json={
            "presets": {"label_studio": True, "class_names": ["circle", "square"], "pre_annotations": "gt"}
        },
        headers=h,
    )
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    assert r.json()["kind"] == "label"
    wait_for(lambda: stack.task(h, tid)["stage"] == "labeling", 90, "labeling")
    tasks = ls.tasks(ls.project_of(tid)["id"])
    ls.annotate(tasks[0]["id"], [rect(10, 10, 20, 20, "square")])
    assert c.post(f"/api/v1/tasks/{tid}/finish", headers=h).status_code == 202
    done = stack.done(h, tid)
    assert done["state"] == "done", done["error"]
    steps = {s["name"]: s for s in c.get(f"/api/v1/iterations/{it}", headers=h).json()["steps"]}
    assert steps["label"]["state"] == "done" and steps["label"]["task_id"] == tid
    labeled = c.get(f"/api/v1/datasets/{steps['label']['output_dataset_id']}", headers=h).json()
    assert labeled["task_id"] == tid and labeled["asset_count"] == 1 and labeled["gt_boxes"] == 1
    r = c.post(f"/api/v1/iterations/{it}/steps/merge", json={}, headers=h)
    assert r.status_code == 202, r.text
    merged = stack.done(h, r.json()["id"])
    assert merged["state"] == "done", merged["error"]
    assert merged["result"]["version"]["assets"] == shapes.pool["asset_count"]

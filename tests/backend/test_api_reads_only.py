"""The API process never writes a mir repository: every write is a task on the engine (DESIGN §1).

How this proves it: the API runs as a uvicorn process in a mount namespace of its own in which the
workplace's ``repos/`` folder is a read-only bind of itself (``unshare -m`` plus ``mount -o
remount,ro,bind``), so any write the API process (or a thread or child of it) tried below ``repos/``
would fail with ``EROFS`` and answer 5xx. The worker runs outside that namespace and writes the same
folder as usual. The test drives a user's first steps over HTTP (create a project, import, change a
label, import again with the new alias, browse) and asserts every answer and the engine's work; a
``chmod`` would not do, as root (which the tests run as) writes through file modes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.synthetic import generate_voc, zip_voc
from mir.store.repo import Repo
from tests.backend.api_process import api_process
from tests.controller.conftest import Engine, local_executors, make_engine
from tests.mounts import read_only_prefix


@dataclass
class Stack:
    base: str
    root: Path
    api: subprocess.Popen[bytes]
    api_log: Path
    engine: Engine


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    root = tmp_path / "ws"
    repos = root / "repos"
    repos.mkdir(parents=True)
    prefix = read_only_prefix(repos)
    engine = make_engine("embedded", root, tmp_path / "gpu-locks")
    engine.start()
    env = {
        **engine.env,
        "YMIR_ADMIN_EMAIL": "root@example.com",
        "YMIR_ADMIN_PASSWORD": "root-pass-123",
        "YMIR_MONITOR_INTERVAL": "0.2",
        "YMIR_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
        "YMIR_LOCAL_EXECUTORS": json.dumps(local_executors(root)),
    }
    log = tmp_path / "api.log"
    try:
        with api_process(env=env, cwd=root, log=log, prefix=prefix) as (base, api):
            yield Stack(base=base, root=root, api=api, api_log=log, engine=engine)
    finally:
        engine.kill()  # a throw-away workplace: the warm shutdown is tested in test_engine.py


def _wait(c: httpx.Client, r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    task_id = r.json()["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        body = c.get(f"/api/v1/tasks/{task_id}").json()
        if body["state"] in ("done", "failed", "cancelled") and body["result"] is not None:
            assert body["state"] == "done", body["error"]
            return dict(body)
        time.sleep(0.2)
    raise TimeoutError(task_id)


def _mounted_read_only(pid: int, folder: Path) -> bool:
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(folder):
            return "ro" in fields[5].split(",")
    return False


def test_the_api_process_never_writes_a_repository(stack: Stack, tmp_path: Path) -> None:
    repos = stack.root / "repos"
    assert _mounted_read_only(stack.api.pid, repos)  # the API's view: read-only
    assert not _mounted_read_only(os.getpid(), repos)  # everyone else's: as usual
    with httpx.Client(base_url=stack.base, timeout=60) as c:
        email = "reader@example.com"
        r = c.post(
            "/api/v1/auth/signup", json={"email": email, "username": "reader", "password": "pass-123-x"}
        )
        assert r.status_code == 201, r.text
        r = c.post("/api/v1/auth/login", json={"email": email, "password": "pass-123-x"})
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        label_ids = {}
        for name in ("circle", "square", "triangle"):
            r = c.post("/api/v1/labels", json={"name": name})
            assert r.status_code == 201, r.text
            label_ids[name] = r.json()["id"]
        r = c.post("/api/v1/projects", json={"name": "ro", "training_classes": ["circle", "square"]})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]

        shapes = generate_voc(tmp_path / "shapes", n_images=6, seed=1, image_size=(48, 48))
        files = {"file": ("shapes.zip", zip_voc(shapes), "application/zip")}
        task = _wait(
            c, c.post(f"/api/v1/projects/{pid}/datasets/upload", data={"group_name": "a"}, files=files)
        )
        first = task["result"]["version"]
        assert first["assets"] == 6 and set(first["gt"]) == {"circle", "square", "triangle"}

        # a labels change reaches the repository through the next task: its data says "kreis"
        r = c.patch(f"/api/v1/labels/{label_ids['circle']}", json={"aliases": ["kreis"]})
        assert r.status_code == 200, r.text
        kreis = generate_voc(
            tmp_path / "kreis", n_images=4, seed=2, classes=("kreis", "square"), image_size=(48, 48)
        )
        files = {"file": ("kreis.zip", zip_voc(kreis), "application/zip")}
        task = _wait(
            c, c.post(f"/api/v1/projects/{pid}/datasets/upload", data={"group_name": "b"}, files=files)
        )
        assert set(task["result"]["version"]["gt"]) == {"circle", "square"}

        versions = c.get(f"/api/v1/projects/{pid}/datasets").json()["items"]
        vid = next(v["id"] for v in versions if v["task_id"] == task["id"])
        page = c.get(f"/api/v1/datasets/{vid}/assets", params={"class_name": "kreis", "limit": 10})
        assert page.status_code == 200, page.text
        assert page.json()["total"] > 0
        assert all(any(b["class_name"] == "circle" for b in item["gt"]) for item in page.json()["items"])
        asset = page.json()["items"][0]["asset_id"]
        assert c.get(f"/api/v1/datasets/{vid}/assets/{asset}/image").status_code == 200

    labels = {lb.name: lb.aliases for lb in Repo(repos / f"project-{pid}").labels().labels}
    assert labels["circle"] == ["kreis"]  # written by the engine
    assert "Read-only file system" not in stack.api_log.read_text()

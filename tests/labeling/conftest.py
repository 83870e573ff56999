"""A real Label Studio, started once per test session by ``label_studio/ls.sh`` (the project's own
script), and a real Celery worker on Redis that runs labeling tasks against it.

``./ymir.sh test`` installs Label Studio before pytest runs. Without it (or without Redis) these tests
skip on a developer's machine and FAIL under ``CI=true``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.synthetic import generate_voc
from mir.ops import history
from tests.controller.conftest import Engine, make_engine
from ymir_controller.protocol import ImportRequest, ImportSource

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "label_studio" / "ls.sh"
# LABEL_STUDIO_TEST_DIR (with its LABEL_STUDIO_TEST_TOKEN) keeps Label Studio's data between runs on a
# developer's machine: a warm start takes seconds, a first one (all migrations) half a minute or more.
TOKEN = os.environ.get("LABEL_STUDIO_TEST_TOKEN", "ymirtest0123456789abcdef0123456789abcdef")


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI needs it: ./ymir.sh test installs Label Studio)")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabelStudioServer:
    """The running server, its script environment, and API calls the tests make as annotators."""

    url: str
    env: dict[str, str]
    http: httpx.Client

    def script(self, *args: str) -> None:
        done = subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]

    def stop(self) -> None:
        self.script("stop")

    def start(self) -> None:
        self.script("start")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else None

    def project_of(self, task_id: str) -> dict[str, Any]:
        marker = f"ymir-label-task:{task_id}"
        for p in self.call("GET", "/api/projects", params={"page_size": 1000})["results"]:
            if marker in (p.get("description") or ""):
                return dict(p)
        raise AssertionError(f"no project for task {task_id}")

    def projects_of(self, task_id: str) -> list[dict[str, Any]]:
        marker = f"ymir-label-task:{task_id}"
        return [
            p
            for p in self.call("GET", "/api/projects", params={"page_size": 1000})["results"]
            if marker in (p.get("description") or "")
        ]

    def tasks(self, project_id: int) -> list[dict[str, Any]]:
        body = self.call(
            "GET", "/api/tasks", params={"project": project_id, "page_size": 1000, "fields": "all"}
        )
        return sorted(body["tasks"], key=lambda t: t["data"]["asset_id"])

    def annotate(self, task_id: int, result: list[dict[str, Any]], *, skip: bool = False) -> int:
        body = {"result": result, "was_cancelled": skip, "ground_truth": False, "lead_time": 1.0}
        return int(self.call("POST", f"/api/tasks/{task_id}/annotations", json=body)["id"])


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    venv = ROOT / ".venv-label-studio"
    version = subprocess.run([str(SCRIPT), "version"], capture_output=True, text=True).stdout.strip()
    if not (venv / "bin" / "label-studio").exists():
        _missing(f"Label Studio {version} is not installed in {venv}")
    kept = os.environ.get("LABEL_STUDIO_TEST_DIR")
    folder = Path(kept) if kept else tmp_path_factory.mktemp("label-studio")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YMIR_")}
    env.update(
        {
            "YMIR_WORKPLACE": str(folder / "workplace"),
            "YMIR_LABEL_STUDIO_DIR": str(folder / "label-studio"),
            "YMIR_LABEL_STUDIO_START_TIMEOUT": "900",
            "YMIR_LABEL_STUDIO_PORT": str(port),
            "YMIR_LABEL_STUDIO_BIND": "127.0.0.1",
            "YMIR_LABEL_STUDIO_TOKEN": TOKEN,
            "YMIR_LABEL_STUDIO_ADMIN_EMAIL": "admin@example.com",
            "YMIR_LABEL_STUDIO_ADMIN_PASSWORD": "admin-pass-123",
            "YMIR_DATABASE_URL": "",
        }
    )
    url = f"http://127.0.0.1:{port}"
    server = LabelStudioServer(
        url=url,
        env=env,
        http=httpx.Client(base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=60),
    )
    server.start()
    yield server
    server.stop()
    server.http.close()


CLASSES = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def labeling_engine(
    label_studio: LabelStudioServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A worker on Redis (a killed worker's task comes back) whose labeling tasks talk to ``label_studio``."""
    root = tmp_path_factory.mktemp("workplace-labeling")
    eng = make_engine("redis", root, tmp_path_factory.mktemp("gpu-locks"))
    extra = {
        "YMIR_LABEL_STUDIO_URL": label_studio.url,
        "YMIR_LABEL_STUDIO_TOKEN": TOKEN,
        "YMIR_LABEL_POLL_SECONDS": "0.5",
        "YMIR_PUBLIC_URL": "http://127.0.0.1:9",  # images are never fetched in these tests
    }
    extra["YMIR_VISIBILITY_TIMEOUT"] = "15"  # a killed worker's task comes back within ~16 s
    eng.env.update(extra)
    eng.settings = eng.settings.model_copy(
        update={
            "label_studio_url": label_studio.url,
            "label_studio_token": TOKEN,
            "label_poll_seconds": 0.5,
            "public_url": "http://127.0.0.1:9",
        }
    )
    generate_voc(root / "sharing" / "pool", n_images=6, seed=7, image_size=(80, 60), name_prefix="pool")
    (root / "sharing" / "pool" / "index.txt").unlink()
    history.init(root=root / "repos" / "main")
    for name in CLASSES:
        history.add_label(
            root=root / "repos" / "main", name=name, aliases=["sq"] if name == "square" else None
        )
    eng.start()
    tid = eng.client.submit(
        ImportRequest(repo="repos/main", dst_rev="pool@imp", source=ImportSource(kind="path", path="pool"))
    )
    result = eng.client.wait(tid, timeout=120)
    assert result.state == "done", result.error
    yield eng
    eng.stop()


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or predicate}")

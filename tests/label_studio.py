"""The one real Label Studio of a test run, started by ``label_studio/ls.sh`` (the project's own script)
in its own environment, shared by every test that needs it (``tests/labeling`` and the GUI's labeling in
``tests/web``): ``tests/conftest.py`` registers the fixtures once, so a run starts one server, in the
background as the run begins when one of its tests will need it.

``./ymir.sh test`` installs Label Studio before pytest runs. Without it, tests that use it skip on a
developer's machine and FAIL under ``CI=true``.
"""

from __future__ import annotations

import functools
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "label_studio" / "ls.sh"
# LABEL_STUDIO_TEST_DIR (with its LABEL_STUDIO_TEST_TOKEN) keeps Label Studio's data between runs on a
# developer's machine: a warm start takes seconds, a first one (all migrations) half a minute or more.
TOKEN = os.environ.get("LABEL_STUDIO_TEST_TOKEN", "ymirtest0123456789abcdef0123456789abcdef")
ADMIN = ("admin@example.com", "admin-pass-123")


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI needs it: ./ymir.sh test installs Label Studio)")
    pytest.skip(why)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@functools.cache
def label_studio_port() -> int:
    """The port the run's Label Studio listens on, known before it starts: the GUI tests' worker is told
    it when it starts, and Label Studio itself starts only in a run with a test that needs it. Taken
    below Linux's ephemeral range (32768+), so the free ports other servers of the run ask the system
    for never take it."""
    if os.environ.get("LABEL_STUDIO_TEST_PORT"):
        return int(os.environ["LABEL_STUDIO_TEST_PORT"])
    rng = random.Random(os.getpid())
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if _free(port):
            return port
    raise RuntimeError("no free port for Label Studio between 20000 and 32000")


def label_studio_url() -> str:
    return f"http://127.0.0.1:{label_studio_port()}"


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
        found = self.projects_of(task_id)
        if not found:
            raise AssertionError(f"no project for task {task_id}")
        return found[0]

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


def box_in_browser(page: Any, class_name: str, box: tuple[float, float, float, float]) -> None:
    """An annotator's work in Label Studio's own pages, in a browser ``page`` opened on one of its links:
    sign in, then in the labeling page choose ``class_name``, drag a rectangle over the image at ``box``
    (x, y, w, h in image pixels) and submit. The caller checks what Label Studio stored."""
    page.set_default_timeout(60_000)  # Label Studio's pages are slow to build on a loaded machine
    page.locator("#email").fill(ADMIN[0])
    page.locator("#password").fill(ADMIN[1])
    page.locator("button.login-button").click()
    submit = page.get_by_test_id("bottombar-submit-button")
    submit.wait_for()
    image = page.locator("img[src^=blob]").first  # the image, loaded from its link
    image.wait_for()
    frame = image.bounding_box()
    for _ in range(50):  # measured once the editor has stopped laying the image out
        time.sleep(0.1)
        again = image.bounding_box()
        if again == frame:
            break
        frame = again
    natural = image.evaluate("i => i.naturalWidth")
    assert frame is not None and frame["width"] > 0 and natural > 0
    page.locator(".lsf-label", has_text=class_name).first.click()
    scale = frame["width"] / natural
    x, y, w, h = box
    x0, y0 = frame["x"] + x * scale, frame["y"] + y * scale
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + w * scale, y0 + h * scale, steps=8)
    page.mouse.up()
    page.locator(".lsf-entity, [class*=region]", has_text=class_name).first.wait_for()
    submit.click()


def _needed(session: pytest.Session) -> bool:
    """Whether a collected test of this run uses the ``label_studio`` fixture (itself or through another)."""
    return any("label_studio" in getattr(item, "fixturenames", ()) for item in session.items)


def _installed() -> bool:
    return (ROOT / ".venv-label-studio" / "bin" / "label-studio").exists()


@dataclass
class _Start:
    """A Label Studio start under way: the server it brings up, ``ls.sh start`` and that script's output."""

    server: LabelStudioServer
    script: subprocess.Popen[bytes]
    log: Path

    def wait(self) -> LabelStudioServer:
        """The server, once ``ls.sh start`` has seen it answer (it fails the test otherwise)."""
        rc = self.script.wait(timeout=960)  # the script gives up after YMIR_LABEL_STUDIO_START_TIMEOUT
        assert rc == 0, self.log.read_text()[-3000:]
        return self.server

    def end(self) -> None:
        """Stops the server, once a start still under way has finished."""
        if self.script.poll() is None:
            self.script.wait(timeout=960)
        self.server.stop()
        self.server.http.close()


def _start(tmp_path_factory: pytest.TempPathFactory) -> _Start:
    """Starts Label Studio in the background (``ls.sh start``) on the run's port and folder."""
    kept = os.environ.get("LABEL_STUDIO_TEST_DIR")
    folder = Path(kept) if kept else tmp_path_factory.mktemp("label-studio")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YMIR_")}
    env.update(
        {
            "YMIR_WORKPLACE": str(folder / "workplace"),
            "YMIR_LABEL_STUDIO_DIR": str(folder / "label-studio"),
            "YMIR_LABEL_STUDIO_START_TIMEOUT": "900",
            "YMIR_LABEL_STUDIO_PORT": str(label_studio_port()),
            "YMIR_LABEL_STUDIO_BIND": "127.0.0.1",
            "YMIR_LABEL_STUDIO_TOKEN": TOKEN,
            "YMIR_LABEL_STUDIO_ADMIN_EMAIL": ADMIN[0],
            "YMIR_LABEL_STUDIO_ADMIN_PASSWORD": ADMIN[1],
            "YMIR_DATABASE_URL": "",
        }
    )
    url = label_studio_url()
    http = httpx.Client(base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=60)
    log = folder / "ls-start.log"
    with open(log, "wb") as out:
        script = subprocess.Popen([str(SCRIPT), "start"], env=env, stdout=out, stderr=subprocess.STDOUT)
    return _Start(LabelStudioServer(url=url, env=env, http=http), script, log)


@pytest.fixture(scope="session", autouse=True)
def _label_studio_early(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Start | None]:
    """Starts the run's Label Studio as the run begins when one of its tests will use it: a first start
    applies every migration (20 to 40 s of one core), which then overlap with the tests before it
    instead of holding up the first test that needs it. Stopped when the run ends."""
    if not _installed() or not _needed(request.session):
        yield None
        return
    started = _start(tmp_path_factory)
    try:
        yield started
    finally:
        started.end()


@pytest.fixture(scope="session")
def label_studio(
    _label_studio_early: _Start | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabelStudioServer]:
    """The run's Label Studio, started early by ``_label_studio_early`` (or now, for a test that asked
    for it by name), once it answers."""
    if not _installed():
        version = subprocess.run([str(SCRIPT), "version"], capture_output=True, text=True).stdout.strip()
        _missing(f"Label Studio {version} is not installed in {ROOT / '.venv-label-studio'}")
    if _label_studio_early is not None:
        yield _label_studio_early.wait()
        return
    started = _start(tmp_path_factory)
    try:
        yield started.wait()
    finally:
        started.end()

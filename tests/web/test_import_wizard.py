"""The import wizard's other sources: a URL (a web server of the test's own on 127.0.0.2, the one
internal address the test worker may fetch from), a public dataset of another user copied in, and a
folder chosen by browsing the sharing folder."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Live, shot
from tests.web.helpers import new_page, pick, sign_in, voc, wait_state, zip_of

EMAIL, PASSWORD = "wizard@example.com", "secret-pass-1"


@pytest.fixture(scope="module")
def zip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.2:PORT/shapes.zip: a small VOC zip."""
    tmp = tmp_path_factory.mktemp("zips")
    body = zip_of(voc(tmp / "shapes", 4, seed=21), tmp / "shapes.zip").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            ok = self.path == "/shapes.zip"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{server.server_address[1]}"
    server.shutdown()


def _account(live: Live, email: str, name: str) -> tuple[dict[str, str], int]:
    r = live.http.post("/api/v1/auth/signup", json={"email": email, "username": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    h = live.login(email, PASSWORD)
    for label in ("circle", "square", "triangle"):
        live.http.post("/api/v1/labels", json={"name": label}, headers=h)
    r = live.http.post(
        "/api/v1/projects", json={"name": f"{name}-project", "training_classes": ["circle"]}, headers=h
    )
    assert r.status_code == 201, r.text
    return h, int(r.json()["id"])


@pytest.fixture(scope="module")
def public_version(live: Live) -> int:
    """Another user's version, marked public."""
    h, pid = _account(live, "publisher@example.com", "publisher")
    voc(live.settings.root / "sharing" / "published", 3, seed=22)
    r = live.http.post(
        f"/api/v1/projects/{pid}/datasets/path",
        json={"group_name": "published", "path": "published"},
        headers=h,
    )
    task = live.wait(h, r.json()["id"])
    assert task["state"] == "done", task
    did = next(v["id"] for v in live.http.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"])
    assert live.http.patch(f"/api/v1/datasets/{did}", json={"is_public": True}, headers=h).status_code == 200
    return int(did)


def _start(page: Any, pid: int, source: str, group: str) -> None:
    page.goto(f"/projects/{pid}/datasets/import")
    page.get_by_test_id("import-source").get_by_text(source).click()
    page.fill("#import_group_name", group)


def test_import_from_a_url_and_copy_a_public_dataset(
    live: Live, browser: Any, zip_server: str, public_version: int
) -> None:
    h, pid = _account(live, EMAIL, "wizard")
    page = new_page(browser, live.url)
    sign_in(page, EMAIL, PASSWORD)

    _start(page, pid, "From a URL", "from-url")
    page.fill("#import_url", f"{zip_server}/shapes.zip")
    page.get_by_test_id("start-import").click()
    wait_state(page, "done", 60_000)

    _start(page, pid, "Copy a dataset", "copied")
    pick(page, "import_source_dataset_id", "published v1 · publisher-project")
    page.get_by_test_id("start-import").click()
    wait_state(page, "done", 60_000)

    page.goto(f"/projects/{pid}/datasets")
    for name, images in (("from-url v1", "4"), ("copied v1", "3")):
        row = page.locator(f'tr[data-version="{name}"]')
        row.get_by_test_id("version-link").wait_for()
        assert images in row.inner_text().split()
    row = page.locator('tr[data-version="copied v1"]')
    row.get_by_test_id("version-task").get_by_text("copy").wait_for()
    versions = live.http.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
    assert sorted((v["asset_count"], v["state"]) for v in versions) == [(3, "ready"), (4, "ready")]
    assert not page.errors, page.errors


def test_a_folder_chosen_in_the_sharing_folder_browser(live: Live, browser: Any, tmp_path: Path) -> None:
    email = "browser@example.com"
    h, pid = _account(live, email, "browser")
    voc(live.settings.root / "sharing" / "team" / "cars-2024", 3, seed=23)
    page = new_page(browser, live.url)
    sign_in(page, email, PASSWORD)
    _start(page, pid, "Server folder", "cars")
    browser_card = page.get_by_test_id("sharing-browser")
    browser_card.get_by_test_id("sharing-entry").filter(has_text="team").get_by_text("team").click()
    entry = browser_card.get_by_test_id("sharing-entry").filter(has_text="cars-2024")
    entry.get_by_text("importable").wait_for()
    entry.get_by_test_id("pick-folder").click()
    assert page.locator("#import_path").input_value() == "team/cars-2024"
    shot(page, "sharing-browser")
    page.get_by_test_id("start-import").click()
    wait_state(page, "done", 60_000)
    versions = live.http.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
    assert [(v["asset_count"], v["state"]) for v in versions] == [(3, "ready")]
    assert not page.errors, page.errors

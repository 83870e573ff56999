"""GUI pages beyond the journey: the language switch, pages a user may not see, a lapsed session
leading to sign-in and back, and broken input shown clearly in the page (nothing left half-done)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import ADMIN, Live, shot
from tests.web.helpers import new_page, sign_in, voc, zip_of

PASSWORD = "secret-pass-1"


def _user(live: Live, email: str) -> dict[str, str]:
    return live.sign_up(email, email[:6], PASSWORD)


@pytest.fixture(scope="module")
def member(live: Live) -> tuple[str, int]:
    """A user with labels and a project, made through the API."""
    email = "pages@example.com"
    h = _user(live, email)
    for name in ("circle", "square", "triangle"):
        assert live.http.post("/api/v1/labels", json={"name": name}, headers=h).status_code == 201
    r = live.http.post("/api/v1/projects", json={"name": "pages", "training_classes": ["circle"]}, headers=h)
    return email, r.json()["id"]


def test_language_switch(live: Live, browser: Any, member: tuple[str, int]) -> None:
    page = new_page(browser, live.url)
    sign_in(page, member[0], PASSWORD)
    page.get_by_role("heading", name="My projects").wait_for()
    page.get_by_test_id("language").get_by_text("简体中文").click()
    page.get_by_role("heading", name="我的项目").wait_for()
    assert page.get_by_test_id("menu").get_by_text("标签").is_visible()
    page.reload()  # the choice is kept
    page.get_by_role("heading", name="我的项目").wait_for()
    page.get_by_test_id("language").get_by_text("English").click()
    page.get_by_role("heading", name="My projects").wait_for()


def test_a_user_is_refused_admin_pages_that_admins_see(
    live: Live, browser: Any, member: tuple[str, int]
) -> None:
    page = new_page(browser, live.url)
    sign_in(page, member[0], PASSWORD)
    for path in ("/admin/users", "/admin/images"):
        page.goto(path)
        page.get_by_text("You may not see this page").wait_for()
    assert page.get_by_test_id("menu").get_by_text("Users").count() == 0

    admin = new_page(browser, live.url)
    sign_in(admin, *ADMIN)
    admin.goto("/admin/users")
    admin.get_by_role("cell", name=member[0]).wait_for()
    shot(admin, "users")
    admin.goto("/admin/images")
    admin.get_by_role("cell", name="ymir-executor", exact=True).wait_for()


def test_a_lapsed_session_signs_in_and_comes_back(live: Live, browser: Any, member: tuple[str, int]) -> None:
    page = new_page(browser, live.url)
    sign_in(page, member[0], PASSWORD)
    page.evaluate(
        "localStorage.setItem('ymir.tokens', JSON.stringify({access_token: 'x', refresh_token: 'y'}))"
    )
    page.goto("/labels")
    page.wait_for_url("**/signin?next=%2Flabels")
    page.fill("#signin_email", member[0])
    page.fill("#signin_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/labels")
    page.get_by_role("cell", name="circle", exact=True).wait_for()


def _start_import(page: Any, pid: int, source: str, group: str) -> None:
    page.goto(f"/projects/{pid}/datasets/import")
    page.get_by_test_id("import-source").get_by_text(source).click()
    page.fill("#import_group_name", group)


def test_broken_imports_say_what_is_wrong(
    live: Live, browser: Any, member: tuple[str, int], tmp_path: Path
) -> None:
    page = new_page(browser, live.url)
    sign_in(page, member[0], PASSWORD)
    pid = member[1]

    # a zip that is not a dataset: the task fails and the page says why
    bogus = tmp_path / "photos.zip"
    bogus.write_bytes(b"these are not the images you are looking for")
    _start_import(page, pid, "Upload a zip", "bogus")
    page.set_input_files("input[type=file]", str(bogus))
    page.get_by_test_id("start-import").click()
    page.get_by_test_id("task-error").get_by_text("is not a zip archive").wait_for(timeout=60_000)

    # a class that is no label, with "stop": the import stops and names the class
    odd = zip_of(voc(tmp_path / "odd", 3, seed=9, classes=("hexagon",)), tmp_path / "odd.zip")
    _start_import(page, pid, "Upload a zip", "odd")
    page.set_input_files("input[type=file]", str(odd))
    page.locator("label", has_text="stop the import").click()
    page.get_by_test_id("start-import").click()
    page.get_by_test_id("task-error").get_by_text("hexagon").wait_for(timeout=60_000)
    shot(page, "import-error")

    # a folder outside the sharing folder: refused before any task, the field marked
    _start_import(page, pid, "Server folder", "escape")
    page.fill("#import_path", "../../etc")
    page.get_by_test_id("start-import").click()
    page.get_by_test_id("error").get_by_text("sharing folder").wait_for()
    page.locator("#import_path_help", has_text="sharing folder").wait_for()

    # nothing was left behind: no version became ready, and the refused path made none
    h = live.login(member[0], PASSWORD)
    versions = live.http.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
    assert sorted(v["state"] for v in versions) == ["failed", "failed"]
    labels = {label["name"] for label in live.http.get("/api/v1/labels", headers=h).json()}
    assert "hexagon" not in labels
    assert not page.errors, page.errors

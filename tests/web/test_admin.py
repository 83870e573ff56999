"""The executor-images admin page: register an image with its templates, edit it (a template kind the
API refuses marks the field, a template that is not JSON is caught in the page; neither changes
anything), and remove it. The users page and who is refused which page: tests/web/test_gui_pages.py
and test_account.py."""

from __future__ import annotations

import json
from typing import Any

from tests.web.conftest import ADMIN, Live, shot
from tests.web.helpers import new_page, sign_in

NAME = "acme/gui-detector:1.0"


def _image(live: Live, h: dict[str, str]) -> dict[str, Any]:
    (found,) = [i for i in live.http.get("/api/v1/images", headers=h).json() if i["name"] == NAME]
    return dict(found)


def test_executor_images_are_registered_edited_and_removed(live: Live, browser: Any) -> None:
    page = new_page(browser, live.url)
    sign_in(page, *ADMIN)
    h = live.login(*ADMIN)
    page.goto("/admin/images")
    page.get_by_test_id("new-image").click()
    page.fill("#image_name", NAME)
    page.fill("#image_description", "ACME's detector")
    page.fill("#image_templates", json.dumps({"training": {"epochs": 10}}))
    page.click("#save-image")
    row = page.locator(f'tr[data-image="{NAME}"]')
    row.get_by_text("ACME's detector").wait_for()
    assert row.get_by_text("training", exact=True).is_visible()

    # edit: a kind the API does not know is refused and names the field; bad JSON never leaves the page
    row.get_by_test_id("edit-image").click()
    assert page.locator("#image_name").is_disabled()  # the name never changes
    page.fill("#image_templates", json.dumps({"training": {"epochs": 10}, "detect": {}}))
    page.click("#save-image")
    page.locator("#image_templates_help", has_text="unknown template kind").wait_for()
    page.fill("#image_templates", "{not json")
    page.click("#save-image")
    page.locator("#image_templates_help", has_text="not valid JSON").wait_for()
    assert _image(live, h)["templates"] == {"training": {"epochs": 10}}  # nothing changed

    page.fill("#image_templates", json.dumps({"training": {"epochs": 10}, "infer": {"conf": 0.3}}))
    page.fill("#image_description", "ACME's detector, now with inference")
    page.click("#save-image")
    row.get_by_text("now with inference").wait_for()
    assert row.get_by_text("infer", exact=True).is_visible()
    shot(page, "images")
    assert _image(live, h)["capabilities"] == ["infer", "training"]

    row.get_by_test_id("remove-image").click()
    row.wait_for(state="detached")
    assert NAME not in [i["name"] for i in live.http.get("/api/v1/images", headers=h).json()]
    assert not page.errors, page.errors

"""Labels added in bulk: one per line with aliases; a clash names its line and adds nothing."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Live
from tests.web.helpers import new_page, sign_in

EMAIL, PASSWORD = "bulk@example.com", "secret-pass-1"


def test_labels_are_added_in_bulk(live: Live, browser: Any) -> None:
    h = live.sign_up(EMAIL, "bulk", PASSWORD)
    assert (
        live.http.post("/api/v1/labels", json={"name": "car", "aliases": ["auto"]}, headers=h).status_code
        == 201
    )
    page = new_page(browser, live.url)
    sign_in(page, EMAIL, PASSWORD)
    page.goto("/labels")
    page.locator('tr[data-label="car"]').wait_for()

    page.get_by_test_id("bulk-labels").click()
    page.fill("#bulk_labels", "bus, coach\n\nauto\ntruck")  # 'auto' is car's alias: line 3
    page.click("#save-bulk")
    page.get_by_test_id("error").get_by_text("Line 3").wait_for()
    assert [lb["name"] for lb in live.http.get("/api/v1/labels", headers=h).json()] == ["car"]  # none added

    page.fill("#bulk_labels", "bus, coach\n\nvan\ntruck, lorry")
    page.click("#save-bulk")
    page.locator(".ant-modal-wrap").wait_for(state="detached")
    for name in ("bus", "van", "truck"):
        page.locator(f'tr[data-label="{name}"]').wait_for()
    assert page.locator('tr[data-label="truck"]').get_by_text("lorry").is_visible()
    assert not page.errors, page.errors

"""Labeling through Label Studio from the GUI, in headless Chromium, against the run's one real Label
Studio (``tests/label_studio.py``): a version of unlabeled images is sent to labeling from its actions;
the user follows our link into Label Studio, signs in there, draws a box of a class on one image in
Label Studio's own labeling page and submits it; back in our GUI the progress shows it, "Finish now"
fetches the labels, and the new version holds that box (class, count and place, in the asset browser).
Broken: Label Studio stopped mid-labeling — the GUI says it cannot be reached, and once it is back
"Finish now" imports what was labeled before; the project deleted in Label Studio — the GUI says so
and no version is made."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.label_studio import LabelStudioServer, box_in_browser
from tests.web.conftest import Live, shot
from tests.web.helpers import menu_item, new_page, sign_in, voc

EMAIL, PASSWORD = "annotate@example.com", "secret-pass-1"


@pytest.fixture(scope="module")
def project(live: Live) -> tuple[int, dict[str, str]]:
    """A project with one version of three images and no boxes ('pool v1')."""
    h = live.sign_up(EMAIL, "annotate", PASSWORD, labels=("circle", "square"))
    pid = live.http.post(
        "/api/v1/projects", json={"name": "annotate", "training_classes": ["circle", "square"]}, headers=h
    ).json()["id"]
    folder = voc(live.settings.root / "sharing" / "lab-pool", 3, seed=41)
    shutil.rmtree(folder / "annotations")  # images only: every box comes from Label Studio
    r = live.http.post(
        f"/api/v1/projects/{pid}/datasets/path", json={"group_name": "pool", "path": "lab-pool"}, headers=h
    )
    assert r.status_code == 202, r.text
    assert live.wait(h, r.json()["id"])["state"] == "done"
    return int(pid), h


def _versions(live: Live, pid: int, h: dict[str, str]) -> list[dict[str, Any]]:
    return list(live.http.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"])


def _last_label_task(live: Live, h: dict[str, str]) -> dict[str, Any]:
    tasks = live.http.get("/api/v1/tasks", headers=h).json()["items"]
    return dict(max((t for t in tasks if t["kind"] == "label"), key=lambda t: t["created_at"]))


def _send_to_labeling(page: Any, pid: int) -> Any:
    """The version's "Label…" form, started with its defaults (the project's classes); returns the modal,
    which follows the task."""
    page.goto(f"/projects/{pid}/datasets")
    menu_item(page, page.locator('tr[data-version="pool v1"]').get_by_test_id("version-actions"), "Label…")
    modal = page.locator(".ant-modal:visible")
    modal.get_by_test_id("start-action").click()
    modal.get_by_test_id("labeling-progress").get_by_text("0/3").wait_for(timeout=60_000)
    return modal


def test_label_one_image_in_label_studio(
    live: Live, browser: Any, label_studio: LabelStudioServer, project: tuple[int, dict[str, str]]
) -> None:
    pid, h = project
    page = new_page(browser, live.url)
    sign_in(page, EMAIL, PASSWORD)
    modal = _send_to_labeling(page, pid)
    shot(page, "labeling")

    # our link opens Label Studio's labeling page of the task's project, in a new tab
    with page.context.expect_page() as opened:
        modal.get_by_test_id("label-studio-label").click()
    ls_page = opened.value
    drawn = {"x": 10, "y": 12, "w": 30, "h": 20}
    box_in_browser(ls_page, "circle", (drawn["x"], drawn["y"], drawn["w"], drawn["h"]))

    # Label Studio stored it: one annotation with one 'circle' rectangle
    task = _last_label_task(live, h)
    ls_project = label_studio.project_of(task["id"])
    labeled = [t for t in label_studio.tasks(ls_project["id"]) if t["annotations"]]
    assert len(labeled) == 1
    (region,) = labeled[0]["annotations"][0]["result"]
    assert region["value"]["rectanglelabels"] == ["circle"]
    ls_page.close()

    # back in our GUI: the progress counts it (Label Studio's webhook)
    modal.get_by_test_id("labeling-progress").get_by_text("1/3").wait_for(timeout=30_000)

    # Label Studio goes away: the GUI says so, nothing is written; back, the labeling carries on
    label_studio.stop()
    try:
        waiting = modal.get_by_test_id("labeling-waiting")
        waiting.wait_for(timeout=30_000)
        assert "Label Studio cannot be reached" in waiting.inner_text()
        assert f"{label_studio.url} cannot be reached" in waiting.inner_text()
        (making,) = [v for v in _versions(live, pid, h) if v["task_id"] == task["id"]]
        assert making["state"] != "ready" and making["asset_count"] == 0
    finally:
        label_studio.start()

    # Label Studio is back: "Finish now" fetches the labels (at once, not at the task's next try)
    modal.get_by_test_id("finish-labeling").click()
    modal.locator("[data-testid=state][data-state=done]").wait_for(timeout=60_000)
    modal.get_by_test_id("start-action").click()  # "Close"

    (new,) = [v for v in _versions(live, pid, h) if v["task_id"] == task["id"]]
    assert new["state"] == "ready" and new["asset_count"] == 1 and new["gt_boxes"] == 1
    row = page.locator(f'tr[data-version="pool-labeled v{new["version_num"]}"]')
    row.get_by_test_id("version-link").click()
    page.get_by_test_id("asset-total").get_by_text("1 images").wait_for()
    page.get_by_test_id("thumb").first.click()
    canvas = page.get_by_test_id("viewer").get_by_test_id("box-canvas")
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-testid=viewer] [data-testid=box-canvas]');"
        " return c && c.dataset.gt === '1' }"
    )
    (box,) = [b for b in json.loads(canvas.get_attribute("data-boxes")) if b["side"] == "gt"]
    assert box["class_name"] == "circle"
    asset = live.http.get(f"/api/v1/datasets/{new['id']}/assets", headers=h).json()["items"][0]
    (gt,) = asset["gt"]
    assert gt["class_name"] == "circle"
    for key, value in drawn.items():  # where the user drew it, to a pixel
        assert abs(gt[key] - value) <= 1.5, (gt, drawn)
    assert not page.errors, page.errors


def test_project_deleted_in_label_studio(
    live: Live, browser: Any, label_studio: LabelStudioServer, project: tuple[int, dict[str, str]]
) -> None:
    pid, h = project
    page = new_page(browser, live.url)
    sign_in(page, EMAIL, PASSWORD)
    before = _versions(live, pid, h)
    modal = _send_to_labeling(page, pid)
    task = _last_label_task(live, h)
    (making,) = [v for v in _versions(live, pid, h) if v["task_id"] == task["id"]]
    row = page.locator(f'tr[data-version="pool-labeled v{making["version_num"]}"]')
    row.get_by_test_id("labeling-progress").get_by_text("0/3").wait_for()  # the list follows it too
    ls_project = label_studio.project_of(task["id"])
    label_studio.call("DELETE", f"/api/projects/{ls_project['id']}")

    error = modal.get_by_test_id("task-error")
    error.wait_for(timeout=30_000)
    assert f"project {ls_project['id']} no longer exists in Label Studio" in error.inner_text()
    assert "start a new labeling task" in error.inner_text()
    modal.get_by_test_id("start-action").click()  # "Close"

    # the dataset list says it too, and nothing was written: the version failed, empty; no other is new
    (failed,) = [v for v in _versions(live, pid, h) if v["task_id"] == task["id"]]
    assert failed["state"] == "failed" and failed["asset_count"] == 0 and failed["gt_boxes"] == 0
    row.get_by_test_id("version-error").get_by_text("no longer exists in Label Studio").wait_for()
    assert len(_versions(live, pid, h)) == len(before) + 1
    assert not page.errors, page.errors

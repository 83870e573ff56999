"""The seed's GUI journey in headless Chromium against a real server, worker and PostgreSQL:
sign up, labels with an alias, a project, imports by zip upload and by server folder, browsing with
the drawn boxes checked against the API (count and on-screen position), training from the template
form (a bad value refused first), the model's charts, verification on an uploaded image, and mining
with the new model, its result browsed; the model's package downloaded and imported back."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from tests.web.conftest import Live, shot
from tests.web.helpers import new_page, pick, voc, wait_state, zip_of

EMAIL, PASSWORD = "gui@example.com", "secret-pass-1"


def _user_headers(live: Live) -> dict[str, str]:
    return live.login(EMAIL, PASSWORD)


def _sign_up(page: Any) -> None:
    page.goto("/signup")
    page.fill("#signup_email", EMAIL)
    page.fill("#signup_username", "gui")
    page.fill("#signup_password", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="My projects").wait_for()


def _labels(page: Any) -> None:
    page.goto("/labels")
    page.get_by_text("No label yet").wait_for()  # the empty state says what to do
    for name, aliases in (("circle", "ring"), ("square", ""), ("triangle", "")):
        page.get_by_test_id("new-label").click()
        page.fill("#label_name", name)
        if aliases:
            page.fill("#label_aliases", aliases)
        page.click("#save-label")
        page.locator(".ant-modal-wrap").wait_for(state="detached")  # saved: the form closed
        page.get_by_role("cell", name=name, exact=True).wait_for()
    page.get_by_role("cell", name="ring", exact=True).wait_for()


def _project(page: Any) -> int:
    page.goto("/")
    page.get_by_test_id("new-project").click()
    page.fill("#project_name", "shapes")
    page.click("#project_training_classes")
    for c in ("circle", "square", "triangle"):
        page.keyboard.type(c)
        page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.fill("#project_target_map", "0.9")
    page.click("#save-project")
    page.get_by_role("link", name="shapes").click()
    page.wait_for_url(re.compile(r"/projects/\d+/datasets$"))
    page.get_by_text("No dataset yet").wait_for()
    return int(page.url.split("/projects/")[1].split("/")[0])


def _import(page: Any, pid: int, source: str, group: str, fill: Any) -> None:
    page.goto(f"/projects/{pid}/datasets/import")
    page.get_by_test_id("import-source").get_by_text(source).click()
    page.fill("#import_group_name", group)
    fill()
    page.get_by_test_id("start-import").click()
    wait_state(page, "done", 120_000)


def _settled(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    for _ in range(50):
        time.sleep(0.1)
        again = locator.bounding_box()
        if again == box:
            return dict(box)
        box = again
    raise AssertionError(f"{locator} kept moving")


def _check_boxes(page: Any, live: Live, did: int) -> None:
    """The viewer's canvas draws the API's boxes (its test hook lists them), where the box is on the
    shown image, and really paints them."""
    first = live.http.get(
        f"/api/v1/datasets/{did}/assets", params={"limit": 1}, headers=_user_headers(live)
    ).json()["items"][0]
    page.get_by_test_id("thumb").first.click()
    viewer = page.get_by_test_id("viewer")
    viewer.get_by_test_id("asset-image").wait_for()
    canvas = viewer.get_by_test_id("box-canvas")
    page.wait_for_function(
        "n => { const c = document.querySelector('[data-testid=viewer] [data-testid=box-canvas]');"
        " return c && c.dataset.gt === String(n) }",
        arg=len(first["gt"]),
    )
    frame = _settled(canvas)  # measured once it stopped moving
    drawn = [b for b in json.loads(canvas.get_attribute("data-boxes")) if b["side"] == "gt"]
    assert len(drawn) == len(first["gt"]) > 0
    scale = min(frame["width"] / first["width"], frame["height"] / first["height"])
    left = (frame["width"] - first["width"] * scale) / 2
    top = (frame["height"] - first["height"] * scale) / 2
    for box, d in zip(first["gt"], drawn, strict=True):
        assert d["class_name"] == box["class_name"]
        assert abs(d["x"] - (left + box["x"] * scale)) < 1
        assert abs(d["y"] - (top + box["y"] * scale)) < 1
        assert abs(d["w"] - box["w"] * scale) < 1
        ink = page.evaluate(
            """([x, y]) => { const r = window.devicePixelRatio || 1;
              const c = document.querySelector('[data-testid=viewer] [data-testid=box-canvas]');
              return c.getContext('2d').getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data[3] }""",
            [d["x"], d["y"] + d["h"] / 2],
        )
        assert ink > 0, f"nothing painted on the left edge of {box}"
    shot(page, "viewer")
    page.keyboard.press("ArrowRight")
    page.get_by_test_id("viewer-title").filter(has_text="2 / ").wait_for()
    page.keyboard.press("Escape")


def test_gui_journey(live: Live, browser: Any, tmp_path: Path) -> None:
    page = new_page(browser, live.url)
    _sign_up(page)
    _labels(page)
    pid = _project(page)

    train_zip = zip_of(voc(tmp_path / "train", 16, seed=1), tmp_path / "train.zip")
    _import(
        page, pid, "Upload a zip", "train", lambda: page.set_input_files("input[type=file]", str(train_zip))
    )
    voc(live.settings.root / "sharing" / "val", 8, seed=2)
    _import(page, pid, "Server folder", "val", lambda: page.fill("#import_path", "val"))

    page.goto(f"/projects/{pid}/datasets")
    page.get_by_test_id("dataset-group").nth(1).wait_for()
    assert page.get_by_test_id("dataset-group").count() == 2
    page.locator("[data-testid=dataset-group]", has_text="train").get_by_test_id("version-link").click()
    page.get_by_test_id("asset-total").get_by_text("16 images").wait_for()
    page.locator("[data-testid=grid-boxes][data-gt]").first.wait_for(state="attached")
    assert page.get_by_test_id("thumb").count() == 16  # all fit on this screen
    shot(page, "grid")
    did = int(page.url.rsplit("/", 1)[1])
    _check_boxes(page, live, did)

    # training from the template: a bad value is refused in the form, then a tiny run
    page.goto(f"/projects/{pid}/train?dataset={did}")
    page.get_by_test_id("cfg-epochs").wait_for()
    pick(page, "train_validation_dataset_id", "val v1")
    page.get_by_test_id("cfg-epochs").fill("many")
    page.get_by_test_id("start-training").click()
    page.get_by_test_id("cfg-error").get_by_text("epochs must be a number").wait_for()
    tasks = live.http.get("/api/v1/tasks", headers=_user_headers(live)).json()["items"]
    assert [t["kind"] for t in tasks if t["kind"] == "train"] == []  # refused before anything started
    for key, value in (
        ("epochs", "2"),
        ("model_size", "tiny"),
        ("img_size", "64"),
        ("batch_size_per_gpu", "8"),
        ("workers_per_gpu", "0"),
        ("eval_interval", "1"),
    ):
        page.get_by_test_id(f"cfg-{key}").fill(value)
    page.get_by_test_id("start-training").click()
    wait_state(page, "done", 240_000)

    page.goto(f"/projects/{pid}/models")
    page.get_by_test_id("model-link").first.click()
    page.get_by_test_id("ap-chart").locator("svg").first.wait_for()
    page.get_by_test_id("pr-chart").locator("svg").first.wait_for()
    image = sorted((tmp_path / "train" / "images").iterdir())[0]
    page.locator("input[type=file]").set_input_files(str(image))
    summary = page.get_by_test_id("verify-summary")
    summary.wait_for()
    count = int(summary.inner_text().split()[0])
    assert page.get_by_test_id("verify-view").locator("[data-side=pred] rect").count() == count
    shot(page, "model")

    # download the model's package, then import it back as a new model of the project
    mid = int(page.url.rsplit("/", 1)[1])
    with page.expect_download(timeout=60_000) as download:
        page.get_by_test_id("download-model").click()
    package = tmp_path / download.value.suggested_filename
    download.value.save_as(package)
    assert package.name.endswith(".tar.gz") and package.stat().st_size > 10_000
    page.goto(f"/projects/{pid}/models")
    page.get_by_test_id("import-model").click()
    page.fill("#model_import_group_name", "reimported")
    page.locator(".ant-modal input[type=file]").set_input_files(str(package))
    page.get_by_test_id("start-model-import").click()
    page.locator(".ant-modal [data-testid=state][data-state=done]").wait_for(timeout=60_000)
    page.get_by_test_id("start-model-import").click()  # "Close"
    page.locator("tr", has_text="reimported").get_by_test_id("model-link").wait_for()

    # mining: the top 3 of the validation images by the new model, opened in the browser
    page.goto(f"/projects/{pid}/mine?model={mid}")
    page.get_by_test_id("cfg-mining_algorithm").wait_for()
    pick(page, "mine_dataset_id", "val v1")
    page.fill("#mine_topk", "3")
    page.get_by_test_id("start-task").click()
    wait_state(page, "done", 180_000)
    page.goto(f"/projects/{pid}/datasets")
    page.locator("[data-testid=dataset-group]", has_text="mined").get_by_test_id("version-link").click()
    page.get_by_test_id("asset-total").get_by_text("3 images").wait_for()
    assert not page.errors, page.errors

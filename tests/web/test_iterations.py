"""One iteration round in the GUI, YMIR's guided flow: the project's sets and initial model chosen on
the page, then prepare (skipped) → mining → labeling in the run's real Label Studio (one mined image
boxed in Label Studio's own page, then "Finish now") → merge → training, each step run from its
form; the round's summary and chart show the new model, and so does the home page. The initial model
is trained through the API (tiny, one epoch)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.label_studio import LabelStudioServer, box_in_browser
from tests.web.conftest import Live, shot
from tests.web.helpers import new_page, pick, sign_in, voc

EMAIL, PASSWORD = "rounds@example.com", "secret-pass-1"
TINY = {
    "epochs": 1,
    "model_size": "tiny",
    "img_size": 64,
    "batch_size_per_gpu": 8,
    "workers_per_gpu": 0,
    "eval_interval": 1,
}


@pytest.fixture(scope="module")
def project(live: Live) -> int:
    """Training, validation and mining sets, and a first model."""
    classes = ["circle", "square", "triangle"]
    h = live.sign_up(EMAIL, "rounds", PASSWORD, labels=tuple(classes))
    pid = live.http.post(
        "/api/v1/projects", json={"name": "rounds", "training_classes": classes}, headers=h
    ).json()["id"]
    ids = {}
    for group, n, seed in (("it-train", 10, 31), ("it-val", 6, 32), ("it-pool", 8, 33)):
        voc(live.settings.root / "sharing" / group, n, seed=seed)
        r = live.http.post(
            f"/api/v1/projects/{pid}/datasets/path", json={"group_name": group, "path": group}, headers=h
        )
        assert live.wait(h, r.json()["id"])["state"] == "done"
        versions = live.http.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
        ids[group] = max(v["id"] for v in versions)
    r = live.http.post(
        f"/api/v1/projects/{pid}/models/train",
        json={
            "training_dataset_id": ids["it-train"],
            "validation_dataset_id": ids["it-val"],
            "config": TINY,
        },
        headers=h,
    )
    assert r.status_code == 202, r.text
    assert live.wait(h, r.json()["id"])["state"] == "done"
    return int(pid)


def _step_done(page: Any, name: str, timeout: float = 120_000) -> None:
    page.locator(f"[data-testid=step-{name}][data-state=done]").wait_for(timeout=timeout)


def test_one_round_step_by_step(
    live: Live, browser: Any, label_studio: LabelStudioServer, project: int
) -> None:
    pid = project
    page = new_page(browser, live.url)
    sign_in(page, EMAIL, PASSWORD)
    page.goto(f"/projects/{pid}/iterations")
    page.get_by_text("No round yet").wait_for()
    for field, text in (
        ("training_dataset_id", "it-train v1"),
        ("validation_dataset_id", "it-val v1"),
        ("mining_dataset_id", "it-pool v1"),
        ("initial_model_id", "v1"),
    ):
        pick(page, f"sets_{field}", text)
        page.locator(".ant-message", has_text="Saved").last.wait_for()
    page.get_by_test_id("start-round").click()

    page.get_by_test_id("skip-prepare_mining").click()
    page.locator("[data-testid=step-prepare_mining][data-state=skipped]").wait_for()

    page.get_by_test_id("presets-mining").fill(json.dumps({"topk": 3}))
    page.get_by_test_id("run-mining").click()
    _step_done(page, "mining")

    # labeling in Label Studio: our link into its labeling page, one mined image boxed there, then
    # "Finish now" fetches it; the other two stay unlabeled and out of the merge
    page.get_by_test_id("label-how").get_by_text("label them in Label Studio").click()
    page.get_by_test_id("run-label").click()
    step = page.get_by_test_id("step-label")
    step.get_by_test_id("labeling-progress").get_by_text("0/3").wait_for(timeout=60_000)
    with page.context.expect_page() as opened:
        step.get_by_test_id("label-studio-label").click()
    box_in_browser(opened.value, "square", (8, 8, 24, 24))
    step.get_by_test_id("labeling-progress").get_by_text("1/3").wait_for(timeout=30_000)
    opened.value.close()
    step.get_by_test_id("finish-labeling").click()
    _step_done(page, "label", 60_000)

    page.get_by_test_id("run-merge").click()
    _step_done(page, "merge")

    page.get_by_test_id("presets-training").fill(json.dumps({"config": TINY}))
    page.get_by_test_id("run-training").click()
    _step_done(page, "training", 240_000)

    # the round is done: its summary counts the merged training set (10 + 1), the chart shows it
    page.get_by_text("training set 11 · mAP").wait_for()
    page.get_by_test_id("rounds-chart").locator("svg").first.wait_for()
    page.get_by_test_id("start-round").get_by_text("Start round 2").wait_for()
    shot(page, "iterations")
    h = live.login(EMAIL, PASSWORD)
    (round1,) = live.http.get(f"/api/v1/projects/{pid}/iterations", headers=h).json()
    assert round1["state"] == "done" and round1["result_model_id"] is not None

    # home: the project's round and its newest model's mAP against the target
    model = live.http.get(f"/api/v1/models/{round1['result_model_id']}", headers=h).json()
    page.goto("/")
    row = page.locator('tr[data-project="rounds"]')
    row.get_by_test_id("project-round").get_by_text("1 of").wait_for()
    assert row.get_by_test_id("project-map").inner_text().startswith(f"{model['map50_95']:.3f} / ")
    assert row.get_by_test_id("project-contents").inner_text() == "6 versions · 2 models"
    assert not page.errors, page.errors

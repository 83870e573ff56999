"""A version's actions in the GUI: the menu offers what its content allows; merge, filter, sampling,
fuse, evaluate and export run from their forms, each new version's history names its task and sources,
and an export's file downloads from its form. Data is set up through the API (two small folder
imports); the forms are driven in the browser."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.web.conftest import Live, shot
from tests.web.helpers import menu_item, new_page, pick_many, sign_in, voc

EMAIL, PASSWORD = "actions@example.com", "secret-pass-1"


@pytest.fixture(scope="module")
def project(live: Live) -> tuple[int, dict[str, str]]:
    """A project with two versions: 'base' (gt and predictions, 6 images) and 'extra' (gt, 4 images)."""
    h = live.sign_up(EMAIL, "actions", PASSWORD, labels=("circle", "square", "triangle"))
    pid = live.http.post(
        "/api/v1/projects", json={"name": "actions", "training_classes": ["circle", "square"]}, headers=h
    ).json()["id"]
    sharing = live.settings.root / "sharing"
    base = voc(sharing / "acts-base", 6, seed=5)
    shutil.copytree(base / "annotations", base / "predictions")  # predictions = gt: evaluation is exact
    voc(sharing / "acts-extra", 4, seed=6)
    for group, path, preds in (("base", "acts-base", True), ("extra", "acts-extra", False)):
        r = live.http.post(
            f"/api/v1/projects/{pid}/datasets/path",
            json={"group_name": group, "path": path, "with_predictions": preds},
            headers=h,
        )
        assert r.status_code == 202, r.text
        assert live.wait(h, r.json()["id"])["state"] == "done"
    return pid, h


def _versions(live: Live, pid: int, h: dict[str, str]) -> list[dict[str, Any]]:
    return list(live.http.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"])


def _datasets_page(live: Live, browser: Any, pid: int) -> Any:
    """The project's dataset list in a new page, signed in as its owner."""
    page = new_page(browser, live.url)
    sign_in(page, EMAIL, PASSWORD)
    page.goto(f"/projects/{pid}/datasets")
    return page


def _row(page: Any, name: str) -> Any:
    """The row of version ``name`` ("base v2") in the dataset list."""
    return page.locator(f'tr[data-version="{name}"]')


def _open(page: Any, group: str, version: int, action: str) -> Any:
    """The action's form of ``group vN`` (menu → item), once it is shown."""
    menu_item(page, _row(page, f"{group} v{version}").get_by_test_id("version-actions"), action)
    modal = page.locator(".ant-modal:visible")
    modal.wait_for()
    return modal


def _run(page: Any, modal: Any) -> None:
    modal.get_by_test_id("start-action").click()
    modal.locator("[data-testid=state][data-state=done]").wait_for(timeout=60_000)
    modal.get_by_test_id("start-action").click()  # "Close"
    modal.wait_for(state="hidden")


def _menu(page: Any, group: str, version: int) -> list[str]:
    _row(page, f"{group} v{version}").get_by_test_id("version-actions").click()
    items = page.locator(".ant-dropdown:visible .ant-dropdown-menu-item")
    items.first.wait_for()
    texts = [s.strip() for s in items.all_inner_texts()]
    page.keyboard.press("Escape")
    page.locator(".ant-dropdown:visible").wait_for(state="hidden")
    return texts


def test_version_actions_from_their_forms(
    live: Live, browser: Any, project: tuple[int, dict[str, str]]
) -> None:
    pid, h = project
    page = _datasets_page(live, browser, pid)

    # chosen by content: evaluation needs predictions, only 'base' has them
    assert "Evaluate…" in _menu(page, "base", 1)
    assert "Evaluate…" not in _menu(page, "extra", 1)

    # merge 'extra' into 'base': a new version of base, from both
    modal = _open(page, "base", 1, "Merge…")
    pick_many(page, "merge_others", ["extra v1"])
    _run(page, modal)
    merged = _row(page, "base v2")
    merged.get_by_test_id("version-task").get_by_text("merge").wait_for()
    assert merged.get_by_test_id("version-sources").inner_text() == "base v1, extra v1"
    shot(page, "versions")

    # a merge with nothing to merge is refused in the form, before any task
    modal = _open(page, "extra", 1, "Merge…")
    modal.get_by_test_id("start-action").click()
    modal.get_by_text("Choose at least one version to merge in").wait_for()
    modal.locator("button.ant-modal-close").click()
    modal.wait_for(state="hidden")

    # filter 'base v2' to images with a circle; sample 2 images of 'extra'; evaluate 'base v1'
    modal = _open(page, "base", 2, "Filter…")
    modal.locator("#filter_include").fill("circle")  # a class of the version, or typed
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    _run(page, modal)
    modal = _open(page, "extra", 1, "Sample…")
    modal.locator("#sampling_count").fill("2")
    _run(page, modal)
    modal = _open(page, "base", 1, "Evaluate…")
    _run(page, modal)

    by_num = {(v["group_id"], v["version_num"]): v for v in _versions(live, pid, h)}
    base_g = next(v["group_id"] for v in by_num.values() if v["version_num"] == 1 and v["pred_boxes"])
    extra_g = next(g for g, _ in by_num if g != base_g)
    filtered, evaluated, sampled = by_num[(base_g, 3)], by_num[(base_g, 4)], by_num[(extra_g, 2)]
    assert filtered["state"] == "ready" and set(filtered["gt_stats"]) >= {"circle"}
    assert 0 < filtered["asset_count"] < by_num[(base_g, 2)]["asset_count"] + 1
    assert sampled["asset_count"] == 2
    assert evaluated["state"] == "ready"
    for num, kind, source in ((3, "filter", "base v2"), (4, "evaluation", "base v1")):
        row = _row(page, f"base v{num}")
        row.get_by_test_id("version-task").get_by_text(kind).wait_for()
        assert row.get_by_test_id("version-sources").inner_text() == source
    row = _row(page, "extra v2")
    row.get_by_test_id("version-task").get_by_text("sampling").wait_for()
    assert not page.errors, page.errors


def test_fuse_makes_mining_data_in_a_new_dataset(
    live: Live, browser: Any, project: tuple[int, dict[str, str]]
) -> None:
    pid, h = project
    page = _datasets_page(live, browser, pid)
    modal = _open(page, "extra", 1, "Fuse…")
    pick_many(page, "fuse_others", ["base v1"])
    modal.locator("#fuse_group_name").fill("mining-pool")
    modal.locator("#fuse_count").fill("3")
    _run(page, modal)
    row = _row(page, "mining-pool v1")
    row.get_by_test_id("version-task").get_by_text("fuse").wait_for()
    assert row.get_by_test_id("version-sources").inner_text() == "extra v1, base v1"
    pool = next(
        v
        for v in _versions(live, pid, h)
        if v["source_ids"] and v["asset_count"] == 3 and v["version_num"] == 1
    )
    assert pool["state"] == "ready"
    assert not page.errors, page.errors


def _boxes(xml: bytes) -> list[tuple[str, ...]]:
    """A VOC annotation's boxes as (class, xmin, ymin, xmax, ymax), sorted."""
    objects = ElementTree.fromstring(xml).iter("object")
    corners = ("xmin", "ymin", "xmax", "ymax")
    return sorted(
        (o.findtext("name") or "", *(str(round(float(o.findtext(f"bndbox/{k}") or "nan"))) for k in corners))
        for o in objects
    )


def test_export_downloads_from_its_form_and_says_when_the_file_is_gone(
    live: Live, browser: Any, project: tuple[int, dict[str, str]]
) -> None:
    pid, h = project
    page = _datasets_page(live, browser, pid)
    modal = _open(page, "extra", 1, "Export…")  # VOC, ground truth: the form's defaults
    modal.get_by_test_id("start-action").click()
    modal.locator("[data-testid=state][data-state=done]").wait_for(timeout=60_000)
    with page.expect_download() as download:
        modal.get_by_test_id("download").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    names = archive.namelist()
    source = live.settings.root / "sharing" / "acts-extra"
    images = sorted(p.name for p in (source / "images").iterdir())
    jpgs = [n.removeprefix("images/") for n in names if n.startswith("images/") and n.endswith(".jpg")]
    assert sorted(jpgs) == images
    assert {n for n in names if n.startswith("annotations/") and n.endswith(".xml")} == {
        f"annotations/{p.name}" for p in (source / "annotations").glob("*.xml")
    }
    for xml in sorted((source / "annotations").glob("*.xml")):  # every box, where it was imported
        assert _boxes(archive.read(f"annotations/{xml.name}")) == _boxes(xml.read_bytes()), xml.name
    assert archive.read(f"images/{images[0]}") == (source / "images" / images[0]).read_bytes()

    # the sweep removes an export's file after YMIR_KEEP_EXPORT_HOURS: the button then says so and what to do
    (task,) = live.http.get(
        "/api/v1/tasks", params={"project_id": pid, "state": "done", "limit": 200}, headers=h
    ).json()["items"][:1]
    assert task["kind"] == "export", task
    (live.settings.root / task["result"]["output"]).unlink()
    modal.get_by_test_id("download").click()
    page.locator(".ant-message").get_by_text("Export the version again").wait_for()
    assert not page.errors, page.errors

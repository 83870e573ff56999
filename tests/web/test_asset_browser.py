"""The asset browser in headless Chromium: thumbnails as plain signed <img> links, the filters (asset
type, tag, evaluation mark), mined assets in score order with their score, and the viewer's canvas —
the drawn boxes' count and on-screen positions, confidence slider, class toggles, hover label, wheel
zoom, drag pan and keyboard moves. The version is committed straight into the project's repository,
so the boxes, scores and marks are exact."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.browse_version import Img, commit_boxes, commit_bulk, register
from mir.store.schema import Mark
from tests.web.conftest import Live
from tests.web.helpers import new_page, settled_box

EMAIL, PASSWORD = "browse@example.com", "secret-pass-1"
A = Img(
    400,
    200,
    (200, 40, 40),
    gt=[("cat", 20, 20, 100, 60, Mark.MTP), ("dog", 200, 100, 80, 50, Mark.FN)],
    pred=[("cat", 24, 22, 96, 58, 0.9, Mark.TP), ("dog", 300, 40, 50, 50, 0.3, Mark.FP)],
    tags={"mining_score": "0.9"},
)
B = Img(
    200,
    200,
    (40, 200, 40),
    gt=[("cat", 10, 10, 50, 50, Mark.NOT_SET)],
    tags={"mining_score": "0.5", "weather": "rain"},
    tvt=2,
)
C = Img(100, 100, (40, 40, 200), tags={"mining_score": "0.1"}, tvt=3)
VIEWER_CANVAS = "document.querySelector('[data-testid=viewer] [data-testid=box-canvas]')"
SCALE = "Number(document.querySelector('[data-testid=viewer]').dataset.scale)"


@pytest.fixture(scope="module")
def version(live: Live) -> tuple[dict[str, Any], int, int, list[str]]:
    http = live.http
    http.post("/api/v1/auth/signup", json={"email": EMAIL, "username": "browse", "password": PASSWORD})
    tokens = http.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    for name in ("cat", "dog"):
        http.post("/api/v1/labels", json={"name": name}, headers=h)
    pid = http.post(
        "/api/v1/projects", json={"name": "browse", "training_classes": ["cat", "dog"]}, headers=h
    ).json()["id"]
    rev, ids = commit_boxes(live.settings.root, pid, [A, B, C])
    stats = {"cat": {"images": 2, "boxes": 2}, "dog": {"images": 1, "boxes": 1}}
    did = register(live.settings.db_url, pid, rev, 3, stats)
    return tokens, pid, did, ids


def _open(live: Live, browser: Any, version: tuple[dict[str, Any], int, int, list[str]]) -> Any:
    tokens, pid, did, _ = version
    page = new_page(browser, live.url)
    page.goto("/signin")
    page.evaluate(f"localStorage.setItem('ymir.tokens', JSON.stringify({json.dumps(tokens)}))")
    page.goto(f"/projects/{pid}/datasets/{did}")
    return page


def _thumb_ids(page: Any, n: int) -> list[str]:
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=thumb][data-asset]').length === n", arg=n
    )
    return [t.get_attribute("data-asset") for t in page.get_by_test_id("thumb").all()]


def _choose(page: Any, test_id: str, option: str) -> None:
    page.get_by_test_id(test_id).click()
    page.locator(".ant-select-dropdown:visible .ant-select-item-option", has_text=option).first.click()


def test_grid_thumbnails_filters_and_mining_scores(live: Live, browser: Any, version: Any) -> None:
    _, _, _, ids = version
    page = _open(live, browser, version)
    assert _thumb_ids(page, 3) == ids  # a mined version keeps its order: best score first
    page.get_by_test_id("sorted-by-score").wait_for()
    assert page.get_by_test_id("mining-score").all_inner_texts() == ["0.9", "0.5", "0.1"]
    # every thumbnail is a plain <img> on a signed link, loaded by the browser itself
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=thumb] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    srcs = page.locator("[data-testid=thumb] img").evaluate_all("l => l.map(i => i.getAttribute('src'))")
    assert len(srcs) == 3 and all("/media/" in s and "t=" in s and "size=256" in s for s in srcs), srcs
    counts = page.locator("[data-testid=thumb]").evaluate_all("l => l.map(t => t.dataset.count)")
    assert counts == ["4", "1", "0"]
    # the grid's one canvas drew them all
    page.locator("[data-testid=grid-boxes][data-count='5']").wait_for(state="attached")

    _choose(page, "filter-tvt", "Validation")
    assert _thumb_ids(page, 1) == [ids[1]]
    page.locator("[data-testid=filter-tvt] .ant-select-clear").click(force=True)
    assert _thumb_ids(page, 3) == ids
    page.get_by_test_id("filter-tag").locator("input").fill("weather=rain")
    page.get_by_test_id("filter-tag").locator("input").press("Enter")
    assert _thumb_ids(page, 1) == [ids[1]]
    page.get_by_test_id("filter-tag").locator("input").fill("")
    page.get_by_test_id("filter-tag").locator("input").press("Enter")
    _choose(page, "filter-mark", "FP")
    assert _thumb_ids(page, 1) == [ids[0]]
    assert not page.errors, page.errors


def _drawn(page: Any, n: int | None = None) -> list[dict[str, Any]]:
    canvas = page.get_by_test_id("viewer").get_by_test_id("box-canvas")
    if n is not None:
        page.wait_for_function(
            f"n => {{ const c = {VIEWER_CANVAS};"
            " return c && c.dataset.boxes && JSON.parse(c.dataset.boxes).length === n }",
            arg=n,
        )
    return list(json.loads(canvas.get_attribute("data-boxes")))


def _pixel_alpha(page: Any, x: float, y: float) -> int:
    return int(
        page.evaluate(
            f"""([x, y]) => {{ const c = {VIEWER_CANVAS}; const d = window.devicePixelRatio || 1;
              return c.getContext('2d').getImageData(Math.round(x * d), Math.round(y * d), 1, 1)
                .data[3] }}""",
            [x, y],
        )
    )


def test_viewer_draws_boxes_on_a_canvas(live: Live, browser: Any, version: Any) -> None:
    _, _, _, ids = version
    page = _open(live, browser, version)
    _thumb_ids(page, 3)
    page.get_by_test_id("thumb").first.click()
    viewer = page.get_by_test_id("viewer")
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=viewer] img');"
        " return i && i.complete && i.naturalWidth === 400 }"
    )
    assert "/media/" in viewer.locator("img").get_attribute("src")  # the image itself, signed too
    drawn = _drawn(page, 4)  # 2 gt, 2 predictions (the default threshold 0.2 keeps both)
    canvas = settled_box(viewer.get_by_test_id("box-canvas"))  # measured once it stopped moving
    scale = min(canvas["width"] / 400, canvas["height"] / 200)
    left, top = (canvas["width"] - 400 * scale) / 2, (canvas["height"] - 200 * scale) / 2
    expected = [("gt", b[0], b) for b in A.gt] + [("pred", b[0], b) for b in A.pred]
    assert [(d["side"], d["class_name"]) for d in drawn] == [(s, c) for s, c, _ in expected]
    for d, (_, _, b) in zip(drawn, expected, strict=True):
        assert abs(d["x"] - (left + b[1] * scale)) < 0.2 and abs(d["y"] - (top + b[2] * scale)) < 0.2
        assert abs(d["w"] - b[3] * scale) < 0.2 and abs(d["h"] - b[4] * scale) < 0.2
    assert [d["label"] for d in drawn[2:]] == ["cat 0.90", "dog 0.30"]
    # really painted: the dog's left edge has ink, the inside of its box none
    dog = drawn[1]
    assert _pixel_alpha(page, dog["x"], dog["y"] + dog["h"] / 2) > 0
    assert _pixel_alpha(page, dog["x"] + dog["w"] / 2, dog["y"] + dog["h"] / 2) == 0

    # hovering a box names it, with its evaluation mark
    page.mouse.move(canvas["x"] + dog["x"] + dog["w"] / 2, canvas["y"] + dog["y"] + dog["h"] / 2)
    assert page.get_by_test_id("box-tip").inner_text() == "GT · dog · FN"

    # the confidence slider hides the 0.3 prediction; a class toggle hides the dog's gt box
    handle = viewer.locator("xpath=..").locator("[data-testid=confidence] .ant-slider-handle")
    handle.focus()
    for _ in range(4):  # 0.20 -> 0.40
        page.keyboard.press("ArrowRight")
    assert [d["label"] for d in _drawn(page, 3)] == ["cat", "dog", "cat 0.90"]
    page.get_by_test_id("class-toggle").filter(has_text="dog").click()
    assert [d["label"] for d in _drawn(page, 2)] == ["cat", "cat 0.90"]

    # wheel zooms around the pointer, drag pans, double-click fits again
    before = _drawn(page)[0]
    canvas = viewer.get_by_test_id("box-canvas").bounding_box()
    page.mouse.move(canvas["x"] + before["x"], canvas["y"] + before["y"])
    page.mouse.wheel(0, -500)  # zoom in by e
    page.wait_for_function(f"() => {SCALE} > {scale * 2}")
    zoomed = _drawn(page)[0]
    assert abs(zoomed["w"] / before["w"] - 2.718) < 0.05
    # the image point under the pointer stays under it
    assert abs(zoomed["x"] - before["x"]) < 1.5 and abs(zoomed["y"] - before["y"]) < 1.5
    page.mouse.down()
    page.mouse.move(canvas["x"] + before["x"] + 60, canvas["y"] + before["y"] + 30, steps=4)
    page.mouse.up()
    panned = _drawn(page)[0]
    assert abs(panned["x"] - zoomed["x"] - 60) < 0.5 and abs(panned["y"] - zoomed["y"] - 30) < 0.5
    viewer.dblclick()
    page.wait_for_function(f"() => Math.abs({SCALE} - {scale}) < 1e-6")

    # → and ← move through the version
    page.keyboard.press("ArrowRight")
    page.get_by_test_id("viewer-title").filter(has_text="2 / 3").wait_for()
    assert viewer.get_attribute("data-asset") == ids[1]
    assert [d["label"] for d in _drawn(page, 1)] == ["cat"]
    page.keyboard.press("ArrowLeft")
    page.get_by_test_id("viewer-title").filter(has_text="1 / 3").wait_for()

    # Esc, the close button or a click beside the image closes the viewer
    page.keyboard.press("Escape")
    viewer.wait_for(state="detached")
    page.get_by_test_id("thumb").nth(1).click()
    page.get_by_test_id("viewer-title").filter(has_text="2 / 3").wait_for()
    page.get_by_test_id("viewer-close").click()
    viewer.wait_for(state="detached")
    page.get_by_test_id("thumb").first.click()
    page.get_by_test_id("viewer-overlay").click(position={"x": 5, "y": 5})
    viewer.wait_for(state="detached")
    assert not page.errors, page.errors


FLING = """async rows => {
  const g = document.querySelector('[data-testid=grid]');
  for (let r = 0; r < rows; r += 3) {  // three rows a frame
    g.scrollTop += 540;
    await new Promise(done => requestAnimationFrame(() => done())) }
  return g.scrollTop }"""
SCREEN_LOADED = """() => { const thumbs = [...document.querySelectorAll('[data-testid=thumb]')];
  return thumbs.length > 0 && thumbs.every(t => {  // none yet (the page still loading) is not loaded
    const i = t.querySelector('img'); return t.dataset.asset && i && i.complete && i.naturalWidth > 0 }) }"""


def test_rows_flung_past_request_no_thumbnails(live: Live, browser: Any, version: Any) -> None:
    """A fast scroll requests the thumbnails of the screen it stops on, not of every row it passed (they
    queued ahead of the screen the user stopped on)."""
    tokens, pid, _, _ = version
    built = commit_bulk(live.settings.root, pid, 600, real=600)
    did = register(live.settings.db_url, pid, built["rev"], 600)
    page = _open(live, browser, (tokens, pid, did, []))
    page.wait_for_function(SCREEN_LOADED)
    asked: list[str] = []
    page.on(
        "request",
        lambda r: asked.append(r.url.split("/media/")[1].split("?")[0]) if "/media/" in r.url else None,
    )
    page.evaluate(FLING, 80)
    page.wait_for_function(SCREEN_LOADED)  # the screen it stopped on fills in
    shown = set(page.locator("[data-testid=thumb]").evaluate_all("l => l.map(t => t.dataset.asset)"))
    assert shown <= set(asked)
    columns = page.evaluate(
        "() => new Set([...document.querySelectorAll('[data-testid=thumb]')].map(t => t.offsetLeft)).size"
    )
    passed = 80 * columns
    assert len(set(asked) - shown) < passed / 4, (len(asked), passed)
    assert not page.errors, page.errors

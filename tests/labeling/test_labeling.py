"""The ``label`` task against a real Label Studio: annotators' work (simulated through Label Studio's own
API) becomes a version box by box; partial finish, finishing twice, a killed worker, a restarted Label
Studio, unknown classes, boxes outside the image, and a deleted project."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any

import pytest

from mir.errors import CancelledError
from mir.store.repo import Repo
from tests.controller.conftest import Engine
from tests.labeling.conftest import CLASSES, LabelStudioServer, wait_for
from ymir_controller.handlers.context import Context
from ymir_controller.handlers.labeling import handle_label
from ymir_controller.protocol import LabelRequest, TaskResult, finish_flag

W, H = 80, 60  # the generated images' size
REPO = "repos/main"


def rect(x: float, y: float, w: float, h: float, label: str, rid: str = "r") -> dict[str, Any]:
    """A RectangleLabels result in pixels of the W x H image, as Label Studio's editor saves it."""
    return {
        "id": rid,
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": W,
        "original_height": H,
        "image_rotation": 0,
        "value": {
            "x": x * 100 / W,
            "y": y * 100 / H,
            "width": w * 100 / W,
            "height": h * 100 / H,
            "rotation": 0,
            "rectanglelabels": [label],
        },
    }


def start(engine: Engine, ls: LabelStudioServer, **kw: Any) -> tuple[str, int, list[dict[str, Any]]]:
    """Submit a label task; wait for its project and tasks in Label Studio."""
    tid = uuid.uuid4().hex
    req = LabelRequest(
        repo=REPO,
        src_rev="pool@imp",
        dst_rev=f"labeled@{tid}",
        class_names=kw.pop("class_names", CLASSES),
        **kw,
    )
    engine.client.submit(req, task_id=tid)
    wait_for(lambda: _stage(engine, tid) == "labeling", 90, "the labeling stage")
    project = ls.project_of(tid)
    return tid, int(project["id"]), ls.tasks(int(project["id"]))


def _stage(engine: Engine, tid: str) -> str:
    st = engine.client.status(tid)
    if st.result is not None:
        raise AssertionError(f"task ended early: {st.result}")
    return st.progress.stage if st.progress else ""


def gt_boxes(engine: Engine, result: TaskResult) -> list[tuple[str, str, float, float, float, float]]:
    """The new version's ground truth as (asset, class, x, y, w, h), sorted."""
    repo = Repo(engine.settings.root / REPO)
    assert result.version is not None
    snap = repo.read(repo.read_commit(result.version.commit))
    labels = repo.labels()
    g = snap.gt.to_pydict()
    return sorted(
        (a, labels.name_of(c), round(x, 2), round(y, 2), round(w, 2), round(h, 2))
        for a, c, x, y, w, h in zip(g["asset_id"], g["class_id"], g["x"], g["y"], g["w"], g["h"], strict=True)
    )


def px(item: dict[str, Any]) -> tuple[float, float, float, float]:
    v = item["value"]
    return (
        round(v["x"] * item["original_width"] / 100, 2),
        round(v["y"] * item["original_height"] / 100, 2),
        round(v["width"] * item["original_width"] / 100, 2),
        round(v["height"] * item["original_height"] / 100, 2),
    )


def test_labeled_in_label_studio_becomes_a_version_box_by_box(
    labeling_engine: Engine, label_studio: LabelStudioServer
) -> None:
    """Pre-annotations accepted, edited, new boxes, an empty image, one skipped: the new version holds
    exactly the annotators' boxes, the skipped image is left out and reported."""
    eng, ls = labeling_engine, label_studio
    tid, pid, tasks = start(
        eng, ls, pre_annotations="gt", annotators=["anna@example.com"], instruction="Box every shape."
    )
    assert len(tasks) == 6
    project = ls.call("GET", f"/api/projects/{pid}")
    assert [line.strip() for line in project["label_config"].splitlines() if "<Label " in line] == [
        f'<Label value="{c}"/>' for c in CLASSES
    ]
    assert all(t["data"]["image"].startswith("http://127.0.0.1:9/api/v1/labeling/images/") for t in tasks)
    assert all(len(t["predictions"]) == 1 for t in tasks)  # gt sent as pre-annotations

    expected: list[tuple[str, str, float, float, float, float]] = []
    # 0: the pre-annotation accepted as is
    pred = tasks[0]["predictions"][0]["result"]
    ls.annotate(tasks[0]["id"], pred)
    expected += [(tasks[0]["data"]["asset_id"], i["value"]["rectanglelabels"][0], *px(i)) for i in pred]
    # 1: pre-annotation edited: first box moved and relabeled with an alias, the rest deleted
    first = dict(tasks[1]["predictions"][0]["result"][0])
    moved = rect(3, 4, 20, 10, "sq", rid=first["id"])
    ls.annotate(tasks[1]["id"], [moved])
    expected.append((tasks[1]["data"]["asset_id"], "square", 3.0, 4.0, 20.0, 10.0))
    # 2: new boxes, then edited again (the latest annotation counts)
    ann = ls.annotate(tasks[2]["id"], [rect(1, 1, 5, 5, "circle")])
    ls.call(
        "PATCH",
        f"/api/annotations/{ann}",
        json={"result": [rect(10, 20, 30, 15, "triangle", "a"), rect(50, 5, 25.5, 40, "circle", "b")]},
    )
    expected += [
        (tasks[2]["data"]["asset_id"], "triangle", 10.0, 20.0, 30.0, 15.0),
        (tasks[2]["data"]["asset_id"], "circle", 50.0, 5.0, 25.5, 40.0),
    ]
    # 3: skipped by the annotator
    ls.annotate(tasks[3]["id"], [], skip=True)
    # 4: nothing in it (a labeled background image)
    ls.annotate(tasks[4]["id"], [])
    wait_for(
        lambda: (
            (eng.client.status(tid).progress or None) and "5/6" in eng.client.status(tid).progress.message
        ),
        30,
        "progress 5/6",
    )
    # 5: the last one ends the labeling
    ls.annotate(tasks[5]["id"], [rect(0, 0, 80, 60, "square")])
    expected.append((tasks[5]["data"]["asset_id"], "square", 0.0, 0.0, 80.0, 60.0))
    result = eng.client.wait(tid, timeout=60)
    assert result.state == "done", result.error
    assert gt_boxes(eng, result) == sorted(expected)
    assert result.version is not None and result.version.assets == 5
    assert result.labeling is not None
    assert result.labeling["skipped"] == [tasks[3]["data"]["asset_id"]]
    assert result.labeling["unlabeled"] == [] and result.labeling["left_out"] == []
    assert (eng.settings.root / result.labeling["export"]).is_file()  # the raw export is kept


def test_finish_early_keeps_what_is_labeled_and_finishing_twice_makes_one_version(
    labeling_engine: Engine, label_studio: LabelStudioServer
) -> None:
    eng, ls = labeling_engine, label_studio
    tid, pid, tasks = start(eng, ls)
    ls.annotate(tasks[0]["id"], [rect(5, 5, 10, 10, "circle")])
    ls.annotate(tasks[1]["id"], [rect(6, 6, 12, 12, "triangle")])
    eng.client.finish(tid)
    eng.client.finish(tid)
    result = eng.client.wait(tid, timeout=60)
    assert result.state == "done", result.error
    assert result.version is not None and result.version.assets == 2
    assert result.labeling is not None and len(result.labeling["unlabeled"]) == 4
    assert len(ls.tasks(pid)) == 6  # nothing deleted in Label Studio
    # the same task delivered again (a retry, a redelivery) makes no second version
    again = LabelRequest(repo=REPO, src_rev="pool@imp", dst_rev=f"labeled@{tid}", class_names=CLASSES)
    eng.client.finish(tid)
    eng.client.submit(again, task_id=tid)
    second = eng.client.wait(tid, timeout=60)
    assert second.state == "done" and second.version is not None
    assert second.version.commit == result.version.commit
    repo = Repo(eng.settings.root / REPO)
    assert [t for t in repo.refs()["tags"] if t.endswith(tid)] == [f"labeled@{tid}"]


def test_worker_killed_mid_labeling_carries_on(
    labeling_engine: Engine, label_studio: LabelStudioServer
) -> None:
    """The worker dies; annotators go on; the task comes back (Redis redelivers it), finds its project
    again (no second project, no second import) and imports every annotation."""
    eng, ls = labeling_engine, label_studio
    tid, pid, tasks = start(eng, ls)
    ls.annotate(tasks[0]["id"], [rect(5, 5, 10, 10, "circle")])
    eng.kill()
    ls.annotate(tasks[1]["id"], [rect(7, 7, 10, 10, "square")])  # made while no worker runs
    eng.start()
    wait_for(
        lambda: eng.client.status(tid).progress and "2/6" in eng.client.status(tid).progress.message,
        60,
        "the redelivered task",
    )
    assert len(ls.projects_of(tid)) == 1 and len(ls.tasks(pid)) == 6
    for t in tasks[2:]:
        ls.annotate(t["id"], [rect(1, 2, 3, 4, "triangle")])
    result = eng.client.wait(tid, timeout=60)
    assert result.state == "done", result.error
    assert result.version is not None and result.version.assets == 6 and result.version.gt_boxes == 6


def test_label_studio_restarted_mid_labeling(
    labeling_engine: Engine, label_studio: LabelStudioServer
) -> None:
    eng, ls = labeling_engine, label_studio
    tid, pid, tasks = start(eng, ls)
    ls.annotate(tasks[0]["id"], [rect(5, 5, 10, 10, "circle")])
    ls.stop()
    try:
        wait_for(lambda: _stage(eng, tid) == "waiting for Label Studio", 30, "waiting for Label Studio")
    finally:
        ls.start()
    wait_for(lambda: _stage(eng, tid) == "labeling", 90, "labeling again")
    ls.annotate(tasks[1]["id"], [rect(6, 6, 10, 10, "square")])
    eng.client.finish(tid)
    result = eng.client.wait(tid, timeout=90)
    assert result.state == "done", result.error
    assert result.version is not None and result.version.assets == 2 and result.version.gt_boxes == 2


def test_a_finish_while_label_studio_is_away_keeps_the_backoff(labeling_engine: Engine) -> None:
    """A user who finishes while Label Studio is down: the task still waits 1, 2, 4 s … between tries
    (it used to try again in a loop, burning a core), and a finish asked during a wait — the user sees
    Label Studio back — tries again at once. The task runs in this process against a closed port."""
    tid = uuid.uuid4().hex
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        settings = labeling_engine.settings.model_copy(update={"label_studio_url": url})
        flag = finish_flag(settings.root, tid)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()  # asked before Label Studio went away
        tries: list[float] = []
        cancel = threading.Event()

        def report(_percent: float, stage: str, _message: str) -> None:
            if stage == "waiting for Label Studio":
                tries.append(time.monotonic())

        ctx = Context(settings=settings, task_id=tid, report=report, should_cancel=cancel.is_set)
        req = LabelRequest(repo=REPO, src_rev="pool@imp", dst_rev=f"labeled@{tid}", class_names=CLASSES)
        ended: list[BaseException] = []

        def run() -> None:
            try:
                handle_label(req, ctx)
            except BaseException as e:  # noqa: BLE001 - the cancel ends it
                ended.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        try:
            wait_for(lambda: len(tries) >= 3, 30, "three tries")
            assert tries[2] - tries[0] >= 2.5, "the tries came without the backoff"  # 1 s + 2 s
            flag.touch()  # asked again during the 4 s wait
            asked = time.monotonic()
            wait_for(lambda: len(tries) >= 4, 30, "a fourth try")
            assert tries[3] - asked < 2.0, "a finish asked during the wait did not try again at once"
        finally:
            cancel.set()
            worker.join(30)
    assert len(ended) == 1 and isinstance(ended[0], CancelledError)


def test_unknown_class_and_box_outside_the_image_are_reported_by_asset(
    labeling_engine: Engine, label_studio: LabelStudioServer
) -> None:
    """Nothing is dropped silently: the task waits, naming the asset and the box, until the annotation is
    fixed in Label Studio and the user finishes again."""
    eng, ls = labeling_engine, label_studio
    tid, pid, tasks = start(eng, ls)
    bad = ls.annotate(tasks[0]["id"], [rect(5, 5, 10, 10, "dog")])
    ls.annotate(tasks[1]["id"], [rect(70, 50, 30, 30, "circle")])
    eng.client.finish(tid)
    wait_for(lambda: _stage(eng, tid) == "needs fixes in Label Studio", 30, "the problem report")
    message = eng.client.status(tid).progress.message  # type: ignore[union-attr]
    assert tasks[0]["data"]["asset_id"] in message and "'dog'" in message
    assert tasks[1]["data"]["asset_id"] in message and "outside the 80x60 image" in message
    ls.call("PATCH", f"/api/annotations/{bad}", json={"result": [rect(5, 5, 10, 10, "circle")]})
    fixed = ls.tasks(pid)[1]["annotations"][0]["id"]
    ls.call("PATCH", f"/api/annotations/{fixed}", json={"result": [rect(50, 30, 30, 30, "circle")]})
    eng.client.finish(tid)
    result = eng.client.wait(tid, timeout=60)
    assert result.state == "done", result.error
    assert result.version is not None and result.version.gt_boxes == 2


def test_clip_policy_clips_and_reports(labeling_engine: Engine, label_studio: LabelStudioServer) -> None:
    eng, ls = labeling_engine, label_studio
    tid, _, tasks = start(eng, ls, invalid_boxes="clip", unknown_classes="ignore")
    ls.annotate(tasks[0]["id"], [rect(70, 50, 30, 30, "circle"), rect(1, 1, 4, 4, "dog")])
    eng.client.finish(tid)
    result = eng.client.wait(tid, timeout=60)
    assert result.state == "done", result.error
    asset = tasks[0]["data"]["asset_id"]
    assert gt_boxes(eng, result) == [(asset, "circle", 70.0, 50.0, 10.0, 10.0)]
    assert result.labeling is not None
    actions = sorted((b["asset_id"], b["action"]) for b in result.labeling["left_out"])
    assert actions == [(asset, "clipped"), (asset, "left out")]


def test_deleted_project_fails_clearly(labeling_engine: Engine, label_studio: LabelStudioServer) -> None:
    eng, ls = labeling_engine, label_studio
    tid, pid, _ = start(eng, ls)
    ls.call("DELETE", f"/api/projects/{pid}")
    result = eng.client.wait(tid, timeout=60)
    assert result.state == "failed" and result.error is not None
    assert f"project {pid} no longer exists" in result.error.message
    assert "start a new labeling task" in result.error.fix


def test_cancel_leaves_the_annotations(labeling_engine: Engine, label_studio: LabelStudioServer) -> None:
    eng, ls = labeling_engine, label_studio
    tid, pid, tasks = start(eng, ls)
    ls.annotate(tasks[0]["id"], [rect(5, 5, 10, 10, "circle")])
    eng.client.cancel(tid)
    result = eng.client.wait(tid, timeout=60)
    assert result.state == "cancelled"
    kept = ls.tasks(pid)
    assert len(kept) == 6 and len(kept[0]["annotations"]) == 1


@pytest.mark.parametrize("classes", [["circle", "unicorn"]])
def test_classes_outside_the_repository_are_refused(
    labeling_engine: Engine, label_studio: LabelStudioServer, classes: list[str]
) -> None:
    tid = uuid.uuid4().hex
    req = LabelRequest(repo=REPO, src_rev="pool@imp", dst_rev=f"labeled@{tid}", class_names=classes)
    result = labeling_engine.client.wait(labeling_engine.client.submit(req, task_id=tid), timeout=60)
    assert result.state == "failed" and result.error is not None
    assert "'unicorn'" in result.error.message and "add them to the project's labels" in result.error.fix
    assert label_studio.projects_of(tid) == []

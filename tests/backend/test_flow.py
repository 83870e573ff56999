"""A user's whole journey through HTTP only, on PostgreSQL and on SQLite, with a real worker:
sign up, labels, project, zip import, browsing, training, mining, inference, evaluation, model
download, verification on an uploaded image, and two iteration rounds."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bench.synthetic import add_gt_as_predictions, expected_ap, generate_voc, zip_voc
from tests.backend.conftest import Api

TINY = {
    "model_size": "tiny",
    "img_size": 64,
    "epochs": 3,
    "batch_size_per_gpu": 8,
    "workers_per_gpu": 0,
    "eval_interval": 1,
    "export_onnx": False,
}


def _done(api: Api, h: dict[str, str], r: Any) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    task = api.wait(h, r.json())
    assert task["state"] == "done", task["error"]
    return task


def test_user_journey(api: Api, tmp_path: Path) -> None:
    c = api.client
    h = api.signup("alice@example.com")
    for name, aliases in (("circle", ["ring"]), ("square", []), ("triangle", [])):
        assert c.post("/api/v1/labels", json={"name": name, "aliases": aliases}, headers=h).status_code == 201
    r = c.post(
        "/api/v1/projects",
        json={
            "name": "shapes",
            "training_classes": ["circle", "square", "triangle"],
            "target_map": 0.9,
            "target_iterations": 2,
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]

    ids = {}
    for name, n, seed in (("train", 24, 1), ("val", 12, 2), ("pool", 24, 3)):
        folder = generate_voc(tmp_path / name, n_images=n, seed=seed, image_size=(64, 64), name_prefix=name)
        r = c.post(
            f"/api/v1/projects/{pid}/datasets/upload",
            headers=h,
            data={"group_name": name},
            files={"file": (f"{name}.zip", zip_voc(folder), "application/zip")},
        )
        task = _done(api, h, r)
        versions = c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
        ids[name] = next(v["id"] for v in versions if v["task_id"] == task["id"])
    train = c.get(f"/api/v1/datasets/{ids['train']}", headers=h).json()
    assert (
        train["state"] == "ready"
        and train["asset_count"] == 24
        and set(train["gt_stats"]) == {"circle", "square", "triangle"}
    )

    page = c.get(
        f"/api/v1/datasets/{ids['train']}/assets", params={"class_name": "ring", "limit": 5}, headers=h
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert 0 < body["total"] <= 24 and len(body["items"]) <= 5
    first = body["items"][0]
    assert any(b["class_name"] == "circle" for b in first["gt"])
    img = c.get(f"/api/v1/datasets/{ids['train']}/assets/{first['asset_id']}/image", headers=h)
    assert img.status_code == 200 and img.content[:2] == b"\xff\xd8"
    assert img.headers["content-type"] == "image/jpeg"  # not application/octet-stream
    thumb = c.get(f"/api/v1/datasets/{ids['train']}/assets/{first['asset_id']}/thumbnail?size=32", headers=h)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"

    r = c.patch(
        f"/api/v1/projects/{pid}",
        headers=h,
        json={
            "training_dataset_id": ids["train"],
            "validation_dataset_id": ids["val"],
            "mining_dataset_id": ids["pool"],
        },
    )
    assert r.status_code == 200, r.text
    task = _done(
        api,
        h,
        c.post(
            f"/api/v1/projects/{pid}/models/train",
            headers=h,
            json={
                "training_dataset_id": ids["train"],
                "validation_dataset_id": ids["val"],
                "config": {**TINY, "export_onnx": True},  # the best stage's ONNX export, for verification
            },
        ),
    )
    models = c.get(f"/api/v1/projects/{pid}/models", headers=h).json()["items"]
    model = next(m for m in models if m["task_id"] == task["id"])
    assert model["state"] == "ready" and model["model_hash"]
    # three epochs of the tiny model learn next to nothing: measured map50_95 0.0010, map50 0.0081,
    # executor_map50 0.0 on both databases (learning is pinned in tests/executor/test_training.py, the
    # metric's values in test_evaluation_over_http_gives_the_known_answer); here: mir's numbers, in order
    assert model["map50_95"] <= model["map50"] and model["executor_map50"] is not None
    assert c.get(f"/api/v1/models/{model['id']}/stages", headers=h).json()
    assert set(c.get(f"/api/v1/models/{model['id']}/evaluation", headers=h).json()["per_class"]) == {
        "circle",
        "square",
        "triangle",
    }

    exp = _done(api, h, c.post(f"/api/v1/models/{model['id']}/export", headers=h))
    pkg = c.get(f"/api/v1/tasks/{exp['id']}/download", headers=h)
    assert pkg.status_code == 200 and pkg.content[:2] == b"\x1f\x8b"  # a gzip'd tar

    image = sorted((tmp_path / "val" / "images").iterdir())[0]
    r = c.post(
        f"/api/v1/models/{model['id']}/verify",
        headers=h,
        files={"file": (image.name, image.read_bytes(), "image/jpeg")},
        data={"conf_threshold": "0.001", "max_boxes": "20"},
    )
    assert r.status_code == 200, r.text
    verified = r.json()
    assert verified["model_id"] == model["id"] and verified["stage"] == model["best_stage"]
    assert (verified["width"], verified["height"]) == (64, 64) and verified["elapsed_ms"] > 0
    assert 0 < len(verified["boxes"]) <= 20
    assert all(b["class_name"] in ("circle", "square", "triangle") for b in verified["boxes"])
    assert all(0 <= b["x"] and b["x"] + b["w"] <= 64 and b["score"] >= 0.001 for b in verified["boxes"])

    mined = _done(
        api,
        h,
        c.post(
            f"/api/v1/projects/{pid}/models/mine",
            headers=h,
            json={"dataset_id": ids["pool"], "model_id": model["id"], "topk": 6, "add_prediction": True},
        ),
    )
    assert mined["result"]["version"]["assets"] == 6
    inferred = _done(
        api,
        h,
        c.post(
            f"/api/v1/projects/{pid}/models/infer",
            headers=h,
            # three epochs of the tiny model score every box below 0.01 (since the step became sync-free its
            # random draws differ); 0.001 keeps predictions to evaluate, as the verification above does
            json={"dataset_id": ids["val"], "model_id": model["id"], "config": {"conf_threshold": 0.001}},
        ),
    )
    inf_id = next(
        v["id"]
        for v in c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
        if v["task_id"] == inferred["id"]
    )
    ev = _done(api, h, c.post(f"/api/v1/datasets/{inf_id}/evaluate", headers=h, json={}))
    ev_id = next(
        v["id"]
        for v in c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
        if v["task_id"] == ev["id"]
    )
    evaluation = c.get(f"/api/v1/datasets/{ev_id}/evaluation", headers=h).json()
    assert evaluation["map50_95"] <= evaluation["map50"] and evaluation["pr_curves"]  # measured 0.0, 0.0
    shapes = {"circle", "square", "triangle"}  # classes by name, not by mir's ids
    assert set(evaluation["per_class"]) <= shapes and set(evaluation["pr_curves"]) <= shapes
    assert set(evaluation["confusion"]["classes"]) <= shapes
    fps = c.get(f"/api/v1/datasets/{ev_id}/assets", params={"mark": "fp", "side": "pred"}, headers=h).json()
    assert all(any(b["mark"] == "fp" for b in a["pred"]) for a in fps["items"])

    r = c.patch(f"/api/v1/projects/{pid}", headers=h, json={"initial_model_id": model["id"]})
    assert r.status_code == 200
    maps = []
    for _round in (1, 2):
        it = c.post(
            f"/api/v1/projects/{pid}/iterations",
            headers=h,
            json={"presets": {"mining": {"topk": 6}, "training": {"config": TINY}}},
        )
        assert it.status_code == 201, it.text
        iid = it.json()["id"]
        skipped = c.post(f"/api/v1/iterations/{iid}/steps/prepare_mining", headers=h, json={"skip": True})
        assert skipped.status_code == 202 and skipped.json()["steps"][0]["state"] == "skipped"
        _done(api, h, c.post(f"/api/v1/iterations/{iid}/steps/mining", headers=h, json={}))
        mined_id = c.get(f"/api/v1/iterations/{iid}", headers=h).json()["steps"][1]["output_dataset_id"]
        if _round == 1:
            # the pool's own ground truth stands in for the annotators' labels
            labeled = c.post(
                f"/api/v1/iterations/{iid}/steps/label", headers=h, json={"labeled_dataset_id": mined_id}
            )
            assert labeled.status_code == 202, labeled.text
            _done(api, h, c.post(f"/api/v1/iterations/{iid}/steps/merge", headers=h, json={}))
        else:
            # nobody labeled round 2's mined images: finishing the step without a labeled set is refused,
            # and skipping it skips the merge, so they never reach training as images without boxes
            r = c.post(f"/api/v1/iterations/{iid}/steps/label", headers=h, json={})
            assert r.status_code == 422 and "labeled_dataset_id" in r.json()["detail"], r.text
            r = c.post(f"/api/v1/iterations/{iid}/steps/label", headers=h, json={"skip": True})
            steps = {s["name"]: s for s in r.json()["steps"]}
            assert steps["label"]["state"] == "skipped" and steps["label"]["output_dataset_id"] is None
            assert steps["merge"]["state"] == "skipped" and steps["merge"]["output_dataset_id"] is None
            assert c.post(f"/api/v1/iterations/{iid}/steps/merge", headers=h, json={}).status_code == 409
        _done(api, h, c.post(f"/api/v1/iterations/{iid}/steps/training", headers=h, json={}))
        summary = c.get(f"/api/v1/iterations/{iid}", headers=h).json()
        assert summary["state"] == "done", summary
        maps.append(summary["summary"]["map50_95"])
        assert summary["summary"]["training_set_size"] >= 24
    rounds = c.get(f"/api/v1/projects/{pid}/iterations", headers=h).json()
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[0]["summary"]["training_set_change"] is None  # no round before it
    assert rounds[1]["summary"]["training_set_change"] == 0  # the unlabeled images were not merged
    assert rounds[1]["summary"]["map50_95_change"] is not None
    # the home page's figures: the last round, the newest model's mAP against the target
    (stats,) = c.get("/api/v1/projects/stats", headers=h).json()
    newest = max(m["id"] for m in c.get(f"/api/v1/projects/{pid}/models", headers=h).json()["items"])
    assert stats["project_id"] == pid and (stats["round"], stats["round_state"], stats["step"]) == (
        2,
        "done",
        None,
    )
    assert stats["model_id"] == newest == rounds[1]["result_model_id"]
    assert stats["map50_95"] == maps[1] and (stats["target_map"], stats["target_iterations"]) == (0.9, 2)
    listed = c.get(f"/api/v1/projects/{pid}/datasets", params={"limit": 200}, headers=h).json()["items"]
    assert stats["datasets"] == sum(v["state"] == "ready" for v in listed) > 0
    assert stats["models"] == sum(
        m["state"] == "ready" for m in c.get(f"/api/v1/projects/{pid}/models", headers=h).json()["items"]
    )
    assert c.get("/api/v1/projects/stats", headers=api.signup("bob@example.com")).json() == []  # not his
    # a round's mining and training run on the GPUs their step asks for
    it3 = c.post(f"/api/v1/projects/{pid}/iterations", headers=h, json={}).json()["id"]
    c.post(f"/api/v1/iterations/{it3}/steps/prepare_mining", headers=h, json={"skip": True})
    bad = c.post(f"/api/v1/iterations/{it3}/steps/mining", headers=h, json={"presets": {"gpu_count": "all"}})
    assert bad.status_code == 422 and "gpu_count" in bad.json()["detail"]
    on_gpu = c.post(f"/api/v1/iterations/{it3}/steps/mining", headers=h, json={"presets": {"gpu_count": 1}})
    assert on_gpu.status_code == 202, on_gpu.text
    asked = c.get(f"/api/v1/tasks/{on_gpu.json()['id']}", headers=h).json()
    assert asked["request"]["gpu_count"] == 1
    running = c.get("/api/v1/projects/stats", headers=h).json()[0]
    assert (running["round"], running["round_state"], running["step"]) == (3, "running", "mining")
    c.post(f"/api/v1/tasks/{on_gpu.json()['id']}/cancel", headers=h)
    api.wait(h, on_gpu.json())

    # a zip with '../' entries fails the task with a clear message
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.jpg", b"x")
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "evil"},
        files={"file": ("evil.zip", buf.getvalue(), "application/zip")},
    )
    task = api.wait(h, r.json())
    assert task["state"] == "failed" and "zip-slip" in task["error"]["message"]
    evil = [
        v
        for v in c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
        if v["task_id"] == task["id"]
    ]
    assert evil and evil[0]["state"] == "failed"


def test_evaluation_over_http_gives_the_known_answer(api: Api) -> None:
    """An upload whose predictions are known in advance (the gt boxes of every other image, scored):
    the evaluation the API shows must be exactly the mAP their counts imply (measured 0.6436)."""
    c = api.client
    h = api.signup("known@example.com")
    for name in ("circle", "square", "triangle"):
        assert c.post("/api/v1/labels", json={"name": name}, headers=h).status_code == 201
    r = c.post("/api/v1/projects", json={"name": "known", "training_classes": ["circle"]}, headers=h)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    sharing = api.settings.root / api.settings.sharing_dir
    folder = generate_voc(
        sharing / f"scored-{pid}", n_images=12, seed=2, image_size=(64, 64), name_prefix="val"
    )
    counts = add_gt_as_predictions(folder, every=2)
    task = _done(
        api,
        h,
        c.post(
            f"/api/v1/projects/{pid}/datasets/path",
            headers=h,
            json={"group_name": "scored", "path": folder.name, "with_predictions": True},
        ),
    )
    assert task["result"]["version"]["pred_boxes"] == sum(kept for _n, kept in counts.values())
    versions = c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
    vid = next(v["id"] for v in versions if v["task_id"] == task["id"])
    ev = _done(api, h, c.post(f"/api/v1/datasets/{vid}/evaluate", headers=h, json={}))
    ev_id = next(
        v["id"]
        for v in c.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
        if v["task_id"] == ev["id"]
    )
    evaluation = c.get(f"/api/v1/datasets/{ev_id}/evaluation", headers=h).json()
    assert evaluation["map50_95"] == pytest.approx(expected_ap(counts), abs=1e-6)
    assert evaluation["map50"] == pytest.approx(expected_ap(counts), abs=1e-6)
    expected = {name: (math.floor(100 * kept / n + 1e-9) + 1) / 101 for name, (n, kept) in counts.items()}
    assert {k: v["ap50"] for k, v in evaluation["per_class"].items()} == pytest.approx(expected, abs=1e-6)

"""Dataset tasks over HTTP with a real worker: merge, filter, sampling and fuse give the versions they
should; a failed task, once its cause is fixed, is retried and fills the same version."""

from __future__ import annotations

from typing import Any

from bench.synthetic import generate_voc
from tests.backend.conftest import Api


def _project(api: Api, h: dict[str, str], name: str) -> int:
    r = api.client.post("/api/v1/projects", json={"name": name, "training_classes": []}, headers=h)
    assert r.status_code == 201, r.text
    for label in ("circle", "square"):
        api.client.post("/api/v1/labels", json={"name": label}, headers=h)
    return int(r.json()["id"])


def _ready(api: Api, h: dict[str, str], r: Any) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    task = api.wait(h, r.json())
    assert task["state"] == "done", task["error"]
    (version,) = [
        v
        for v in api.client.get(
            f"/api/v1/projects/{task['project_id']}/datasets?limit=200", headers=h
        ).json()["items"]
        if v["task_id"] == task["id"]
    ]
    assert version["state"] == "ready"
    # a version made ready is loaded for browsing before anyone opens it
    browse = api.client.app.state.browse  # type: ignore[attr-defined]
    browse.wait_warm()
    root = api.settings.root / f"repos/project-{task['project_id']}"
    assert browse.cached(root, version["rev"]) is not None, version
    return version


def _assets(api: Api, h: dict[str, str], dataset_id: int, **query: str) -> dict[str, Any]:
    r = api.client.get(f"/api/v1/datasets/{dataset_id}/assets", params={"limit": 100, **query}, headers=h)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_merge_filter_sampling_fuse(api: Api) -> None:
    h = api.signup("ops@example.com")
    pid = _project(api, h, "ops")
    sharing = api.settings.root / api.settings.sharing_dir
    generate_voc(
        sharing / "ops-a",
        n_images=6,
        seed=11,
        classes=["circle", "square"],
        image_size=(64, 64),
        name_prefix="a",
    )
    generate_voc(
        sharing / "ops-b",
        n_images=4,
        seed=12,
        classes=["circle", "square"],
        image_size=(64, 64),
        name_prefix="b",
    )
    base = f"/api/v1/projects/{pid}/datasets"
    a = _ready(api, h, api.client.post(f"{base}/path", json={"group_name": "a", "path": "ops-a"}, headers=h))
    b = _ready(api, h, api.client.post(f"{base}/path", json={"group_name": "b", "path": "ops-b"}, headers=h))
    assert (a["asset_count"], b["asset_count"]) == (6, 4)

    merged = _ready(
        api, h, api.client.post(f"{base}/merge", json={"dataset_ids": [a["id"], b["id"]]}, headers=h)
    )
    assert merged["asset_count"] == 10 and merged["source_ids"] == [a["id"], b["id"]]
    assert merged["group_id"] == a["group_id"]  # the host's group gets the new version

    circles = _ready(
        api,
        h,
        api.client.post(
            f"{base}/filter", json={"dataset_id": merged["id"], "include": ["circle"]}, headers=h
        ),
    )
    with_circle = _assets(api, h, merged["id"], class_name="circle")["total"]
    assert circles["asset_count"] == with_circle and 0 < with_circle < 10

    three = _ready(
        api, h, api.client.post(f"{base}/sampling", json={"dataset_id": merged["id"], "count": 3}, headers=h)
    )
    assert three["asset_count"] == 3

    body = {"dataset_ids": [a["id"], b["id"]], "include": ["square"], "count": 2, "group_name": "mining-pool"}
    fused = _ready(api, h, api.client.post(f"{base}/fuse", json=body, headers=h))
    assert fused["asset_count"] == 2
    assert _assets(api, h, fused["id"], class_name="square")["total"] == 2

    # broken requests change nothing
    before = api.client.get(f"{base}?limit=200", headers=h).json()["total"]
    r = api.client.post(
        f"{base}/sampling", json={"dataset_id": merged["id"], "count": 3, "rate": 0.5}, headers=h
    )
    assert r.status_code == 422 and "exactly one of count and rate" in r.json()["detail"]
    r = api.client.post(f"{base}/fuse", json={**body, "rate": 0.5}, headers=h)
    assert r.status_code == 422 and "at most one of count and rate" in r.json()["detail"]
    r = api.client.post(f"{base}/fuse", json={"dataset_ids": []}, headers=h)
    assert r.status_code == 422
    other_pid = _project(api, h, "ops-other")
    r = api.client.post(f"/api/v1/projects/{other_pid}/datasets/fuse", json=body, headers=h)
    assert r.status_code == 400 and "copy it first" in r.json()["detail"]
    assert api.client.get(f"{base}?limit=200", headers=h).json()["total"] == before


def test_failed_import_fixed_and_retried(api: Api) -> None:
    h = api.signup("retry@example.com")
    r = api.client.post("/api/v1/projects", json={"name": "retry", "training_classes": []}, headers=h)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    for name in ("circle", "square"):
        api.client.post("/api/v1/labels", json={"name": name}, headers=h)

    folder = api.settings.root / api.settings.sharing_dir / "retry-shapes"
    generate_voc(folder, n_images=6, seed=5, classes=["circle", "square"], image_size=(64, 64))
    xml = sorted((folder / "annotations").glob("*.xml"))[0]
    xml.write_text(
        xml.read_text().replace("<name>circle</name>", "<name>hexagon</name>", 1), encoding="utf-8"
    )
    if "hexagon" not in xml.read_text():  # the first file held only squares
        xml.write_text(xml.read_text().replace("<name>square</name>", "<name>hexagon</name>", 1))

    body = {"group_name": "shapes", "path": "retry-shapes", "unknown_types_strategy": "stop"}
    r = api.client.post(f"/api/v1/projects/{pid}/datasets/path", json=body, headers=h)
    assert r.status_code == 202, r.text
    failed = api.wait(h, r.json())
    assert failed["state"] == "failed"
    assert "hexagon" in str(failed["error"]), failed["error"]
    (version,) = api.client.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
    assert version["state"] == "failed"

    # another user cannot retry it (nor see it)
    other = api.signup("retry-other@example.com")
    r = api.client.post(f"/api/v1/tasks/{failed['id']}/retry", headers=other)
    assert r.status_code == 404, r.text

    # the user adds the missing label (the other fix would be editing the file) and retries
    assert api.client.post("/api/v1/labels", json={"name": "hexagon"}, headers=h).status_code == 201
    r = api.client.post(f"/api/v1/tasks/{failed['id']}/retry", headers=h)
    assert r.status_code == 202, r.text
    assert r.json()["retry_of"] == failed["id"] and r.json()["id"] != failed["id"]
    again = api.wait(h, r.json())
    assert again["state"] == "done", again["error"]

    (version2,) = api.client.get(f"/api/v1/projects/{pid}/datasets", headers=h).json()["items"]
    assert version2["id"] == version["id"] and version2["state"] == "ready"
    assert version2["asset_count"] == 6
    r = api.client.post(f"/api/v1/tasks/{again['id']}/retry", headers=h)
    assert r.status_code == 409 and "only failed" in r.json()["detail"], r.text

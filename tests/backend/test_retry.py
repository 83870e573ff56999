"""Retrying a failed task: the user fixes the cause and the same dataset version fills in."""

from __future__ import annotations

from bench.synthetic import generate_voc
from tests.backend.conftest import Api


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

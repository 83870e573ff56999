"""What a new user hits in the first hour, through HTTP with a real worker on the default database
(SQLite) and the embedded broker: unlabeled imports, the sharing folder, public datasets and images,
PATCH bodies, labels as the one list of classes, exports that keep file names, errors in the API's words."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.synthetic import generate_voc
from tests.backend.conftest import Api, _api

SHAPES = ["circle", "square"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """API, SQLite and a worker: what ``./ymir.sh start`` runs."""
    yield from _api(tmp_path_factory.mktemp("first-hour"), "", with_worker=True)


@pytest.fixture(scope="module")
def user(api: Api) -> dict[str, str]:
    h = api.signup("newcomer@example.com")
    for name in SHAPES:
        assert api.client.post("/api/v1/labels", json={"name": name}, headers=h).status_code == 201
    return h


@pytest.fixture(scope="module")
def project(api: Api, user: dict[str, str]) -> int:
    r = api.client.post("/api/v1/projects", json={"name": "first", "training_classes": SHAPES}, headers=user)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _zip(folder: Path, *, empty_dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, str(p.relative_to(folder)))
        for d in empty_dirs:
            zf.writestr(zipfile.ZipInfo(f"{d}/"), b"")
    return buf.getvalue()


def _finish(api: Api, h: dict[str, str], r: Any) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    return api.wait(h, r.json())


def _version(api: Api, h: dict[str, str], task: dict[str, Any]) -> dict[str, Any]:
    assert task["state"] == "done", task["error"]
    items = api.client.get(f"/api/v1/projects/{task['project_id']}/datasets?limit=200", headers=h).json()
    (version,) = [v for v in items["items"] if v["task_id"] == task["id"]]
    return version


def _images_only(root: Path, n: int, seed: int) -> Path:
    """A dataset folder with images/ and an EMPTY annotations/ (YMIR's layout for an unlabeled set)."""
    generate_voc(root, n_images=n, seed=seed, classes=SHAPES, image_size=(32, 32), name_prefix=f"u{seed}")
    for p in (root / "annotations").iterdir():
        p.unlink()
    (root / "index.txt").unlink()
    return root


def test_unlabeled_sets_import_in_every_documented_layout(
    api: Api, user: dict[str, str], project: int, tmp_path: Path
) -> None:
    c, h = api.client, user
    unlabeled = _images_only(tmp_path / "unlabeled", 3, seed=1)
    # upload: images/ + an empty annotations/ (the zip holds the folder entry only)
    r = c.post(
        f"/api/v1/projects/{project}/datasets/upload",
        headers=h,
        data={"group_name": "pool-zip"},
        files={"file": ("pool.zip", _zip(unlabeled, empty_dirs=("annotations",)), "application/zip")},
    )
    v = _version(api, h, _finish(api, h, r))
    assert (v["asset_count"], v["gt_boxes"]) == (3, 0)
    # upload: images/ only, no annotations/ at all
    (unlabeled / "annotations").rmdir()
    r = c.post(
        f"/api/v1/projects/{project}/datasets/upload",
        headers=h,
        data={"group_name": "pool-bare", "anno_format": "auto", "unknown_types_strategy": "stop"},
        files={"file": ("pool.zip", _zip(unlabeled), "application/zip")},
    )
    assert _version(api, h, _finish(api, h, r))["asset_count"] == 3
    # path: an empty annotations/ in the sharing folder, named by its absolute path
    sharing = api.settings.root / api.settings.sharing_dir
    _images_only(sharing / "pool", 4, seed=2)
    assert not any((sharing / "pool" / "annotations").iterdir())
    r = c.post(
        f"/api/v1/projects/{project}/datasets/path",
        headers=h,
        json={"group_name": "pool-path", "path": str(sharing / "pool")},
    )
    assert _version(api, h, _finish(api, h, r))["gt_boxes"] == 0
    # labeled files present, but the user asks for the images only
    generate_voc(sharing / "voc", n_images=3, seed=3, classes=SHAPES, image_size=(32, 32), name_prefix="v")
    r = c.post(
        f"/api/v1/projects/{project}/datasets/path",
        headers=h,
        json={"group_name": "voc-images", "path": "voc", "anno_format": "none"},
    )
    assert _version(api, h, _finish(api, h, r))["gt_boxes"] == 0
    # a folder mixing formats: the error names the files of each
    generate_voc(sharing / "mixed", n_images=2, seed=4, classes=SHAPES, image_size=(32, 32), name_prefix="m")
    (sharing / "mixed" / "annotations" / "coco.json").write_text('{"images": [], "annotations": []}')
    task = _finish(
        api,
        h,
        c.post(
            f"/api/v1/projects/{project}/datasets/path", headers=h, json={"group_name": "m", "path": "mixed"}
        ),
    )
    assert task["state"] == "failed"
    message = task["error"]["message"]
    assert "mixes annotation formats" in message and "m_000000.xml" in message and "coco.json" in message
    assert "voc" in task["error"]["fix"] and "coco" in task["error"]["fix"]
    # broken input: an unknown format is named with the accepted ones
    r = c.post(
        f"/api/v1/projects/{project}/datasets/path",
        headers=h,
        json={"group_name": "x", "path": "voc", "anno_format": "pascal"},
    )
    assert r.status_code == 422 and "anno_format" in r.json()["detail"] and r.json()["fix"]


def test_sharing_folder_paths_listing_and_links(
    api: Api, user: dict[str, str], project: int, tmp_path: Path
) -> None:
    c, h = api.client, user
    sharing = (api.settings.root / api.settings.sharing_dir).resolve()
    generate_voc(
        sharing / "sets" / "a", n_images=2, seed=5, classes=SHAPES, image_size=(32, 32), name_prefix="a"
    )
    outside = tmp_path / "outside"
    generate_voc(outside, n_images=2, seed=6, classes=SHAPES, image_size=(32, 32), name_prefix="o")
    os.symlink(outside, sharing / "sets" / "link-out")
    (sharing / "sets" / "notes.txt").write_text("hello")

    listing = c.get("/api/v1/sharing", params={"path": "sets"}, headers=h).json()
    assert listing["folder"] == str(sharing) and listing["path"] == "sets"
    names = [e["name"] for e in listing["items"]]
    assert names == ["a", "notes.txt"]  # folders first; the link out is not shown
    a = listing["items"][0]
    assert a["is_dir"] and a["images_folder"] and a["files"] == 1 and a["path"] == "sets/a"
    page = c.get(
        "/api/v1/sharing", params={"path": str(sharing / "sets"), "limit": 1, "offset": 1}, headers=h
    )
    assert [e["name"] for e in page.json()["items"]] == ["notes.txt"] and page.json()["total"] == 2

    # absolute and relative paths to the same folder both import
    for path in (str(sharing / "sets" / "a"), "sets/a"):
        r = c.post(
            f"/api/v1/projects/{project}/datasets/path", headers=h, json={"group_name": "a", "path": path}
        )
        assert _version(api, h, _finish(api, h, r))["asset_count"] == 2

    # never out: an absolute path elsewhere, '..', a link out, a link out inside a dataset
    for path in (str(outside), "../..", "sets/link-out"):
        r = c.post(
            f"/api/v1/projects/{project}/datasets/path", headers=h, json={"group_name": "x", "path": path}
        )
        assert r.status_code == 422, (path, r.text)
        assert r.json()["code"] == "outside_sharing_folder"
        assert "sharing folder 'sharing'" in r.json()["detail"]
        assert str(api.settings.root) not in r.text  # errors carry no absolute server paths
        assert [e["loc"] for e in r.json()["errors"]] == [["body", "path"]]  # the form marks the field
        listed = c.get("/api/v1/sharing", params={"path": path}, headers=h)
        assert listed.status_code == 422
        assert [e["loc"] for e in listed.json()["errors"]] == [["query", "path"]]
    os.symlink(outside / "images" / "o_000000.jpg", sharing / "sets" / "a" / "images" / "stolen.jpg")
    task = _finish(
        api,
        h,
        c.post(
            f"/api/v1/projects/{project}/datasets/path", headers=h, json={"group_name": "x", "path": "sets/a"}
        ),
    )
    assert task["state"] == "failed" and "stolen.jpg" in task["error"]["message"]
    assert "symbolic link out of the sharing folder" in task["error"]["message"]
    r = c.post(
        f"/api/v1/projects/{project}/datasets/path", headers=h, json={"group_name": "x", "path": "nope"}
    )
    assert r.status_code == 404 and "GET /api/v1/sharing" in r.json()["fix"]


def test_public_datasets_are_listed_searched_and_copied_by_anyone(
    api: Api, user: dict[str, str], project: int, tmp_path: Path
) -> None:
    c = api.client
    folder = generate_voc(tmp_path / "coins", n_images=3, seed=7, classes=SHAPES, image_size=(32, 32))
    r = c.post(
        f"/api/v1/projects/{project}/datasets/upload",
        headers=user,
        data={"group_name": "coins-2026"},
        files={"file": ("coins.zip", _zip(folder), "application/zip")},
    )
    dataset = _version(api, user, _finish(api, user, r))
    other = api.signup("neighbour@example.com")
    assert c.get(f"/api/v1/datasets/{dataset['id']}", headers=other).status_code == 404

    # the body is honoured (a query parameter is refused, never silently ignored)
    r = c.patch(f"/api/v1/datasets/{dataset['id']}", params={"is_public": "true"}, json={}, headers=user)
    assert r.status_code == 422 and "JSON body" in r.json()["detail"]
    r = c.patch(f"/api/v1/datasets/{dataset['id']}", json={"is_public": True, "public": True}, headers=user)
    assert r.status_code == 422 and "public" in r.json()["detail"]
    r = c.patch(
        f"/api/v1/datasets/{dataset['id']}", json={"is_public": True, "description": "coins"}, headers=user
    )
    assert r.status_code == 200 and r.json()["is_public"] and r.json()["description"] == "coins"

    found = c.get("/api/v1/datasets/public", params={"search": "COINS-20"}, headers=other).json()
    assert [d["id"] for d in found["items"]] == [dataset["id"]] and found["total"] == 1
    assert (
        found["items"][0]["group_name"] == "coins-2026"
        and found["items"][0]["owner"] == "newcomer@example.com"
    )
    assert c.get("/api/v1/datasets/public", params={"search": "no-such"}, headers=other).json()["total"] == 0
    assert c.get(f"/api/v1/datasets/{dataset['id']}", headers=other).json()["asset_count"] == 3

    mine = c.post("/api/v1/projects", json={"name": "neighbour"}, headers=other).json()["id"]
    r = c.post(
        f"/api/v1/projects/{mine}/datasets/copy",
        headers=other,
        json={"group_name": "coins", "source_dataset_id": dataset["id"]},
    )
    copy = _version(api, other, _finish(api, other, r))
    assert copy["asset_count"] == 3 and set(copy["gt_stats"]) == set(SHAPES)
    # the copy's classes are now the neighbour's labels too
    assert {lb["name"] for lb in c.get("/api/v1/labels", headers=other).json()} >= set(SHAPES)
    # once private again, it is gone from the list
    c.patch(f"/api/v1/datasets/{dataset['id']}", json={"is_public": False}, headers=user)
    assert c.get("/api/v1/datasets/public", headers=other).json()["total"] == 0


def test_every_patch_refuses_a_field_it_does_not_apply(api: Api) -> None:
    root = api.login("root@example.com", "root-pass-123")
    paths = api.client.get("/openapi.json").json()["paths"]
    patches = [path for path, operations in paths.items() if "patch" in operations]
    assert len(patches) >= 4
    for path in patches:
        url = path.replace("{", "").replace("}", "")
        for name in ("label_id", "dataset_id", "project_id", "user_id", "id"):
            url = url.replace(name, "1")
        r = api.client.patch(url, json={"no_such_field": 1}, headers=root)
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert "no_such_field" in r.json()["detail"], path


def test_labels_are_the_one_list_of_classes(
    api: Api, user: dict[str, str], project: int, tmp_path: Path
) -> None:
    c, h = api.client, user
    r = c.post("/api/v1/projects", json={"name": "p2", "training_classes": ["circle", "hexagon"]}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_class"
    assert "'hexagon'" in r.json()["detail"] and "POST /api/v1/labels" in r.json()["fix"]
    r = c.patch(f"/api/v1/projects/{project}", json={"training_classes": ["hexagon"]}, headers=h)
    assert r.status_code == 422 and "'hexagon'" in r.json()["detail"]

    folder = generate_voc(
        tmp_path / "hex", n_images=2, seed=8, classes=["hexagon"], image_size=(32, 32), name_prefix="h"
    )
    r = c.post(
        f"/api/v1/projects/{project}/datasets/upload",
        headers=h,
        data={"group_name": "hex", "unknown_types_strategy": "add"},
        files={"file": ("hex.zip", _zip(folder), "application/zip")},
    )
    assert _version(api, h, _finish(api, h, r))["gt_boxes"] > 0
    labels = {lb["name"]: lb for lb in c.get("/api/v1/labels", headers=h).json()}
    assert "hexagon" in labels  # the import added the class, so the label list shows it
    r = c.patch(f"/api/v1/projects/{project}", json={"training_classes": ["circle", "hexagon"]}, headers=h)
    assert r.status_code == 200 and r.json()["training_classes"] == ["circle", "hexagon"]

    r = c.patch(f"/api/v1/labels/{labels['hexagon']['id']}", json={"aliases": ["hex"]}, headers=h)
    assert r.status_code == 200 and r.json()["aliases"] == ["hex"] and r.json()["name"] == "hexagon"
    r = c.patch(f"/api/v1/labels/{labels['hexagon']['id']}", json={"name": "polygon"}, headers=h)
    assert r.status_code == 400 and "alias" in r.json()["detail"]


def test_labels_are_added_in_bulk_all_or_none(api: Api) -> None:
    c = api.client
    h = api.signup("bulk@example.com")
    r = c.post(
        "/api/v1/labels/bulk",
        json={"labels": [{"name": "car", "aliases": ["auto"]}, {"name": "bus"}, {"name": "truck"}]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert [(lb["name"], lb["aliases"]) for lb in r.json()] == [("car", ["auto"]), ("bus", []), ("truck", [])]
    before = c.get("/api/v1/labels", headers=h).json()
    for labels, status, item, words in (
        ([{"name": "van"}, {"name": "bike", "aliases": ["van"]}], 409, 1, "labels.0"),  # twice in the list
        ([{"name": "van"}, {"name": "auto"}], 409, 1, "'car'"),  # another label's alias
        ([{"name": "van"}, {"name": "a,b"}], 422, 1, "name"),  # mir's rule for a class name
    ):
        r = c.post("/api/v1/labels/bulk", json={"labels": labels}, headers=h)
        assert r.status_code == status, r.text
        assert r.json()["errors"][0]["loc"][:3] == ["body", "labels", item] and words in r.json()["detail"]
    assert c.post("/api/v1/labels/bulk", json={"labels": []}, headers=h).status_code == 422
    assert c.get("/api/v1/labels", headers=h).json() == before  # nothing half-added ('van' is not there)


def test_public_executor_images_are_listed_and_copied(api: Api, user: dict[str, str]) -> None:
    c = api.client
    root = api.login("root@example.com", "root-pass-123")
    template = {"training": {"epochs": 10}, "mining": {"topk": 100}}
    r = c.post(
        "/api/v1/images",
        headers=root,
        json={"name": "acme/detector:1.0", "description": "ACME's detector", "templates": template},
    )
    assert r.status_code == 201, r.text
    public = r.json()
    found = c.get("/api/v1/images", params={"search": "acme", "public": True}, headers=user).json()
    assert [i["name"] for i in found] == ["acme/detector:1.0"]
    r = c.post(
        f"/api/v1/images/{public['id']}/copy",
        headers=user,
        json={"name": "my-detector", "templates": {"training": {"epochs": 3}}},
    )
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["runs"] == "acme/detector:1.0" and not copy["is_public"]
    assert copy["capabilities"] == ["training"] and copy["templates"]["training"]["epochs"] == 3
    other = api.signup("third@example.com")
    assert "my-detector" not in [i["name"] for i in c.get("/api/v1/images", headers=other).json()]
    r = c.post(f"/api/v1/images/{public['id']}/copy", headers=user, json={"name": "my-detector"})
    assert r.status_code == 409 and "name" in r.json()["detail"]
    r = c.post(
        f"/api/v1/images/{public['id']}/copy", headers=user, json={"name": "x", "templates": {"infer": {}}}
    )
    assert r.status_code == 422 and "infer" in r.json()["detail"]
    # edits: admins change any image, users their own copies (kept private); the name never changes
    r = c.patch(
        f"/api/v1/images/{public['id']}",
        headers=root,
        json={"description": "ACME v1.1", "templates": {**template, "infer": {"conf": 0.3}}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "ACME v1.1" and r.json()["capabilities"] == [
        "infer",
        "mining",
        "training",
    ]
    r = c.patch(f"/api/v1/images/{copy['id']}", headers=user, json={"templates": {"training": {"epochs": 5}}})
    assert r.status_code == 200 and r.json()["templates"]["training"]["epochs"] == 5
    for body, status, field in (
        ({"templates": {"mining": {}}}, 422, "templates"),  # the copy's container: training only
        ({"templates": {}}, 422, "templates"),  # no capability left
        ({"templates": {"detect": {}}}, 422, "templates"),
        ({"is_public": True}, 403, "is_public"),  # users never publish
        ({"name": "renamed"}, 422, "name"),
    ):
        r = c.patch(f"/api/v1/images/{copy['id']}", headers=user, json=body)
        assert r.status_code == status, (body, r.text)
        assert [e["loc"][-1] for e in r.json()["errors"]] == [field], r.text
    assert c.get("/api/v1/images", params={"search": "my-detector"}, headers=user).json()[0]["templates"] == {
        "training": {"epochs": 5}
    }  # the refused edits changed nothing
    assert (
        c.patch(f"/api/v1/images/{public['id']}", headers=user, json={"description": "x"}).status_code == 403
    )
    assert (
        c.patch(f"/api/v1/images/{copy['id']}", headers=other, json={"description": "x"}).status_code == 404
    )
    assert c.delete(f"/api/v1/images/{copy['id']}", headers=user).status_code == 204
    assert c.delete(f"/api/v1/images/{public['id']}", headers=user).status_code == 403


def test_errors_speak_api_with_a_fix(api: Api, user: dict[str, str], project: int, tmp_path: Path) -> None:
    c, h = api.client, user
    folder = generate_voc(tmp_path / "tv", n_images=3, seed=9, classes=SHAPES, image_size=(32, 32))
    r = c.post(
        f"/api/v1/projects/{project}/datasets/upload",
        headers=h,
        data={"group_name": "tv"},
        files={"file": ("tv.zip", _zip(folder), "application/zip")},
    )
    ds = _version(api, h, _finish(api, h, r))
    # the same set as training and validation set leaves no validation images
    task = _finish(
        api,
        h,
        c.post(
            f"/api/v1/projects/{project}/models/train",
            headers=h,
            json={"training_dataset_id": ds["id"], "validation_dataset_id": ds["id"], "class_names": SHAPES},
        ),
    )
    assert task["state"] == "failed"
    error = task["error"]
    assert "--" not in error["message"] + error["fix"], error
    assert "validation_dataset_id" in error["fix"]
    for r in (
        c.get("/api/v1/datasets/999999", headers=h),
        c.get("/api/v1/projects", headers={"Authorization": "Bearer nonsense"}),
        c.post("/api/v1/projects", json={"name": ""}, headers=h),
    ):
        body = r.json()
        assert body["detail"] and body["code"] and body["fix"], body


def test_exports_keep_file_names_and_relative_index_paths(
    api: Api, user: dict[str, str], project: int, tmp_path: Path
) -> None:
    c, h = api.client, user
    ids = []
    for seed in (10, 11):  # two sets whose images share their file names
        folder = generate_voc(
            tmp_path / f"s{seed}",
            n_images=2,
            seed=seed,
            classes=SHAPES,
            image_size=(32, 32),
            name_prefix="img",
        )
        r = c.post(
            f"/api/v1/projects/{project}/datasets/upload",
            headers=h,
            data={"group_name": f"s{seed}"},
            files={"file": ("s.zip", _zip(folder), "application/zip")},
        )
        ids.append(_version(api, h, _finish(api, h, r))["id"])
    merged = _version(
        api,
        h,
        _finish(
            api, h, c.post(f"/api/v1/projects/{project}/datasets/merge", headers=h, json={"dataset_ids": ids})
        ),
    )
    assert merged["asset_count"] == 4
    for fmt in ("voc", "labelstudio"):
        task = _finish(
            api, h, c.post(f"/api/v1/datasets/{merged['id']}/export", headers=h, json={"anno_format": fmt})
        )
        assert task["state"] == "done", task["error"]
        data = c.get(f"/api/v1/tasks/{task['id']}/download", headers=h).content
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            images = sorted(n for n in names if n.startswith("images/") and n.endswith(".jpg"))
            assert {"images/img_000000.jpg", "images/img_000001.jpg"} < set(images)
            assert len(images) == 4  # the two clashing names were made unique, none lost
            index = zf.read("images/index.tsv").decode().split()
            assert sorted(index) == images  # relative to the export: valid wherever it is unpacked
            if fmt == "voc":
                rows = [line.split("\t") for line in zf.read("annotations/index.tsv").decode().splitlines()]
                assert sorted(r[0] for r in rows) == images
                assert all(
                    r[1] == r[0].replace("images/", "annotations/").replace(".jpg", ".xml") for r in rows
                )
                assert all(r[1] in names for r in rows)
            else:
                import json

                tasks = json.loads(zf.read("annotations/labelstudio-tasks.json"))
                assert sorted(t["data"]["image"] for t in tasks) == images
        if fmt == "voc":  # the download imports again as it is
            r = c.post(
                f"/api/v1/projects/{project}/datasets/upload",
                headers=h,
                data={"group_name": "again"},
                files={"file": ("again.zip", data, "application/zip")},
            )
            again = _version(api, h, _finish(api, h, r))
            assert again["asset_count"] == 4 and again["gt_boxes"] == merged["gt_boxes"]

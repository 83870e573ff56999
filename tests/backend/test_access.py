"""Permissions and broken input: no user reaches another's data or admin endpoints, by id guessing or
otherwise; every malformed request gets a 4xx with a clear message in ``{detail, code}``."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import pytest
import torch
from PIL import Image
from sqlalchemy import func, literal, select, text

from mir import models
from tests.backend.conftest import Api, _api, _drop, _pg_database
from ymir_backend.db import Database
from ymir_backend.models import ModelGroup, ModelVersion, User
from ymir_backend.models.users import UserState
from ymir_executor import onnx_export
from ymir_executor.model import Detector, DetectorConfig


def _project(api: Api, h: dict[str, str], name: str = "p") -> int:
    api.client.post("/api/v1/labels", json={"name": "cat"}, headers=h)  # 409 once it exists
    r = api.client.post("/api/v1/projects", json={"name": name, "training_classes": ["cat"]}, headers=h)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_users_cannot_reach_each_others_things(light: Api) -> None:
    c = light.client
    alice = light.signup("alice@example.com")
    bob = light.signup("bob@example.com")
    pid = _project(light, alice)
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/url",
        headers=alice,
        json={"group_name": "g", "url": "http://127.0.0.1:9/data.zip"},
    )
    assert r.status_code == 202, r.text
    task_id = r.json()["id"]
    did = c.get(f"/api/v1/projects/{pid}/datasets", headers=alice).json()["items"][0]["id"]
    for method, url in [
        ("get", f"/api/v1/projects/{pid}"),
        ("patch", f"/api/v1/projects/{pid}"),
        ("delete", f"/api/v1/projects/{pid}"),
        ("get", f"/api/v1/datasets/{did}"),
        ("delete", f"/api/v1/datasets/{did}"),
        ("get", f"/api/v1/datasets/{did}/assets"),
        ("get", f"/api/v1/tasks/{task_id}"),
        ("post", f"/api/v1/tasks/{task_id}/cancel"),
        ("get", f"/api/v1/projects/{pid}/datasets"),
        ("get", "/api/v1/models/1"),
        ("get", f"/api/v1/projects/{pid}/iterations"),
    ]:
        r = getattr(c, method)(url, headers=bob, **({"json": {}} if method == "patch" else {}))
        assert r.status_code == 404, (method, url, r.status_code, r.text)
        assert r.json()["code"].endswith("not_found")
    assert c.get("/api/v1/projects", headers=bob).json()["total"] == 0
    for method, url, body in [
        ("get", "/api/v1/users", None),
        ("patch", "/api/v1/users/1", {"role": "admin"}),
        ("post", "/api/v1/images", {"name": "x", "templates": {"infer": {}}}),
    ]:
        r = getattr(c, method)(url, headers=bob, **({"json": body} if body else {}))
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    # sharing as viewer: can read, cannot change
    assert (
        c.put(
            f"/api/v1/projects/{pid}/members",
            headers=alice,
            json={"email": "bob@example.com", "role": "viewer"},
        ).status_code
        == 204
    )
    assert c.get(f"/api/v1/projects/{pid}", headers=bob).status_code == 200
    r = c.patch(f"/api/v1/projects/{pid}", headers=bob, json={"name": "mine"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert "editor access" in r.json()["detail"]  # the viewer learns what to ask the owner for
    assert c.get(f"/api/v1/projects/{pid}", headers=alice).json()["name"] != "mine"  # nothing changed


def test_tokens(light: Api) -> None:
    c = light.client
    h = light.signup("carol@example.com")
    assert c.get("/api/v1/users/me").status_code == 401
    forged = jwt.encode(
        {"sub": "1", "ver": 0, "typ": "access", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)},
        "not-the-key",
        algorithm="HS256",
    )
    r = c.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    expired = jwt.encode(
        {"sub": "1", "ver": 0, "typ": "access", "exp": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)},
        light.settings.key(),
        algorithm="HS256",
    )
    assert c.get("/api/v1/users/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    r = c.post("/api/v1/users/me/tokens", json={"name": "script"}, headers=h)
    token = r.json()["token"]
    assert (
        c.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).json()["email"]
        == "carol@example.com"
    )
    assert c.delete(f"/api/v1/users/me/tokens/{r.json()['id']}", headers=h).status_code == 204
    assert c.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert c.post("/api/v1/auth/logout", headers=h).status_code == 204
    assert c.get("/api/v1/users/me", headers=h).status_code == 401  # logged out everywhere


def test_broken_input(light: Api) -> None:
    c = light.client
    h = light.signup("dave@example.com")
    r = c.post("/api/v1/projects", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = c.post("/api/v1/projects", json={"name": "x", "target_map": "high"}, headers=h)
    assert r.status_code == 422 and "target_map" in r.json()["detail"]
    r = c.post("/api/v1/labels", json={"name": "cat;dog"}, headers=h)
    assert r.status_code == 422 and "contains ';'" in r.json()["detail"]
    pid = _project(light, h)
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/path", json={"group_name": "g", "path": "../../etc"}, headers=h
    )
    assert r.status_code == 422 and "sharing folder" in r.json()["detail"]
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/url",
        json={"group_name": "g", "url": "file:///etc/passwd"},
        headers=h,
    )
    assert r.status_code == 422 and "http" in r.json()["detail"]
    light.settings.max_upload_bytes = 1000
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "big"},
        files={"file": ("big.zip", b"PK" + b"\0" * 5000, "application/zip")},
    )
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large"
    assert not list((light.settings.root / "uploads").glob("*"))  # nothing half-written left
    # far too large: refused from its Content-Length before the body is read at all
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "huge"},
        files={"file": ("huge.zip", b"PK" + b"\0" * (3 << 20), "application/zip")},
    )
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large", r.text
    assert "request body" in r.json()["detail"] and "YMIR_MAX_UPLOAD_BYTES" in r.json()["detail"]
    assert not list((light.settings.root / "uploads").glob("*"))
    r = c.post(
        "/api/v1/auth/signup", json={"email": "dave@example.com", "username": "d", "password": "another-pass"}
    )
    assert r.status_code == 201  # the same answer as for a new e-mail: sign-up reveals no accounts
    r = c.post("/api/v1/auth/login", json={"email": "dave@example.com", "password": "wrong-password"})
    assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
    r = c.post(f"/api/v1/projects/{pid}/datasets/merge", json={"dataset_ids": [999999]}, headers=h)
    assert r.status_code == 404


def test_login_rate_limit_and_admin(light: Api) -> None:
    c = light.client
    light.client.app.state.login_limiter.limit = 3  # type: ignore[attr-defined]
    codes = [
        c.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "nope-nope"}).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [401, 401, 401] and codes[3] == 429
    light.client.app.state.login_limiter.limit = 1000  # type: ignore[attr-defined]
    root = light.login("root@example.com", "root-pass-123")
    images = c.get("/api/v1/images", headers=root).json()
    assert any(i["name"] == "ymir-executor" and "training" in i["capabilities"] for i in images)
    r = c.post(
        "/api/v1/images", headers=root, json={"name": "example/det:1", "templates": {"infer": {"x": 1}}}
    )
    assert r.status_code == 201 and r.json()["capabilities"] == ["infer"]
    eve = light.signup("eve@example.com")
    me = c.get("/api/v1/users/me", headers=eve).json()
    reset = c.post(f"/api/v1/users/{me['id']}/reset", headers=root).json()["reset_token"]
    assert (
        c.post(
            "/api/v1/auth/password-reset", json={"reset_token": reset, "new_password": "brand-new-pass"}
        ).status_code
        == 204
    )
    light.login("eve@example.com", "brand-new-pass")
    assert (
        c.post(
            "/api/v1/auth/password-reset", json={"reset_token": reset, "new_password": "again-new-pass"}
        ).status_code
        == 400
    )  # one use only


def _model_version(api: Api, pid: int, work: Path, *, with_onnx: bool = True, state: str = "ready") -> int:
    """A model version of project ``pid`` backed by a stored package: an untrained tiny detector exported
    like the executor's best stage (or, ``with_onnx=False``, a package of another executor)."""
    torch.manual_seed(0)
    stage = work / "epoch_1"
    if with_onnx:
        model = Detector(DetectorConfig(num_classes=1, size="tiny"))
        onnx_export.export(model, stage / "model.onnx", img_size=64, opset=17, class_names=["cat"])
        files = ["model.onnx"]
    else:
        stage.mkdir(parents=True)
        (stage / "weights.bin").write_bytes(b"\0" * 16)
        files = ["weights.bin"]
    digest, _ = models.pack(
        models_dir=work,
        stages={"epoch_1": {"stage_name": "epoch_1", "files": files, "mAP": 0.5}},
        best_stage="epoch_1",
        model_location=api.settings.models,
        executor_config={"class_names": ["cat"]},
        task_context={"producer": "test"},
    )
    with api.client.app.state.db.sessions() as s:  # type: ignore[attr-defined]
        group = ModelGroup(project_id=pid, name=work.name)
        s.add(group)
        s.flush()
        mv = ModelVersion(
            group_id=group.id,
            project_id=pid,
            version_num=1,
            state=state,
            model_hash=digest,
            best_stage="epoch_1",
            class_names=["cat"],
        )
        s.add(mv)
        s.commit()
        return int(mv.id)


def _jpeg(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG")
    return buf.getvalue()


def test_model_verification_access_and_broken_input(light: Api, tmp_path: Path) -> None:
    c = light.client
    alice = light.signup("alice@example.com")
    bob = light.signup("bob@example.com")
    pid = _project(light, alice)
    mid = _model_version(light, pid, tmp_path / "ok")
    image = _jpeg(80, 60)

    def verify(
        headers: dict[str, str], model_id: int = mid, content: bytes = image, name: str = "x.jpg", **form: str
    ) -> Any:
        files = {"file": (name, content, "image/jpeg")}
        return c.post(f"/api/v1/models/{model_id}/verify", headers=headers, files=files, data=form)

    r = verify(alice, conf_threshold="0.001")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model_id"], body["stage"], body["width"], body["height"]) == (mid, "epoch_1", 80, 60)
    assert body["boxes"] and all(b["class_name"] == "cat" for b in body["boxes"]) and body["elapsed_ms"] > 0

    r = verify(bob)  # not bob's project: the model does not exist for him
    assert r.status_code == 404 and r.json()["code"] == "model_not_found", r.text
    member = {"email": "bob@example.com", "role": "viewer"}
    assert c.put(f"/api/v1/projects/{pid}/members", headers=alice, json=member).status_code == 204
    assert verify(bob).status_code == 200  # verifying changes nothing: viewers may

    r = verify(alice, content=b"name,score\ncat,0.5\n", name="notes.txt")
    assert r.status_code == 422 and r.json()["code"] == "invalid_image", r.text
    assert "notes.txt" in r.json()["detail"] and "JPEG, PNG" in r.json()["detail"]
    r = verify(alice, content=image[: len(image) // 2])
    assert r.status_code == 422 and "truncated JPEG" in r.json()["detail"], r.text
    r = verify(alice, stage="epoch_99")
    assert r.status_code == 422 and r.json()["code"] == "stage_not_found", r.text
    assert "epoch_1" in r.json()["detail"]
    r = verify(alice, conf_threshold="high")
    assert r.status_code == 422 and "conf_threshold" in r.json()["detail"], r.text
    light.settings.verify_max_pixels = 1000
    r = verify(alice)
    assert r.status_code == 422 and "megapixels" in r.json()["detail"], r.text
    light.settings.verify_max_image_bytes = 1000
    r = verify(alice)
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large", r.text
    assert "YMIR_VERIFY_MAX_IMAGE_BYTES" in r.json()["detail"]

    bare = _model_version(light, pid, tmp_path / "bare", with_onnx=False)
    light.settings.verify_max_image_bytes = 1 << 20
    r = verify(alice, model_id=bare)
    assert r.status_code == 409 and r.json()["code"] == "model_not_verifiable", r.text
    assert "no ONNX export" in r.json()["detail"] and "retrain" in r.json()["detail"]
    pending = _model_version(light, pid, tmp_path / "pending", state="pending")
    r = verify(alice, model_id=pending)
    assert r.status_code == 409 and r.json()["code"] == "model_not_ready", r.text


@pytest.fixture(params=["postgresql", "sqlite"])
def bare(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """API and a database, no worker: imports stay pending."""
    url = _pg_database() if request.param == "postgresql" else ""
    try:
        yield from _api(tmp_path, url, with_worker=False)
    finally:
        if url:
            _drop(url)


def test_asset_page_access(bare: Api) -> None:
    """The asset page checks the token, the account and the version in one query: it must answer
    exactly as the general checks do, and survive the database dropping its connections."""
    c = bare.client
    alice = bare.signup("alice@example.com")
    bob = bare.signup("bob@example.com")
    root = bare.login("root@example.com", "root-pass-123")
    pid = _project(bare, alice)
    r = c.post(
        f"/api/v1/projects/{pid}/datasets/url",
        headers=alice,
        json={"group_name": "g", "url": "http://127.0.0.1:9/data.zip"},
    )
    assert r.status_code == 202, r.text
    did = c.get(f"/api/v1/projects/{pid}/datasets", headers=alice).json()["items"][0]["id"]
    url = f"/api/v1/datasets/{did}/assets"

    def code(headers: dict[str, str] | None, path: str = url) -> tuple[int, str]:
        r = c.get(path, headers=headers or {})
        return r.status_code, r.json()["code"]

    # no worker: the version stays pending, so 409 means the access check let the caller through
    assert code(alice) == (409, "dataset_not_ready")
    assert code(root) == (409, "dataset_not_ready")  # super admin
    assert code(None) == (401, "not_authenticated")
    assert code({"Authorization": "Bearer not-a-jwt"}) == (401, "not_authenticated")
    assert code(bob) == (404, "dataset_not_found")
    assert code(alice, f"/api/v1/datasets/{did + 1000}/assets") == (404, "dataset_not_found")
    assert code(alice, f"/api/v1/datasets/{did}/assets?limit=0") == (422, "invalid_request")
    assert code(None, f"/api/v1/datasets/{did}/assets?limit=0") == (401, "not_authenticated")
    assert code(alice, "/api/v1/datasets/abc/assets") == (422, "invalid_request")
    assert code(None, "/api/v1/datasets/abc/assets") == (401, "not_authenticated")  # as everywhere
    share = {"email": "bob@example.com", "role": "viewer"}
    assert c.put(f"/api/v1/projects/{pid}/members", headers=alice, json=share).status_code == 204
    assert code(bob) == (409, "dataset_not_ready")
    # personal API tokens take the general path, which also records their use
    r = c.post("/api/v1/users/me/tokens", json={"name": "script"}, headers=bob)
    api_token = {"Authorization": f"Bearer {r.json()['token']}"}
    assert code(api_token) == (409, "dataset_not_ready")
    assert c.get("/api/v1/users/me/tokens", headers=bob).json()[0]["last_used_at"] is not None
    assert c.delete(f"/api/v1/users/me/tokens/{r.json()['id']}", headers=bob).status_code == 204
    assert code(api_token) == (401, "not_authenticated")
    # an account that is no longer active, with a token that is otherwise still valid
    bob_id = c.get("/api/v1/users/me", headers=bob).json()["id"]
    db = c.app.state.db  # type: ignore[attr-defined]
    with db.sessions() as s:
        s.get(User, bob_id).state = UserState.DEACTIVATED
        s.commit()
    assert code(bob) == (401, "not_authenticated")
    expired = jwt.encode(
        {"sub": "2", "ver": 0, "typ": "access", "exp": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)},
        bare.settings.key(),
        algorithm="HS256",
    )
    assert code({"Authorization": f"Bearer {expired}"}) == (401, "not_authenticated")
    if db.engine.dialect.name == "postgresql":  # the server drops every connection (a restart)
        with db.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    assert code(alice) == (409, "dataset_not_ready")
    # logging out revokes every token at once
    assert c.post("/api/v1/auth/logout", headers=alice).status_code == 204
    assert code(alice) == (401, "not_authenticated")
    assert code(alice, "/api/v1/datasets/abc/assets") == (401, "not_authenticated")
    alice = bare.login("alice@example.com", "secret-pass-1")
    assert c.delete(f"/api/v1/projects/{pid}", headers=alice).status_code == 204
    assert code(alice) == (404, "dataset_not_found")


def test_reader_survives_a_database_restart(tmp_path: Path) -> None:
    """Every kept connection of the asset page's reader is dead after a restart: each is replaced."""
    url = _pg_database()
    try:
        db = Database(url)
        assert db.reader is not None
        slow = select(func.pg_sleep(0.05), literal(7))

        async def run() -> None:
            rows = await asyncio.gather(*(db.read_one(slow, {}) for _ in range(4)))  # four connections
            assert [r[1] for r in rows if r is not None] == [7] * 4
            with db.engine.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            for _ in range(6):
                row = await db.read_one(slow, {})
                assert row is not None and row[1] == 7

        asyncio.run(run())
        db.engine.dispose()
    finally:
        _drop(url)

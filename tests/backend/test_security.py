"""The attacks of issue 17 (items 4-9), each reproduced over HTTP against a real database.

One API per database for the whole module (no worker: the tasks these tests start are never run);
dataset and model versions are written as rows, as a finished task would leave them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.backend.conftest import Api, _api, _drop, _pg_database
from ymir_backend import security
from ymir_backend.models import (
    DatasetGroup,
    DatasetVersion,
    Label,
    ModelGroup,
    ModelVersion,
    Project,
    User,
)
from ymir_backend.security import RateLimiter, client_address, parse_networks

V1 = "/api/v1"


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Api]]:
    """The API on PostgreSQL and on SQLite (each made on first use), without a worker."""
    stack = contextlib.ExitStack()

    class Lazy(dict[str, Api]):
        def __missing__(self, kind: str) -> Api:
            url = _pg_database() if kind == "postgresql" else ""
            if url:
                stack.callback(_drop, url)
            gen = _api(tmp_path_factory.mktemp(f"security-{kind}"), url, with_worker=False)
            api = next(gen)
            stack.callback(gen.close)
            self[kind] = api
            return api

    with pytest.MonkeyPatch.context() as mp, stack:
        cheap_passwords(mp)
        yield Lazy()


@pytest.fixture(params=["postgresql", "sqlite"])
def sec(request: pytest.FixtureRequest, apis: dict[str, Api]) -> Api:
    """For what differs between the databases (ids, text, transactions): both."""
    return apis[request.param]


@pytest.fixture
def lite(apis: dict[str, Api]) -> Api:
    """For what does not depend on the database: SQLite only."""
    return apis["sqlite"]


def cheap_passwords(mp: pytest.MonkeyPatch) -> None:
    """argon2 at its smallest cost (still argon2id): these tests log in a few hundred times."""
    mp.setenv("YMIR_PASSWORD_HASH_TIME_COST", "1")
    mp.setenv("YMIR_PASSWORD_HASH_MEMORY_KIB", "1024")


def _user(api: Api) -> tuple[str, dict[str, str]]:
    email = f"u{uuid.uuid4().hex[:10]}@example.com"
    return email, api.signup(email)


def _project(api: Api, h: dict[str, str], classes: list[str] | None = None) -> int:
    for name in classes or ["cat"]:  # a project's classes are labels first (409 once one exists)
        api.client.post(f"{V1}/labels", json={"name": name}, headers=h)
    r = api.client.post(
        f"{V1}/projects", json={"name": "p", "training_classes": classes or ["cat"]}, headers=h
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _rows(api: Api, project_id: int, *, rev: str | None = None, assets: int = 7) -> tuple[int, int]:
    """A ready dataset version and a ready model version in ``project_id``, as tasks leave them."""
    with api.client.app.state.db.sessions() as s:  # type: ignore[attr-defined]
        group = DatasetGroup(project_id=project_id, name=f"g-{uuid.uuid4().hex[:6]}")
        mgroup = ModelGroup(project_id=project_id, name="m")
        s.add_all([group, mgroup])
        s.flush()
        dv = DatasetVersion(
            group_id=group.id,
            project_id=project_id,
            version_num=1,
            rev=rev or f"{group.branch}@{uuid.uuid4().hex}",
            state="ready",
            asset_count=assets,
            gt_stats={"cat": {"images": 1, "boxes": 1}},
        )
        mv = ModelVersion(
            group_id=mgroup.id,
            project_id=project_id,
            version_num=1,
            state="ready",
            model_hash="0" * 40,
            best_stage="best",
            class_names=["cat"],
        )
        s.add_all([dv, mv])
        s.commit()
        return dv.id, mv.id


def _count(api: Api, model: Any, *where: Any) -> int:
    with api.client.app.state.db.sessions() as s:  # type: ignore[attr-defined]
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# -- item 4: every id in a body is checked like the path's ------------------------------------------
def test_ids_in_bodies_are_checked_like_path_ids(sec: Api) -> None:
    c = sec.client
    _, alice = _user(sec)
    _, bob = _user(sec)
    a_pid = _project(sec, alice)
    a_dv, a_mv = _rows(sec, a_pid)
    b_pid = _project(sec, bob)
    b_dv, b_mv = _rows(sec, b_pid)
    # bob's round naming alice's dataset and model: the same 404 as for ids that do not exist
    for body, code in [
        ({"training_dataset_id": a_dv, "mining_dataset_id": b_dv, "model_id": b_mv}, "dataset_not_found"),
        ({"training_dataset_id": b_dv, "mining_dataset_id": a_dv, "model_id": b_mv}, "dataset_not_found"),
        ({"training_dataset_id": b_dv, "mining_dataset_id": b_dv, "model_id": a_mv}, "model_not_found"),
        ({"training_dataset_id": 99_999_999, "mining_dataset_id": b_dv}, "dataset_not_found"),
        ({"training_dataset_id": b_dv, "mining_dataset_id": b_dv, "model_id": 99_999_999}, "model_not_found"),
    ]:
        r = c.post(f"{V1}/projects/{b_pid}/iterations", json=body, headers=bob)
        assert r.status_code == 404 and r.json()["code"] == code, (body, r.text)
    assert c.get(f"{V1}/projects/{b_pid}/iterations", headers=bob).json() == []
    # nor through the project's sets, which a round (or a skipped step) falls back to
    for field, ident in [
        ("mining_dataset_id", a_dv),
        ("training_dataset_id", a_dv),
        ("initial_model_id", a_mv),
    ]:
        r = c.patch(f"{V1}/projects/{b_pid}", json={field: ident}, headers=bob)
        assert r.status_code == 404 and r.json()["code"].endswith("_not_found"), (field, r.text)
    assert c.get(f"{V1}/projects/{b_pid}", headers=bob).json()["mining_dataset_id"] is None
    # nor in any other body: merge, fuse, filter, sampling, copy, train, mine, infer
    for path, body in [
        ("datasets/merge", {"dataset_ids": [b_dv, a_dv]}),
        ("datasets/fuse", {"dataset_ids": [b_dv], "exclude_dataset_ids": [a_dv]}),
        ("datasets/filter", {"dataset_id": a_dv}),
        ("datasets/sampling", {"dataset_id": a_dv, "count": 1}),
        ("datasets/copy", {"group_name": "stolen", "source_dataset_id": a_dv}),
        ("models/train", {"training_dataset_id": b_dv, "validation_dataset_id": a_dv}),
        (
            "models/train",
            {"training_dataset_id": b_dv, "validation_dataset_id": b_dv, "pretrained_model_id": a_mv},
        ),
        ("models/mine", {"dataset_id": b_dv, "model_id": a_mv, "topk": 1}),
        ("models/infer", {"dataset_id": a_dv, "model_id": b_mv}),
    ]:
        r = c.post(f"{V1}/projects/{b_pid}/{path}", json=body, headers=bob)
        assert r.status_code == 404 and r.json()["code"].endswith("_not_found"), (path, body, r.text)
    # her own round works, and the summary is of her own data
    r = c.post(
        f"{V1}/projects/{a_pid}/iterations",
        json={"training_dataset_id": a_dv, "mining_dataset_id": a_dv, "model_id": a_mv},
        headers=alice,
    )
    assert r.status_code == 201 and r.json()["summary"]["training_set_size"] == 7, r.text


# -- item 5: a write that answers an error changes nothing -------------------------------------------
def test_a_refused_write_changes_nothing(sec: Api) -> None:
    c = sec.client
    owner_email, owner = _user(sec)
    editor_email, editor = _user(sec)
    pid = _project(sec, owner, ["cat"])
    assert (
        c.put(f"{V1}/projects/{pid}/members", json={"email": editor_email, "role": "editor"}, headers=owner)
    ).status_code == 204
    labels_before = c.get(f"{V1}/labels", headers=owner).json()
    projects_before = _count(sec, Project)
    for bad in ["x;y", "p,q", "a\nb", "tab\there", "nul\x00"]:
        r = c.patch(f"{V1}/projects/{pid}", json={"training_classes": ["dog", bad]}, headers=editor)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "invalid_request" and r.json()["errors"][0]["loc"][:2] == [
            "body",
            "training_classes",
        ]
        r = c.post(f"{V1}/projects", json={"name": "n", "training_classes": [bad]}, headers=owner)
        assert r.status_code == 422, (bad, r.text)
    assert c.get(f"{V1}/labels", headers=owner).json() == labels_before  # "dog" was not added either
    assert _count(sec, Project) == projects_before
    assert c.get(f"{V1}/projects/{pid}", headers=owner).json()["training_classes"] == ["cat"]
    # the owner's account still works: a new project, an update
    new = _project(sec, owner, ["cat", "bird"])
    assert c.post(f"{V1}/labels", json={"name": "fish"}, headers=owner).status_code == 201
    r = c.patch(f"{V1}/projects/{new}", json={"training_classes": ["cat", "Fish "]}, headers=owner)
    assert r.status_code == 200 and r.json()["training_classes"] == ["cat", "fish"], r.text
    # labels can be deleted when nothing uses them; otherwise the answer names the user
    labels = {lab["name"]: lab["id"] for lab in c.get(f"{V1}/labels", headers=owner).json()}
    assert "dog" not in labels  # the refused updates did not add it
    r = c.delete(f"{V1}/labels/{labels['cat']}", headers=owner)
    assert (
        r.status_code == 409 and r.json()["code"] == "label_in_use" and f"project {pid}" in r.json()["detail"]
    )
    assert c.delete(f"{V1}/labels/{labels['bird']}", headers=owner).status_code == 204
    assert c.delete(f"{V1}/labels/{labels['fish']}", headers=editor).status_code == 404  # not the editor's
    assert "bird" not in {lab["name"] for lab in c.get(f"{V1}/labels", headers=owner).json()}
    assert _count(sec, Label, Label.name == "fish") == 1


# -- item 6: the login limiter, timing and sign-up ----------------------------------------------------
def test_login_limits_per_account_and_per_address(lite: Api) -> None:
    app = lite.client.app
    state = app.state  # type: ignore[attr-defined]
    saved = state.login_limiter, state.address_limiter, state.trusted_proxies
    try:
        email, _ = _user(lite)
        state.login_limiter, state.address_limiter = RateLimiter(3), RateLimiter(9)
        attacker = TestClient(app, client=("203.0.113.7", 40000))
        # a forged X-Forwarded-For per guess changes nothing: the account's budget is spent
        codes = [
            attacker.post(
                f"{V1}/auth/login",
                json={"email": email, "password": f"guess-{i}"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429]
        # ... even for the right password, until the minute is over
        r = attacker.post(f"{V1}/auth/login", json={"email": email, "password": "secret-pass-1"})
        assert r.status_code == 429 and r.json()["code"] == "too_many_attempts"
        # many accounts from one address: the address's budget (3 x an account's)
        other = TestClient(app, client=("203.0.113.8", 40000))
        codes = [
            other.post(f"{V1}/auth/login", json={"email": f"n{i}@example.com", "password": "x"}).status_code
            for i in range(11)
        ]
        assert codes[:9] == [401] * 9 and codes[9:] == [429, 429]
        # behind a configured proxy, the address it appends is the client's
        state.trusted_proxies = parse_networks("10.0.0.0/8")
        proxy = TestClient(app, client=("10.0.0.2", 40000))
        for i in range(9):
            r = proxy.post(
                f"{V1}/auth/login",
                json={"email": f"m{i}@example.com", "password": "x"},
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
            assert r.status_code == 401
        r = proxy.post(
            f"{V1}/auth/login",
            json={"email": "m9@example.com", "password": "x"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert r.status_code == 429
        r = proxy.post(
            f"{V1}/auth/login",
            json={"email": "m9@example.com", "password": "x"},
            headers={"X-Forwarded-For": "203.0.113.10"},
        )
        assert r.status_code == 401  # another client behind the same proxy has its own budget
    finally:
        state.login_limiter, state.address_limiter, state.trusted_proxies = saved
    proxies = parse_networks("10.0.0.0/8, 192.168.1.1")
    assert client_address("203.0.113.1", "1.2.3.4", proxies) == "203.0.113.1"  # not from a proxy
    assert client_address("10.0.0.2", "1.2.3.4, 5.6.7.8, 192.168.1.1", proxies) == "5.6.7.8"
    assert client_address("10.0.0.2", "10.1.1.1", proxies) == "10.1.1.1"


def test_login_takes_as_long_for_unknown_accounts_and_signup_reveals_nothing(lite: Api) -> None:
    c = lite.client
    old_email, _ = _user(lite)  # hashed at the module's minimal cost
    # a cost at which the hash, not the machine's noise, is most of a login (the module's is minimal)
    security.configure_hasher(time_cost=2, memory_kib=32768)
    try:
        email, _ = _user(lite)
        # a login rehashes a password stored at another cost: it then costs what an unknown one does
        lite.login(old_email, "secret-pass-1")
        with lite.client.app.state.db.sessions() as s:  # type: ignore[attr-defined]
            assert "m=32768,t=2" in (
                s.scalar(select(User.password_hash).where(User.email == old_email)) or ""
            )

        def timed(address: str) -> float:
            t = time.perf_counter()
            r = c.post(f"{V1}/auth/login", json={"email": address, "password": "wrong-password"})
            assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
            return time.perf_counter() - t

        timed(email), timed("warm-up@example.com")
        known, unknown = [], []
        for i in range(7):  # interleaved: both see the same load
            known.append(timed(email))
            unknown.append(timed(f"nobody-{i}@example.com"))
        ratio = statistics.median(unknown) / statistics.median(known)
        assert 0.5 < ratio < 2.0, (known, unknown)  # was 381 ms against 10 ms
    finally:
        security.configure_hasher(time_cost=1, memory_kib=1024)
    # sign-up of a taken e-mail: the same answer as for a new one, and nothing changes
    new = f"new-{uuid.uuid4().hex[:8]}@example.com"
    answers = []
    for address in (email, new):
        r = c.post(f"{V1}/auth/signup", json={"email": address, "username": "x", "password": "taken-pass-9"})
        answers.append((r.status_code, sorted(r.json())))
        assert r.json()["email"] == address
    assert answers[0] == answers[1] == (201, ["email", "state", "username"])
    assert c.post(f"{V1}/auth/login", json={"email": email, "password": "taken-pass-9"}).status_code == 401
    assert c.post(f"{V1}/auth/login", json={"email": email, "password": "secret-pass-1"}).status_code == 200
    assert c.post(f"{V1}/auth/login", json={"email": new, "password": "taken-pass-9"}).status_code == 200


# -- item 7: tokens die with the password; refresh tokens rotate ---------------------------------------
def test_tokens_die_with_a_password_change_or_reset(lite: Api) -> None:
    c = lite.client
    email, h = _user(lite)

    def api_token(headers: dict[str, str]) -> dict[str, str]:
        r = c.post(f"{V1}/users/me/tokens", json={"name": "script"}, headers=headers)
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    script = api_token(h)
    assert c.get(f"{V1}/users/me", headers=script).status_code == 200
    r = c.post(
        f"{V1}/auth/password",
        json={"old_password": "secret-pass-1", "new_password": "new-pass-123"},
        headers=h,
    )
    assert r.status_code == 204
    assert c.get(f"{V1}/users/me", headers=script).status_code == 401
    assert c.get(f"{V1}/users/me", headers=h).status_code == 401
    h = lite.login(email, "new-pass-123")
    script = api_token(h)
    # the super admin resets the password: every token dies at once, the reset token works once
    root = lite.login("root@example.com", "root-pass-123")
    uid = c.get(f"{V1}/users/me", headers=h).json()["id"]
    r = c.post(f"{V1}/users/{uid}/reset", headers=root)
    assert r.status_code == 200
    reset = r.json()["reset_token"]
    assert c.get(f"{V1}/users/me", headers=script).status_code == 401
    assert c.get(f"{V1}/users/me", headers=h).status_code == 401
    body = {"reset_token": reset, "new_password": "reset-pass-1"}
    assert c.post(f"{V1}/auth/password-reset", json=body).status_code == 204
    assert c.post(f"{V1}/auth/password-reset", json=body).status_code == 400
    lite.login(email, "reset-pass-1")


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(lite: Api) -> None:
    c = lite.client
    email, _ = _user(lite)
    first = c.post(f"{V1}/auth/login", json={"email": email, "password": "secret-pass-1"}).json()
    other_login = c.post(f"{V1}/auth/login", json={"email": email, "password": "secret-pass-1"}).json()
    r = c.post(f"{V1}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    # the thief replays the used token: refused, and the family dies (the legitimate holder's too)
    r = c.post(f"{V1}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and r.json()["code"] == "refresh_token_reused", r.text
    r = c.post(f"{V1}/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert c.get(f"{V1}/users/me", headers=bearer).status_code == 401
    assert (
        c.post(f"{V1}/auth/refresh", json={"refresh_token": other_login["refresh_token"]}).status_code == 401
    )
    # a new login starts a new family
    fresh = c.post(f"{V1}/auth/login", json={"email": email, "password": "secret-pass-1"}).json()
    assert c.post(f"{V1}/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code == 200


# -- item 8: members can be removed; a deleted project takes everything below it along ---------------
def test_removed_members_and_deleted_projects_lose_everything_below(sec: Api) -> None:
    c = sec.client
    _, owner = _user(sec)
    member_email, member = _user(sec)
    _, stranger = _user(sec)
    pid = _project(sec, owner)
    dv, mv = _rows(sec, pid)
    assert c.patch(f"{V1}/datasets/{dv}", json={"is_public": True}, headers=owner).status_code == 200
    r = c.post(f"{V1}/datasets/{dv}/export", json={}, headers=owner)
    assert r.status_code == 202
    task = r.json()["id"]
    r = c.post(
        f"{V1}/projects/{pid}/iterations",
        json={"training_dataset_id": dv, "mining_dataset_id": dv},
        headers=owner,
    )
    iteration = r.json()["id"]
    share = {"email": member_email, "role": "editor"}
    assert c.put(f"{V1}/projects/{pid}/members", json=share, headers=owner).status_code == 204
    r = c.post(f"{V1}/datasets/{dv}/export", json={}, headers=member)
    assert r.status_code == 202
    member_task = r.json()["id"]
    below = [
        f"{V1}/projects/{pid}",
        f"{V1}/datasets/{dv}",
        f"{V1}/models/{mv}",
        f"{V1}/iterations/{iteration}",
        f"{V1}/tasks/{task}",
        f"{V1}/tasks/{member_task}",
        f"{V1}/tasks/{task}/download",
    ]
    for url in below[:-1]:
        assert c.get(url, headers=member).status_code == 200, url
    uid = c.get(f"{V1}/users/me", headers=member).json()["id"]
    r = c.delete(f"{V1}/projects/{pid}/members/{uid}", headers=owner)
    assert r.status_code == 204
    assert c.delete(f"{V1}/projects/{pid}/members/{uid}", headers=owner).status_code == 404
    for url in below:  # the task the member started included
        if url == f"{V1}/datasets/{dv}":  # a public version: every user may read it (and copy it)
            assert c.get(url, headers=member).status_code == 200
            continue
        r = c.get(url, headers=member)
        assert r.status_code == 404 and r.json()["code"].endswith("not_found"), (url, r.text)
    assert member_task not in {t["id"] for t in c.get(f"{V1}/tasks", headers=member).json()["items"]}
    # a member may leave on their own
    assert c.put(f"{V1}/projects/{pid}/members", json=share, headers=owner).status_code == 204
    assert c.delete(f"{V1}/projects/{pid}/members/{uid}", headers=member).status_code == 204
    assert c.get(f"{V1}/projects/{pid}", headers=member).status_code == 404
    # the public dataset can be copied while the project lives ...
    spid = _project(sec, stranger)
    copy = {"group_name": "c", "source_dataset_id": dv}
    assert c.post(f"{V1}/projects/{spid}/datasets/copy", json=copy, headers=stranger).status_code == 202
    # ... and nothing below a deleted project answers, not even to its owner
    assert c.delete(f"{V1}/projects/{pid}", headers=owner).status_code == 204
    for url in below:
        r = c.get(url, headers=owner)
        assert r.status_code == 404 and r.json()["code"].endswith("not_found"), (url, r.text)
    assert task not in {t["id"] for t in c.get(f"{V1}/tasks", headers=owner).json()["items"]}
    r = c.post(f"{V1}/projects/{spid}/datasets/copy", json=copy, headers=stranger)
    assert r.status_code == 404 and r.json()["code"] == "dataset_not_found"
    assert c.get(f"{V1}/datasets/{dv}/assets", headers=owner).status_code == 404


# -- item 9: no 5xx from ids, paging, NUL bytes, long names, huge images; a truthful document -----------
def test_out_of_range_ids_nul_bytes_and_long_names_are_422(sec: Api) -> None:
    c = sec.client
    _, h = _user(sec)
    pid = _project(sec, h)
    dv, mv = _rows(sec, pid)
    for url in [
        f"{V1}/projects/17592186044416",
        f"{V1}/projects/{2**31}",
        f"{V1}/projects/{2**70}",
        f"{V1}/projects/0",
        f"{V1}/datasets/{2**63}/assets",
        f"{V1}/projects?offset={2**40}",
        f"{V1}/projects/{pid}/datasets?offset={2**64}",
        f"{V1}/datasets/public?offset={2**68}",  # PostgreSQL's OFFSET is a bigint: a 500 before
        f"{V1}/tasks?project_id={2**40}",
        f"{V1}/projects/{pid}/datasets?state=a%00b",
        f"{V1}/tasks/abc%00def",
    ]:
        r = c.get(url, headers=h)
        assert r.status_code == 422, (url, r.status_code, r.text)
        body = r.json()
        assert (
            body["code"] == "invalid_request"
            and body["errors"]
            and body["errors"][0]["loc"][0] in ("path", "query")
        )
    for path, body in [
        ("projects", {"name": "a\x00b"}),
        ("projects", {"name": "ok", "description": "nul \x00 inside"}),
        (f"projects/{pid}/datasets/merge", {"dataset_ids": [dv], "group_name": "g" * 121}),
        (f"projects/{pid}/datasets/merge", {"dataset_ids": [2**40]}),
        (
            f"projects/{pid}/models/train",
            {"training_dataset_id": dv, "validation_dataset_id": dv, "group_name": "m" * 200},
        ),
        (f"projects/{pid}/datasets/copy", {"group_name": "x\x00", "source_dataset_id": dv}),
        (
            f"projects/{pid}/models/train",
            {"training_dataset_id": dv, "validation_dataset_id": dv, "config": {"k\x00": 1}},
        ),
        ("labels", {"name": "a" * 121}),
    ]:
        r = c.post(f"{V1}/{path}", json=body, headers=h)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["errors"][0]["loc"][0] == "body", r.text
    for field in ("name", "description", "training_classes"):  # NOT NULL columns
        r = c.patch(f"{V1}/projects/{pid}", json={field: None}, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", field], r.text
    r = c.post(
        f"{V1}/projects/{pid}/datasets/upload",
        headers=h,
        data={"group_name": "bad\x00name"},
        files={"file": ("a.zip", b"PK", "application/zip")},
    )
    assert r.status_code == 422, r.text
    # an iteration step's presets are checked too (they become a task request)
    r = c.post(
        f"{V1}/projects/{pid}/iterations",
        json={"training_dataset_id": dv, "mining_dataset_id": dv, "model_id": mv},
        headers=h,
    )
    assert r.status_code == 201, r.text
    step = f"{V1}/iterations/{r.json()['id']}/steps"
    r = c.post(f"{step}/prepare_mining", json={"presets": {"count": "many"}}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
    r = c.post(f"{step}/prepare_mining", json={"skip": True}, headers=h)
    assert r.status_code == 202, r.text
    r = c.post(f"{step}/mining", json={"presets": {"image_id": "x; rm -rf /"}}, headers=h)
    assert r.status_code == 404 and r.json()["code"] == "image_not_found", r.text


def test_timestamps_carry_a_time_zone(sec: Api) -> None:
    c = sec.client
    _, h = _user(sec)
    pid = _project(sec, h)
    for url in (f"{V1}/users/me", f"{V1}/projects/{pid}"):
        stamp = dt.datetime.fromisoformat(c.get(url, headers=h).json()["created_at"])
        assert stamp.utcoffset() == dt.timedelta(0), stamp
    r = c.post(f"{V1}/users/me/tokens", json={"name": "t"}, headers=h)
    assert r.json()["created_at"].endswith(("Z", "+00:00")), r.text


def _huge_png(path: Path, side: int) -> None:
    """A valid black PNG of ``side`` x ``side`` pixels (``side`` a multiple of 500) in well under a
    second: one deflate block of 500 rows, fully flushed so it can be repeated as is."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"\x00" * ((side + 1) * 500)  # each row: filter byte 0, then black pixels
    raw = zlib.compressobj(1, zlib.DEFLATED, -15)
    block = raw.compress(rows) + raw.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(1, zlib.DEFLATED, -15).flush()  # an empty final block
    n = (side + 1) * side
    adler = ((n % 65521) << 16) | 1  # Adler-32 of n zero bytes
    idat = b"\x78\x01" + block * (side // 500) + end + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path.write_bytes(png)


def test_the_thumbnail_of_a_400_megapixel_png_is_refused_cleanly(lite: Api, tmp_path: Path) -> None:
    from mir.ops import history
    from mir.ops.importing import import_dataset

    c = lite.client
    _, h = _user(lite)
    pid = _project(lite, h)
    (tmp_path / "images").mkdir()
    _huge_png(tmp_path / "images" / "huge.png", 20_000)
    (tmp_path / "index.tsv").write_text(f"{tmp_path / 'images' / 'huge.png'}\n")
    rev = "dataset-huge@t1"
    history.init(root=lite.settings.root / f"repos/project-{pid}")  # the engine's part: no worker here
    import_dataset(
        root=lite.settings.root / f"repos/project-{pid}",
        index_file=tmp_path / "index.tsv",
        dst=rev,
        media_location=lite.settings.root / "media",
        unknown_types_strategy="add",
    )
    dv, _ = _rows(lite, pid, rev=rev, assets=1)
    items = c.get(f"{V1}/datasets/{dv}/assets", headers=h).json()["items"]
    asset = items[0]["asset_id"] if "asset_id" in items[0] else items[0]["id"]
    r = c.get(f"{V1}/datasets/{dv}/assets/{asset}/thumbnail", headers=h)
    assert r.status_code == 422 and r.json()["code"] == "image_too_large", r.text
    assert f"assets/{asset}/image" in r.json()["detail"]


def test_openapi_declares_every_answer(lite: Api) -> None:
    doc = lite.client.get("/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"401", "403", "404", "422", "429"} <= codes, (method, path, sorted(codes))
            ref = op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ValidationErrorOut"), (method, path, ref)

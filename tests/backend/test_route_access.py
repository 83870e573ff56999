"""Every route of the OpenAPI document, tried without a token and as a stranger, a viewer, an editor, an
admin, the super admin and the project's owner; each answer must match the route's declared policy.

The routes come from the app's own OpenAPI document, so a new route is covered by default: until
``RULES`` says who may call it, ``test_every_route_has_a_rule`` fails.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.backend.conftest import Api, _api
from tests.backend.test_security import _rows, cheap_passwords
from ymir_backend.assets.media import make_token

V1 = "/api/v1"
ROLES = ("stranger", "viewer", "editor", "admin", "super", "owner")
PASSWORD = "role-pass-123"

# who gets through (True), and what the others get: 404 where the thing's existence is not theirs to
# know (someone else's project), 403 where it is (a viewer of the project, a non-admin)
POLICIES: dict[str, dict[str, bool | int]] = {
    "public": dict.fromkeys(ROLES, True),
    "any": dict.fromkeys(ROLES, True),
    "read": {"stranger": 404, "viewer": True, "editor": True, "admin": 404, "super": True, "owner": True},
    "write": {"stranger": 404, "viewer": 403, "editor": True, "admin": 404, "super": True, "owner": True},
    "owner": {"stranger": 404, "viewer": 403, "editor": 403, "admin": 404, "super": True, "owner": True},
    "admin": {"stranger": 403, "viewer": 403, "editor": 403, "admin": True, "super": True, "owner": 403},
    "super": {"stranger": 403, "viewer": 403, "editor": 403, "admin": 403, "super": True, "owner": 403},
    "own": {"stranger": 404, "viewer": 404, "editor": 404, "admin": 404, "super": 404, "owner": True},
}
# the codes that mean "you may not see the resource of the path" (anything else got past access)
DENIED_404 = {
    f"{w}_not_found"
    for w in (
        "project",
        "dataset",
        "model",
        "iteration",
        "task",
        "label",
        "api_token",
        "image",
        "user",
        "member",
    )
}

Body = Callable[["World", str], Any]


@dataclass(frozen=True)
class Rule:
    """Who may call a route (a key of ``POLICIES``), and what to send.

    ``fresh``: the call destroys what it names, so each role that may call it gets its own things.
    ``relogin``: the call ends the caller's own sessions."""

    policy: str
    json: Body | None = None
    files: Body | None = None
    data: dict[str, str] | None = None
    query: str | Callable[[World], str] = ""
    fresh: bool = False
    relogin: bool = False


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("images/readme.txt", "no images")
    return buf.getvalue()


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return buf.getvalue()


RULES: dict[str, Rule] = {
    "POST /auth/signup": Rule(
        "public", json=lambda w, r: {"email": w.email(), "username": "x", "password": "long-enough-1"}
    ),
    "POST /auth/login": Rule("public", json=lambda w, r: {"email": w.spare_email, "password": PASSWORD}),
    "POST /auth/refresh": Rule("public", json=lambda w, r: {"refresh_token": w.refresh_token()}),
    "POST /auth/password-reset": Rule(
        "public", json=lambda w, r: {"reset_token": "not-a-token", "new_password": "long-enough-1"}
    ),
    "POST /auth/logout": Rule("any", relogin=True),
    "POST /auth/password": Rule(
        "any", json=lambda w, r: {"old_password": w.password(r), "new_password": w.password(r)}, relogin=True
    ),
    "GET /users/me": Rule("any"),
    "GET /users/me/tokens": Rule("any"),
    "POST /users/me/tokens": Rule("any", json=lambda w, r: {"name": "t"}),
    "DELETE /users/me/tokens/{token_id}": Rule("own", fresh=True),
    "GET /users": Rule("super"),
    "PATCH /users/{user_id}": Rule("super", json=lambda w, r: {"role": "user"}),
    "POST /users/{user_id}/reset": Rule("super"),
    "GET /labels": Rule("any"),
    "POST /labels/bulk": Rule(
        "any", json=lambda w, r: {"labels": [{"name": f"bulk-{uuid.uuid4().hex[:8]}"}]}
    ),
    "POST /labels": Rule("any", json=lambda w, r: {"name": f"l{uuid.uuid4().hex[:8]}"}),
    "PATCH /labels/{label_id}": Rule("own", json=lambda w, r: {"name": "cat", "aliases": ["kitty"]}),
    "DELETE /labels/{label_id}": Rule("own", fresh=True),
    "GET /images": Rule("any"),
    "POST /images/{image_id}/copy": Rule("any", json=lambda w, r: {"name": f"copy-{uuid.uuid4().hex[:8]}"}),
    "POST /images": Rule(
        "admin",
        json=lambda w, r: {"name": f"example.org/det-{uuid.uuid4().hex[:6]}:1", "templates": {"infer": {}}},
    ),
    "PATCH /images/{image_id}": Rule("admin", json=lambda w, r: {"description": f"by {r}"}),
    "DELETE /images/{image_id}": Rule("admin", fresh=True),
    "POST /projects": Rule("any", json=lambda w, r: {"name": "mine"}),
    "GET /projects": Rule("any"),
    "GET /projects/stats": Rule("any"),
    "GET /projects/{project_id}": Rule("read"),
    "PATCH /projects/{project_id}": Rule("write", json=lambda w, r: {"description": f"by {r}"}),
    "DELETE /projects/{project_id}": Rule("owner", fresh=True),
    "PUT /projects/{project_id}/members": Rule(
        "owner", json=lambda w, r: {"email": w.spare_email, "role": "viewer"}
    ),
    "DELETE /projects/{project_id}/members/{user_id}": Rule("owner", fresh=True),
    "POST /projects/{project_id}/datasets/upload": Rule(
        "write", files=lambda w, r: {"file": ("d.zip", _zip(), "application/zip")}, data={"group_name": "up"}
    ),
    "POST /projects/{project_id}/datasets/url": Rule(
        "write", json=lambda w, r: {"group_name": "u", "url": "http://example.invalid/d.zip"}
    ),
    "POST /projects/{project_id}/datasets/path": Rule(
        "write", json=lambda w, r: {"group_name": "p", "path": "nothing-here"}
    ),
    "POST /projects/{project_id}/datasets/copy": Rule(
        "write", json=lambda w, r: {"group_name": "c", "source_dataset_id": w.ids["dataset_id"]}
    ),
    "GET /projects/{project_id}/dataset-groups": Rule("read"),
    "GET /projects/{project_id}/datasets": Rule("read"),
    "POST /projects/{project_id}/datasets/merge": Rule(
        "write", json=lambda w, r: {"dataset_ids": [w.ids["dataset_id"]]}
    ),
    "POST /projects/{project_id}/datasets/filter": Rule(
        "write", json=lambda w, r: {"dataset_id": w.ids["dataset_id"], "include": ["cat"]}
    ),
    "POST /projects/{project_id}/datasets/sampling": Rule(
        "write", json=lambda w, r: {"dataset_id": w.ids["dataset_id"], "count": 1}
    ),
    "POST /projects/{project_id}/datasets/fuse": Rule(
        "write", json=lambda w, r: {"dataset_ids": [w.ids["dataset_id"]], "count": 1}
    ),
    "GET /datasets/{dataset_id}": Rule("read"),
    "PATCH /datasets/{dataset_id}": Rule("write", json=lambda w, r: {"description": "d"}),
    "GET /datasets/public": Rule("any"),
    "GET /sharing": Rule("any"),
    "DELETE /datasets/{dataset_id}": Rule("write", fresh=True),
    "POST /datasets/{dataset_id}/export": Rule("read", json=lambda w, r: {"anno_format": "coco"}),
    "POST /datasets/{dataset_id}/evaluate": Rule("write", json=lambda w, r: {}),
    "GET /datasets/{dataset_id}/assets": Rule("read"),
    "GET /datasets/{dataset_id}/assets/{asset_id}/image": Rule("read"),
    "GET /datasets/{dataset_id}/assets/{asset_id}/thumbnail": Rule("read"),
    # a signed link: whoever holds the version's media token (a reader got it with a page of assets);
    # tests/backend/test_media_links.py covers a missing, foreign and expired token
    "GET /datasets/{dataset_id}/media/{asset_id}": Rule(
        "public", query=lambda w: "?t=" + make_token(w.api.settings.key(), w.ids["dataset_id"])
    ),
    "GET /datasets/{dataset_id}/evaluation": Rule("read"),
    "POST /projects/{project_id}/models/train": Rule(
        "write",
        json=lambda w, r: {
            "training_dataset_id": w.ids["dataset_id"],
            "validation_dataset_id": w.ids["dataset_id"],
        },
    ),
    "POST /projects/{project_id}/models/mine": Rule(
        "write",
        json=lambda w, r: {"dataset_id": w.ids["dataset_id"], "model_id": w.ids["model_id"], "topk": 1},
    ),
    "POST /projects/{project_id}/models/infer": Rule(
        "write", json=lambda w, r: {"dataset_id": w.ids["dataset_id"], "model_id": w.ids["model_id"]}
    ),
    "POST /projects/{project_id}/models/upload": Rule(
        "write", files=lambda w, r: {"file": ("m.tar.gz", b"\x1f\x8b not a package", "application/gzip")}
    ),
    "GET /projects/{project_id}/model-groups": Rule("read"),
    "GET /projects/{project_id}/models": Rule("read"),
    "GET /models/{model_id}": Rule("read"),
    "GET /models/{model_id}/stages": Rule("read"),
    "GET /models/{model_id}/evaluation": Rule("read"),
    "POST /models/{model_id}/export": Rule("read"),
    "POST /models/{model_id}/verify": Rule(
        "read", files=lambda w, r: {"file": ("a.png", _png(), "image/png")}
    ),
    "DELETE /models/{model_id}": Rule("write", fresh=True),
    "POST /projects/{project_id}/iterations": Rule(
        "write",
        json=lambda w, r: {
            "training_dataset_id": w.ids["dataset_id"],
            "mining_dataset_id": w.ids["dataset_id"],
        },
    ),
    "GET /projects/{project_id}/iterations": Rule("read"),
    "GET /iterations/{iteration_id}": Rule("read"),
    "POST /iterations/{iteration_id}/steps/{name}": Rule("write", json=lambda w, r: {"skip": True}),
    "POST /datasets/{dataset_id}/label": Rule("write", json=lambda w, r: {"class_names": ["cat"]}),
    "POST /tasks/{task_id}/finish": Rule("write"),
    "GET /tasks": Rule("any"),
    "GET /tasks/events": Rule("any", query="?seconds=0.2"),
    "GET /tasks/{task_id}": Rule("read"),
    "POST /tasks/{task_id}/cancel": Rule("write"),
    "POST /tasks/{task_id}/retry": Rule("write"),
    "GET /tasks/{task_id}/download": Rule("read"),
}


@dataclass
class World:
    """Six users and the owner's shared project with one of everything in it."""

    api: Api
    emails: dict[str, str]
    spare_email: str = ""
    ids: dict[str, Any] = field(default_factory=dict)
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role not in self._headers:
            self._headers[role] = self.api.login(self.emails[role], self.password(role))
        return self._headers[role]

    def password(self, role: str) -> str:
        return "root-pass-123" if role == "super" else PASSWORD

    def email(self) -> str:
        return f"x{uuid.uuid4().hex[:10]}@example.com"

    def refresh_token(self) -> str:
        r = self.api.client.post(f"{V1}/auth/login", json={"email": self.spare_email, "password": PASSWORD})
        return str(r.json()["refresh_token"])

    def call(self, method: str, url: str, role: str | None, rule: Rule) -> Any:
        kwargs: dict[str, Any] = {"headers": self.headers(role) if role else {}}
        if rule.json is not None:
            kwargs["json"] = rule.json(self, role or "")
        if rule.files is not None:
            kwargs["files"] = rule.files(self, role or "")
            kwargs["data"] = rule.data or {}
        query = rule.query(self) if callable(rule.query) else rule.query
        return self.api.client.request(method, url + query, **kwargs)

    def things(self) -> dict[str, Any]:
        """A project of the owner shared with the viewer and the editor, and one of each thing in it."""
        c, owner = self.api.client, self.headers("owner")
        c.post(f"{V1}/labels", json={"name": "cat"}, headers=owner)  # classes are labels first
        r = c.post(f"{V1}/projects", json={"name": "shared", "training_classes": ["cat"]}, headers=owner)
        pid = r.json()["id"]
        for role in ("viewer", "editor"):
            body = {"email": self.emails[role], "role": role}
            assert c.put(f"{V1}/projects/{pid}/members", json=body, headers=owner).status_code == 204
        spare = c.get(f"{V1}/users?limit=500", headers=self.headers("super")).json()["items"]
        member_id = next(u["id"] for u in spare if u["email"] == self.spare_email)
        body = {"email": self.spare_email, "role": "viewer"}
        assert c.put(f"{V1}/projects/{pid}/members", json=body, headers=owner).status_code == 204
        dv, mv = _rows(self.api, pid)
        r = c.post(
            f"{V1}/projects/{pid}/iterations",
            json={"training_dataset_id": dv, "mining_dataset_id": dv},
            headers=owner,
        )
        iteration = r.json()["id"]
        task = c.post(f"{V1}/datasets/{dv}/export", json={}, headers=owner).json()["id"]
        label = c.post(f"{V1}/labels", json={"name": f"l{uuid.uuid4().hex[:8]}"}, headers=owner).json()["id"]
        token = c.post(f"{V1}/users/me/tokens", json={"name": "t"}, headers=owner).json()["id"]
        body = {"name": f"example.org/det-{uuid.uuid4().hex[:6]}:1", "templates": {"infer": {}}}
        image = c.post(f"{V1}/images", json=body, headers=self.headers("admin")).json()["id"]
        return {
            "project_id": pid,
            "dataset_id": dv,
            "model_id": mv,
            "iteration_id": iteration,
            "task_id": task,
            "label_id": label,
            "token_id": token,
            "image_id": image,
            "user_id": member_id,
            "asset_id": "0" * 40,
            "name": "prepare_mining",
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("route-access")
    mp = pytest.MonkeyPatch()
    cheap_passwords(mp)
    for api in _api(tmp, "", with_worker=False):
        c = api.client
        emails = {role: f"{role}-{uuid.uuid4().hex[:6]}@example.com" for role in ROLES}
        emails["super"] = "root@example.com"
        for role in ROLES:
            if role != "super":
                api.signup(emails[role], PASSWORD)
        w = World(api=api, emails=emails, spare_email=f"spare-{uuid.uuid4().hex[:6]}@example.com")
        api.signup(w.spare_email, PASSWORD)
        users = c.get(f"{V1}/users?limit=500", headers=w.headers("super")).json()["items"]
        admin_id = next(u["id"] for u in users if u["email"] == emails["admin"])
        assert (
            c.patch(f"{V1}/users/{admin_id}", json={"role": "admin"}, headers=w.headers("super")).status_code
            == 200
        )
        w._headers.pop("admin", None)
        w.ids = w.things()
        yield w
    mp.undo()


def _openapi_operations(world: World) -> list[tuple[str, str]]:
    doc = world.api.client.get("/openapi.json").json()
    return [
        (method.upper(), path.removeprefix(V1))
        for path, ops in doc["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_every_route_has_a_rule(world: World) -> None:
    operations = _openapi_operations(world)
    missing = [f"{m} {p}" for m, p in operations if f"{m} {p}" not in RULES]
    assert not missing, f"no access rule for {missing}; add one to RULES in {__file__}"
    stale = set(RULES) - {f"{m} {p}" for m, p in operations}
    assert not stale, f"RULES names routes that no longer exist: {sorted(stale)}"


def _verdict(r: Any) -> bool | int:
    """True when the call got past the access checks, else the status that refused it."""
    assert r.status_code < 500, (r.status_code, r.text)
    body = (
        r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else None
    )
    code = body.get("code") if isinstance(body, dict) else None
    if r.status_code in (401, 403) or (r.status_code == 404 and code in DENIED_404):
        return int(r.status_code)
    return True


@pytest.mark.parametrize("operation", sorted(RULES))
def test_route_answers_each_role_as_declared(world: World, operation: str) -> None:
    method, path = operation.split(" ", 1)
    rule = RULES[operation]
    expected = POLICIES[rule.policy]
    problems = []
    if rule.policy != "public":
        r = world.call(method, V1 + path.format(**world.ids), None, rule)
        if r.status_code != 401 or r.json()["code"] != "not_authenticated":
            problems.append(f"no token: {r.status_code} {r.text[:200]}")
    for role in ROLES:
        ids = world.things() if rule.fresh and expected[role] is True else world.ids
        r = world.call(method, V1 + path.format(**ids), role, rule)
        if rule.relogin:
            world._headers.pop(role, None)
        got = _verdict(r)
        if got != expected[role]:
            problems.append(f"{role}: expected {expected[role]}, got {r.status_code} {r.text[:200]}")
    assert not problems, f"{operation}:\n" + "\n".join(problems)

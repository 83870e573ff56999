"""Signed media links (``GET /datasets/{id}/media/{asset}?t=…``): what a page of assets hands out lets an
``<img src>`` load that version's images and thumbnails, cacheably, and nothing else — another version's
token, a forged or expired one, an asset of another version and a deleted version are refused."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from mir.ops import history
from mir.revs import Rev
from mir.store import media as media_store
from mir.store import schema
from mir.store.repo import Repo, Snapshot, Task
from tests.backend.conftest import Api, _api
from tests.backend.test_security import _project, _rows, _user
from ymir_backend.assets.media import LIFETIME_STEP, check_token, make_token
from ymir_backend.models import DatasetVersion

V1 = "/api/v1"


def _jpeg(color: tuple[int, int, int], size: tuple[int, int] = (120, 80)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def _version(api: Api, pid: int, images: list[bytes]) -> tuple[int, list[str]]:
    """A ready version of ``images`` committed straight into the project's repository."""
    import hashlib

    root = api.settings.root / f"repos/project-{pid}"
    if not (root / ".mir").exists():
        history.init(root=root)
    ids = [hashlib.sha1(b).hexdigest() for b in images]
    for aid, data in zip(ids, images, strict=True):
        media_store.store_bytes(api.settings.root / "media", aid, data)
    n = len(ids)
    assets = pa.Table.from_arrays(
        [
            pa.array(ids, pa.string()),
            pa.array([120] * n, pa.int32()),
            pa.array([80] * n, pa.int32()),
            pa.array([3] * n, pa.int8()),
            pa.array(["jpeg"] * n, pa.string()),
            pa.array([len(b) for b in images], pa.int64()),
            pa.array([1] * n, pa.int8()),
            pa.array([f"{i}.jpg" for i in range(n)], pa.string()),
            pa.array([1_700_000_000] * n, pa.int64()),
            pa.nulls(n, schema.TAGS_TYPE),
        ],
        schema=schema.ASSETS,
    )
    branch = f"g{uuid.uuid4().hex[:8]}"
    Repo(root).commit(
        dst=Rev(branch, "t1"),
        task=Task(type="import", tid="t1"),
        build=lambda labels: Snapshot(assets=assets),
    )
    dv, _ = _rows(api, pid, rev=f"{branch}@t1", assets=n)
    return dv, ids


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Api, dict[str, str], int, int, list[str]]]:
    """SQLite, no worker: an owner with two versions (one image each, different)."""
    tmp = tmp_path_factory.mktemp("media")
    for api in _api(tmp, "", with_worker=False):
        _, h = _user(api)
        pid = _project(api, h)
        a, a_ids = _version(api, pid, [_jpeg((200, 30, 30))])
        b, b_ids = _version(api, pid, [_jpeg((30, 200, 30))])
        yield api, h, a, b, a_ids + b_ids


def _token(api: Api, h: dict[str, str], dv: int) -> str:
    r = api.client.get(f"{V1}/datasets/{dv}/assets", headers=h)
    assert r.status_code == 200, r.text
    return str(r.json()["media_token"])


def test_a_page_s_token_loads_its_images_without_a_header(
    world: tuple[Api, dict[str, str], int, int, list[str]],
) -> None:
    api, h, a, _, ids = world
    t = _token(api, h, a)
    r = api.client.get(f"{V1}/datasets/{a}/media/{ids[0]}", params={"t": t})  # no Authorization
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (120, 80)
    assert "immutable" in r.headers["cache-control"]
    thumb = api.client.get(f"{V1}/datasets/{a}/media/{ids[0]}", params={"t": t, "size": 32})
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (32, 21)
    assert "immutable" in thumb.headers["cache-control"] and thumb.headers.get("etag")
    # made once, then served from the workplace's cache
    assert (api.settings.root / "thumbnails" / "32" / ids[0][-2:] / f"{ids[0]}.jpg").is_file()
    # the same token all through the hour, so the browser's cache keeps serving the same URL
    assert _token(api, h, a) == t or time.time() % LIFETIME_STEP < 5  # (unless the hour just turned)


def test_a_token_opens_only_its_own_version(world: tuple[Api, dict[str, str], int, int, list[str]]) -> None:
    api, h, a, b, ids = world
    t = _token(api, h, a)
    for dv, aid in ((b, ids[1]), (b, ids[0])):  # another version's image, or the image through another id
        r = api.client.get(f"{V1}/datasets/{dv}/media/{aid}", params={"t": t})
        assert (r.status_code, r.json()["code"]) == (404, "dataset_not_found")
    # a version's token, an image of another version (present in the store): not this version's
    r = api.client.get(f"{V1}/datasets/{a}/media/{ids[1]}", params={"t": t})
    assert (r.status_code, r.json()["code"]) == (404, "asset_not_found")


@pytest.mark.parametrize("forged", ["", "garbage", "99999999999.AAAAAAAAAAAAAAAAAAAAAA", "{exp}.{mac}x"])
def test_a_forged_token_is_refused(
    world: tuple[Api, dict[str, str], int, int, list[str]], forged: str
) -> None:
    api, h, a, _, ids = world
    exp, mac = _token(api, h, a).split(".")
    r = api.client.get(f"{V1}/datasets/{a}/media/{ids[0]}", params={"t": forged.format(exp=exp, mac=mac)})
    assert (r.status_code, r.json()["code"]) == (404, "dataset_not_found")


def test_an_expired_token_says_to_reload(world: tuple[Api, dict[str, str], int, int, list[str]]) -> None:
    api, _, a, _, ids = world
    old = make_token(api.settings.key(), a, now=time.time() - 3 * LIFETIME_STEP)
    assert check_token(api.settings.key(), a, old) == "expired"
    r = api.client.get(f"{V1}/datasets/{a}/media/{ids[0]}", params={"t": old})
    assert r.status_code == 401
    assert r.json()["code"] == "media_link_expired" and "reload the page" in r.json()["detail"]


def test_a_deleted_version_s_links_stop(tmp_path: Path) -> None:
    for api in _api(tmp_path, "", with_worker=False):
        _, h = _user(api)
        pid = _project(api, h)
        dv, ids = _version(api, pid, [_jpeg((1, 2, 3))])
        t = _token(api, h, dv)
        assert api.client.get(f"{V1}/datasets/{dv}/media/{ids[0]}", params={"t": t}).status_code == 200
        with api.client.app.state.db.sessions() as s:  # type: ignore[attr-defined]
            row = s.get(DatasetVersion, dv)
            assert row is not None
            row.deleted = True
            s.commit()
        r = api.client.get(f"{V1}/datasets/{dv}/media/{ids[0]}", params={"t": t})
        assert (r.status_code, r.json()["code"]) == (404, "dataset_not_found")


def test_the_latest_versions_are_loaded_when_the_api_starts(tmp_path: Path) -> None:
    """After a restart, the first page (and images) of the latest versions need not wait for their index."""
    for api in _api(tmp_path, "", with_worker=False):
        _, h = _user(api)
        pid = _project(api, h)
        dv, ids = _version(api, pid, [_jpeg((4, 5, 6))])
        with api.client.app.state.db.sessions() as s:  # type: ignore[attr-defined]
            row = s.get(DatasetVersion, dv)
            assert row is not None
            rev = row.rev
    for api in _api(tmp_path, "", with_worker=False):  # the API started again
        browse = api.client.app.state.browse  # type: ignore[attr-defined]
        browse.wait_warm()
        index = browse.cached(api.settings.root / f"repos/project-{pid}", rev)
        assert index is not None and index.has(ids[0]) and not index.has("0" * 40)

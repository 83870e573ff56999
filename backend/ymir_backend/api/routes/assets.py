"""Browsing a dataset version: paged assets with their boxes, filtered by class, gt/pred, TP/FP/FN,
type and tag; the image and a thumbnail; class statistics and the evaluation."""

from __future__ import annotations

import io
import threading
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from PIL import Image
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import bindparam, select

from mir.labels import Labels
from mir.store import media as media_store
from mir.store.repo import Repo
from ymir_backend.api.deps import (
    DB,
    Bearer,
    CurrentUser,
    Settings,
    VersionRef,
    current_user,
    version_for_reading,
)
from ymir_backend.api.routes.datasets import version_of
from ymir_backend.config import BackendSettings
from ymir_backend.db import Database
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import DatasetVersion, Project
from ymir_backend.schemas import DB_INT_MAX, DbId
from ymir_backend.services import browse, evaluations, media
from ymir_backend.services.repos import repo_path

router = APIRouter(prefix="/datasets", tags=["browsing"])
_versions, _projects = DatasetVersion.__table__, Project.__table__


class AssetBox(BaseModel):
    """A box in the image's pixels: top-left ``x``, ``y`` and size ``w``, ``h``; ``score`` for predictions,
    ``mark`` (tp, fp, fn, mtp, ignored) once the version is evaluated."""

    class_name: str
    x: float
    y: float
    w: float
    h: float
    score: float | None = None
    mark: str | None = None


class AssetOut(BaseModel):
    asset_id: str
    width: int
    height: int
    tvt: str
    tags: dict[str, str]
    image_format: str
    gt: list[AssetBox]
    pred: list[AssetBox]


class AssetPage(BaseModel):
    """What ``GET /datasets/{id}/assets`` answers (written directly, not validated: it is the hot path).
    ``media_token`` signs the version's image links: ``GET /datasets/{id}/media/{asset_id}?t=<token>``."""

    items: list[AssetOut]
    total: int
    offset: int
    limit: int
    media_token: str


_labels_cache: dict[Path, tuple[tuple[Any, ...], Labels]] = {}
_labels_lock = threading.Lock()


def _cached_labels(root: Path) -> Labels | None:
    """The repository's labels when the cached copy is current (two ``stat`` calls), else None."""
    with _labels_lock:
        hit = _labels_cache.get(root)
    if hit is not None and hit[0] == _label_stamp(root):
        return hit[1]
    return None


def _label_stamp(root: Path) -> tuple[Any, ...]:
    return (browse.file_stamp(root / ".mir" / "labels.yaml"), browse.file_stamp(root / "labels.csv"))


def _labels(root: Path) -> Labels:
    """The repository's labels, parsed again only when labels.yaml or labels.csv changed (parsing the
    YAML took longer than the rest of a page). Callers must not change the object returned."""
    repo = Repo(root)
    stamp = _label_stamp(repo.root)
    with _labels_lock:
        hit = _labels_cache.get(repo.root)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    labels = repo.labels()
    with _labels_lock:
        _labels_cache[repo.root] = (stamp, labels)
    return labels


_ID = TypeAdapter(DbId)


async def readable_version(request: Request, creds: Bearer) -> VersionRef | None:
    """The version, if the bearer may read it, with the answers of ``current_user`` + ``version_of``: one
    query for a JWT; for a personal API token, those two (they also record the token's use).

    A dependency, so that authentication fails before the parameters are checked, as with
    ``current_user`` elsewhere; for the same reason the id is read from the path here rather than
    declared. None for an id that is not one: the route's own validation then answers 422."""
    settings: BackendSettings = request.app.state.settings
    database: Database = request.app.state.db
    if creds is None or not creds.credentials:
        raise ApiError(401, "not_authenticated", "missing bearer token; log in at /api/v1/auth/login")
    try:
        dataset_id = _ID.validate_python(request.path_params["dataset_id"])
    except ValidationError:
        await run_in_threadpool(_authenticate, database, settings, creds)
        return None
    ref = await version_for_reading(database, settings, creds.credentials, dataset_id)
    if ref is None:
        ref = await run_in_threadpool(_version_by_api_token, database, settings, creds, dataset_id)
    return ref


def _authenticate(database: Database, settings: BackendSettings, creds: HTTPAuthorizationCredentials) -> None:
    with database.sessions() as db:
        current_user(db, settings, creds)


def _version_by_api_token(
    database: Database, settings: BackendSettings, creds: HTTPAuthorizationCredentials, dataset_id: int
) -> VersionRef:
    with database.sessions() as db:
        user = current_user(db, settings, creds)
        dv, project = version_of(db, user, dataset_id)
        return VersionRef(id=dv.id, project_id=project.id, rev=dv.rev, state=dv.state)


# Async, unlike most routes: with a warm version a page is a few hundred microseconds of work, and the
# thread-pool hop cost more than that under load. What can take long (loading a version, a new filter,
# parsing the label file) runs in the thread pool; the database query does not block the event loop.
@router.get("/{dataset_id}/assets", response_model=AssetPage)
async def list_assets(
    dataset_id: DbId,
    request: Request,
    ref: Annotated[VersionRef | None, Depends(readable_version)],
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(20, ge=1, le=200),
    class_name: str | None = None,
    side: Literal["gt", "pred", "any"] = "any",
    mark: Literal["tp", "fp", "fn", "mtp", "ignored"] | None = None,
    tvt: Literal["train", "val", "test", "unknown"] | None = None,
    tag: str | None = Query(None, description="key or key=value"),
) -> Response:
    """A page of assets with their gt and pred boxes (pixels, xywh)."""
    assert ref is not None  # None only for an id that is not an integer, refused before this runs
    if ref.state != "ready":
        raise ApiError(
            409, "dataset_not_ready", f"dataset {ref.id} is {ref.state}; wait for its task to finish"
        )
    settings: BackendSettings = request.app.state.settings
    root = settings.root / f"repos/project-{ref.project_id}"  # = repo_path(settings, project)
    cached = _cached_labels(root)
    labels = cached if cached is not None else await run_in_threadpool(_labels, root)
    class_ids = None
    if class_name is not None:
        cid = labels.id_of(class_name)
        if cid is None:
            raise ApiError(400, "unknown_class", f"class {class_name!r} is not a label of this project")
        class_ids = [cid]
    cache: browse.BrowseCache = request.app.state.browse
    index = cache.cached(root, ref.rev)
    if index is None:
        index = await run_in_threadpool(cache.get, root, ref.rev)
    filters: dict[str, Any] = {"class_ids": class_ids, "side": side, "mark": mark, "tvt": tvt, "tag": tag}
    rows = browse.cached_rows(index, **filters)
    if rows is None:
        rows = await run_in_threadpool(partial(browse.select_rows, index, **filters))
    names = dict(enumerate(labels.names()))
    items = browse.page(index, rows, offset, limit, names)
    # plain JSON types already: no jsonable_encoder walk; orjson is ~10x faster than json.dumps and
    # writes the same JSON (floats under 1e-4 without an exponent: 0.0000227 rather than 2.27e-05)
    body = {
        "items": items,
        "total": int(len(rows)),
        "offset": offset,
        "limit": limit,
        "media_token": media.make_token(settings.key(), ref.id),
    }
    return Response(orjson.dumps(body), media_type="application/json")


def image_content_type(path: Any) -> str:
    """The image's media type from its first bytes (media files are stored by hash, without a suffix)."""
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG"):
        return "image/png"
    if head.startswith(b"BM"):
        return "image/bmp"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _asset_file(settings: Settings, asset_id: str) -> Any:
    if len(asset_id) != 40 or any(c not in "0123456789abcdef" for c in asset_id):
        raise not_found("asset", asset_id)
    path = media_store.locate(settings.root / "media", asset_id)
    if path is None:
        raise not_found("asset", asset_id)
    return path


def _in_version(request: Request, settings: Settings, project: Any, rev: str, asset_id: str) -> None:
    index = request.app.state.browse.get(repo_path(settings, project), rev)
    if asset_id not in index.ids:
        raise not_found("asset", asset_id)


_IMAGE_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/webp")


@router.get(
    "/{dataset_id}/assets/{asset_id}/image",
    response_class=FileResponse,
    responses={200: {"description": "the image file", "content": dict.fromkeys(_IMAGE_TYPES, {})}},
)
def asset_image(
    dataset_id: DbId, asset_id: str, request: Request, user: CurrentUser, db: DB, settings: Settings
) -> FileResponse:
    """The image itself (only through a version the user may see)."""
    dv, project = version_of(db, user, dataset_id)
    path = _asset_file(settings, asset_id)
    _in_version(request, settings, project, dv.rev, asset_id)
    return FileResponse(
        path, media_type=image_content_type(path), headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get(
    "/{dataset_id}/assets/{asset_id}/thumbnail",
    response_class=Response,
    responses={200: {"description": "a JPEG thumbnail", "content": {"image/jpeg": {}}}},
)
def asset_thumbnail(
    dataset_id: DbId,
    asset_id: str,
    request: Request,
    user: CurrentUser,
    db: DB,
    settings: Settings,
    size: int = Query(256, ge=32, le=1024),
) -> Response:
    """A JPEG thumbnail (cached in the workplace)."""
    dv, project = version_of(db, user, dataset_id)
    path = _asset_file(settings, asset_id)
    _in_version(request, settings, project, dv.rev, asset_id)
    return _cached_thumbnail(
        settings, path, asset_id, dataset_id, size, {"Cache-Control": "private, max-age=86400"}
    )


def _cached_thumbnail(
    settings: BackendSettings, path: Path, asset_id: str, dataset_id: int, size: int, headers: dict[str, str]
) -> Response:
    """The thumbnail from the workplace's cache (assets are stored by content, so one file per asset and
    size serves every version), made and kept on first use."""
    cache = settings.root / "thumbnails" / str(size) / asset_id[-2:] / f"{asset_id}.jpg"
    if not cache.exists():
        buf = _thumbnail(path, asset_id, dataset_id, size)
        tmp = cache.with_suffix(f".{threading.get_ident()}.tmp")
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(buf.getvalue())
            tmp.replace(cache)
        except OSError:  # a full disk (or read-only workplace): serve it uncached
            tmp.unlink(missing_ok=True)
            return Response(buf.getvalue(), media_type="image/jpeg", headers=headers)
    return FileResponse(cache, media_type="image/jpeg", headers=headers)


_MEDIA_VERSION = (
    select(
        _versions.c.project_id, _versions.c.rev, _versions.c.state, _versions.c.deleted, _projects.c.deleted
    )
    .select_from(_versions.join(_projects, _projects.c.id == _versions.c.project_id))
    .where(_versions.c.id == bindparam("version_id"))
)


@router.get(
    "/{dataset_id}/media/{asset_id}",
    response_class=FileResponse,
    responses={
        200: {"description": "the image, or a JPEG thumbnail", "content": dict.fromkeys(_IMAGE_TYPES, {})}
    },
)
async def asset_media(
    dataset_id: DbId,
    asset_id: str,
    request: Request,
    t: str = Query(
        ..., max_length=64, description="the version's media token (``media_token`` of its asset pages)"
    ),
    size: int | None = Query(
        None, ge=32, le=1024, description="a thumbnail of at most this many pixels a side"
    ),
) -> Response:
    """An asset's image (or a thumbnail) by a signed link, without an Authorization header, so that an
    ``<img src>`` can load it and the browser cache it: 404 for a token that is not the version's, 401
    once it expired (a new page of assets carries a new one)."""
    settings: BackendSettings = request.app.state.settings
    why = media.check_token(settings.key(), dataset_id, t)
    if why == "expired":
        raise ApiError(401, "media_link_expired", "this image link expired; reload the page for a new one")
    if why is not None:
        raise not_found("dataset", dataset_id)
    database: Database = request.app.state.db
    row = await database.read_one(_MEDIA_VERSION, {"version_id": dataset_id})
    if row is None or row[3] or row[4] or str(row[2]) != "ready":
        raise not_found("dataset", dataset_id)
    path = _asset_file(settings, asset_id)
    root = settings.root / f"repos/project-{row[0]}"  # = repo_path(settings, project)
    cache: browse.BrowseCache = request.app.state.browse
    index = cache.cached(root, str(row[1]))
    if index is None:
        index = await run_in_threadpool(cache.get, root, str(row[1]))
    if not await run_in_threadpool(lambda: asset_id in index.ids):  # the id set is built on first use
        raise not_found("asset", asset_id)
    headers = {"Cache-Control": "private, max-age=86400, immutable"}  # a version never changes
    if size is None:
        return FileResponse(path, media_type=image_content_type(path), headers=headers)
    thumb = settings.root / "thumbnails" / str(size) / asset_id[-2:] / f"{asset_id}.jpg"
    if thumb.exists():
        return FileResponse(thumb, media_type="image/jpeg", headers=headers)
    return await run_in_threadpool(_cached_thumbnail, settings, path, asset_id, dataset_id, size, headers)


THUMBNAIL_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
"""Pillow's own decompression-bomb limit: an image larger than this is never decoded for a thumbnail."""


def _thumbnail(path: Path, asset_id: str, dataset_id: int, size: int) -> io.BytesIO:
    """A JPEG of at most ``size`` pixels a side; 422 for an image too large (or too broken) to decode."""
    try:
        with Image.open(path) as img:
            pixels = img.width * img.height
            if pixels > THUMBNAIL_MAX_PIXELS:
                raise ApiError(
                    422,
                    "image_too_large",
                    f"asset {asset_id} is {img.width}x{img.height} pixels, more than the "
                    f"{THUMBNAIL_MAX_PIXELS} a thumbnail is made from; download the image itself "
                    f"(GET /api/v1/datasets/{dataset_id}/assets/{asset_id}/image)",
                )
            img.draft("RGB", (size, size))
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG", quality=85)
            return buf
    except Image.DecompressionBombError as e:  # Pillow refuses to even open it
        raise ApiError(
            422,
            "image_too_large",
            f"asset {asset_id} has more than the {THUMBNAIL_MAX_PIXELS} pixels a thumbnail is made from; "
            f"download the image itself (GET /api/v1/datasets/{dataset_id}/assets/{asset_id}/image)",
        ) from e
    except (OSError, SyntaxError) as e:
        raise ApiError(
            422,
            "image_unreadable",
            f"no thumbnail can be made of asset {asset_id} ({type(e).__name__}); download the image "
            f"itself (GET /api/v1/datasets/{dataset_id}/assets/{asset_id}/image)",
        ) from e


@router.get("/{dataset_id}/evaluation")
def evaluation(dataset_id: DbId, user: CurrentUser, db: DB) -> dict[str, Any]:
    """mAP, per-class AP, PR curves and confusion of an evaluated version."""
    dv, _ = version_of(db, user, dataset_id)
    if not dv.evaluation:
        raise ApiError(
            404, "not_evaluated", f"dataset {dv.id} has no evaluation; POST /datasets/{dv.id}/evaluate"
        )
    return evaluations.by_class_name(dv.evaluation)

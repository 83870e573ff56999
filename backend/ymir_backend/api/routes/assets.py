"""Browsing a dataset version: paged assets with their boxes, filtered by class, gt/pred, TP/FP/FN,
type and tag; the image and a thumbnail; class statistics and the evaluation."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from PIL import Image

from mir.labels import Labels
from mir.store import media
from mir.store.repo import Repo
from ymir_backend.api.deps import DB, CurrentUser, Settings
from ymir_backend.api.routes.datasets import ready, version_of
from ymir_backend.errors import ApiError, not_found
from ymir_backend.services import browse
from ymir_backend.services.repos import repo_path

router = APIRouter(prefix="/datasets", tags=["browsing"])

_labels_cache: dict[Path, tuple[tuple[Any, ...], Labels]] = {}
_labels_lock = threading.Lock()


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _labels(root: Path) -> Labels:
    """The repository's labels, parsed again only when labels.yaml or labels.csv changed (parsing the
    YAML took longer than the rest of a page). Callers must not change the object returned."""
    repo = Repo(root)
    stamp = (_stamp(repo.labels_path), _stamp(repo.root / "labels.csv"))
    with _labels_lock:
        hit = _labels_cache.get(repo.root)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    labels = repo.labels()
    with _labels_lock:
        _labels_cache[repo.root] = (stamp, labels)
    return labels


@router.get("/{dataset_id}/assets", response_model=dict[str, Any])
def list_assets(
    dataset_id: int,
    request: Request,
    user: CurrentUser,
    db: DB,
    settings: Settings,
    offset: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=200),
    class_name: str | None = None,
    side: Literal["gt", "pred", "any"] = "any",
    mark: Literal["tp", "fp", "fn", "mtp", "ignored"] | None = None,
    tvt: Literal["train", "val", "test", "unknown"] | None = None,
    tag: str | None = Query(None, description="key or key=value"),
) -> Response:
    """A page of assets with their gt and pred boxes (pixels, xywh)."""
    dv, project = version_of(db, user, dataset_id)
    ready(dv)
    root = repo_path(settings, project)
    labels = _labels(root)
    class_ids = None
    if class_name is not None:
        cid = labels.id_of(class_name)
        if cid is None:
            raise ApiError(400, "unknown_class", f"class {class_name!r} is not a label of this project")
        class_ids = [cid]
    index = request.app.state.browse.get(root, dv.rev)
    rows = browse.select_rows(index, class_ids=class_ids, side=side, mark=mark, tvt=tvt, tag=tag)
    names = dict(enumerate(labels.names()))
    items = browse.page(index, rows, offset, limit, names)
    # plain JSON types already: skip FastAPI's jsonable_encoder walk over every box
    return JSONResponse({"items": items, "total": int(len(rows)), "offset": offset, "limit": limit})


def _asset_file(settings: Settings, asset_id: str) -> Any:
    if len(asset_id) != 40 or any(c not in "0123456789abcdef" for c in asset_id):
        raise not_found("asset", asset_id)
    path = media.locate(settings.root / "media", asset_id)
    if path is None:
        raise not_found("asset", asset_id)
    return path


def _in_version(request: Request, settings: Settings, project: Any, rev: str, asset_id: str) -> None:
    index = request.app.state.browse.get(repo_path(settings, project), rev)
    if asset_id not in index.ids:
        raise not_found("asset", asset_id)


@router.get("/{dataset_id}/assets/{asset_id}/image")
def asset_image(
    dataset_id: int, asset_id: str, request: Request, user: CurrentUser, db: DB, settings: Settings
) -> FileResponse:
    """The image itself (only through a version the user may see)."""
    dv, project = version_of(db, user, dataset_id)
    path = _asset_file(settings, asset_id)
    _in_version(request, settings, project, dv.rev, asset_id)
    return FileResponse(path, headers={"Cache-Control": "private, max-age=86400"})


@router.get("/{dataset_id}/assets/{asset_id}/thumbnail")
def asset_thumbnail(
    dataset_id: int,
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
    cache = settings.root / "thumbnails" / str(size) / asset_id[-2:] / f"{asset_id}.jpg"
    if not cache.exists():
        with Image.open(path) as img:
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG", quality=85)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(cache)
    return Response(
        cache.read_bytes(), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get("/{dataset_id}/evaluation")
def evaluation(dataset_id: int, user: CurrentUser, db: DB) -> dict[str, Any]:
    """mAP, per-class AP, PR curves and confusion of an evaluated version."""
    dv, _ = version_of(db, user, dataset_id)
    if not dv.evaluation:
        raise ApiError(
            404, "not_evaluated", f"dataset {dv.id} has no evaluation; POST /datasets/{dv.id}/evaluate"
        )
    return dv.evaluation

"""Browsing a dataset version: paged assets with their boxes, filtered by class, gt/pred, TP/FP/FN,
type and tag; the image and a thumbnail; class statistics and the evaluation."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from ymir_backend.api.deps import DB, AppDatabase, Browse, CurrentUser, ReadableVersion, Settings
from ymir_backend.assets import service
from ymir_backend.assets.schemas import AssetPage
from ymir_backend.schemas import DB_INT_MAX, DbId

router = APIRouter(prefix="/datasets", tags=["browsing"])

_IMAGE_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/webp")
_CACHED = {"Cache-Control": "private, max-age=86400"}
_IMMUTABLE = {"Cache-Control": "private, max-age=86400, immutable"}  # a version never changes


# Async, unlike most routes: a warm page costs less than the thread-pool hop (assets/service.py page)
@router.get("/{dataset_id}/assets", response_model=AssetPage)
async def list_assets(
    dataset_id: DbId,
    ref: ReadableVersion,
    settings: Settings,
    cache: Browse,
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    limit: int = Query(20, ge=1, le=200),
    class_name: str | None = None,
    side: Literal["gt", "pred", "any"] = "any",
    mark: Literal["tp", "fp", "fn", "mtp", "ignored"] | None = None,
    tvt: Literal["train", "val", "test", "unknown"] | None = None,
    tag: str | None = Query(None, description="key or key=value"),
) -> Response:
    """A page of assets with their gt and pred boxes (pixels, xywh)."""
    filters = service.Filters(class_name=class_name, side=side, mark=mark, tvt=tvt, tag=tag)
    body = await service.page(settings, cache, ref, offset=offset, limit=limit, filters=filters)
    return Response(body, media_type="application/json")


@router.get(
    "/{dataset_id}/assets/{asset_id}/image",
    response_class=FileResponse,
    responses={200: {"description": "the image file", "content": dict.fromkeys(_IMAGE_TYPES, {})}},
)
def asset_image(
    dataset_id: DbId, asset_id: str, user: CurrentUser, db: DB, settings: Settings, cache: Browse
) -> FileResponse:
    """The image itself (only through a version the user may see)."""
    path, media_type = service.image_file(db, settings, cache, user, dataset_id, asset_id)
    return FileResponse(path, media_type=media_type, headers=_CACHED)


@router.get(
    "/{dataset_id}/assets/{asset_id}/thumbnail",
    response_class=Response,
    responses={200: {"description": "a JPEG thumbnail", "content": {"image/jpeg": {}}}},
)
def asset_thumbnail(
    dataset_id: DbId,
    asset_id: str,
    user: CurrentUser,
    db: DB,
    settings: Settings,
    cache: Browse,
    size: int = Query(256, ge=32, le=1024),
) -> Response:
    """A JPEG thumbnail (cached in the workplace)."""
    jpeg = service.thumbnail(db, settings, cache, user, dataset_id, asset_id, size)
    return Response(jpeg, media_type="image/jpeg", headers=_CACHED)


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
    database: AppDatabase,
    settings: Settings,
    cache: Browse,
    t: str = Query(max_length=64, description="the version's media token (``media_token`` of an asset page)"),
    size: int | None = Query(None, ge=32, le=1024, description="a thumbnail of at most this many pixels"),
) -> Response:
    """An asset's image (or a thumbnail) by a signed link, without an Authorization header, so that an
    ``<img src>`` loads it and the browser caches it: 404 for a token that is not the version's, 401
    once it expired (a new page of assets carries a new one)."""
    found, media_type = await service.signed_media(database, settings, cache, dataset_id, asset_id, t, size)
    if isinstance(found, bytes):  # assets are stored by content: the id and size name the bytes
        etag = f'"{asset_id}-{size or "full"}"'
        return Response(found, media_type=media_type, headers={**_IMMUTABLE, "ETag": etag})
    return FileResponse(found, media_type=media_type, headers=_IMMUTABLE)


@router.get("/{dataset_id}/evaluation")
def evaluation(dataset_id: DbId, user: CurrentUser, db: DB) -> dict[str, Any]:
    """mAP, per-class AP, PR curves and confusion of an evaluated version."""
    return service.evaluation(db, user, dataset_id)

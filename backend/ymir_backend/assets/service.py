"""Browsing a dataset version: paged assets with their boxes, filtered by class, gt/pred, TP/FP/FN,
type and tag; the image and a thumbnail; the evaluation."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from fastapi.concurrency import run_in_threadpool
from PIL import Image
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mir.labels import Labels
from mir.store import media
from mir.store.repo import Repo
from ymir_backend.assets import media as signed
from ymir_backend.config import BackendSettings
from ymir_backend.db import Database
from ymir_backend.errors import ApiError, not_found
from ymir_backend.models import DatasetVersion, Project, User
from ymir_backend.services import browse, evaluations
from ymir_backend.services.access import VersionRef, version_of
from ymir_backend.services.repos import repo_path

_versions, _projects = DatasetVersion.__table__, Project.__table__
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


@dataclass(frozen=True, slots=True)
class Filters:
    """Which assets of a version a page lists: with a box of ``class_name`` on ``side`` (gt, pred or
    any), marked ``mark`` (tp, fp, fn, mtp, ignored), of type ``tvt``, tagged ``tag`` (key or key=value)."""

    class_name: str | None = None
    side: str = "any"
    mark: str | None = None
    tvt: str | None = None
    tag: str | None = None


async def page(
    settings: BackendSettings,
    cache: browse.BrowseCache,
    ref: VersionRef | None,
    *,
    offset: int,
    limit: int,
    filters: Filters,
) -> bytes:
    """A page of assets with their gt and pred boxes (pixels, xywh), as JSON.

    Async, unlike most services: with a warm version a page is a few hundred microseconds of work, and
    the thread-pool hop cost more than that under load. What can take long (loading a version, a new
    filter, parsing the label file) runs in the thread pool."""
    assert ref is not None  # None only for an id that is not an integer, refused before this runs
    if ref.state != "ready":
        raise ApiError(
            409, "dataset_not_ready", f"dataset {ref.id} is {ref.state}; wait for its task to finish"
        )
    root = settings.root / f"repos/project-{ref.project_id}"  # = repo_path(settings, project)
    cached = _cached_labels(root)
    labels = cached if cached is not None else await run_in_threadpool(_labels, root)
    class_ids = None
    if filters.class_name is not None:
        cid = labels.id_of(filters.class_name)
        if cid is None:
            raise ApiError(
                400, "unknown_class", f"class {filters.class_name!r} is not a label of this project"
            )
        class_ids = [cid]
    index = cache.cached(root, ref.rev)
    if index is None:
        index = await run_in_threadpool(cache.get, root, ref.rev)
    where: dict[str, Any] = {
        "class_ids": class_ids,
        "side": filters.side,
        "mark": filters.mark,
        "tvt": filters.tvt,
        "tag": filters.tag,
    }
    rows = browse.cached_rows(index, **where)
    if rows is None:
        rows = await run_in_threadpool(partial(browse.select_rows, index, **where))
    names = dict(enumerate(labels.names()))
    items = browse.page(index, rows, offset, limit, names)
    # plain JSON types already: no jsonable_encoder walk; orjson is ~10x faster than json.dumps and
    # writes the same JSON (floats under 1e-4 without an exponent: 0.0000227 rather than 2.27e-05)
    body = {
        "items": items,
        "total": int(len(rows)),
        "offset": offset,
        "limit": limit,
        "media_token": signed.make_token(settings.key(), ref.id),
    }
    return orjson.dumps(body)


def image_content_type(path: Any) -> str:
    """The image's media type from its first bytes (media files are stored by hash, without a suffix)."""
    with open(path, "rb") as handle:
        return _sniff(handle.read(12))


def _sniff(head: bytes) -> str:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG"):
        return "image/png"
    if head.startswith(b"BM"):
        return "image/bmp"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _asset_file(settings: BackendSettings, asset_id: str) -> Path:
    if len(asset_id) != 40 or any(c not in "0123456789abcdef" for c in asset_id):
        raise not_found("asset", asset_id)
    path = media.locate(settings.root / "media", asset_id)
    if path is None:
        raise not_found("asset", asset_id)
    return Path(path)


def _in_version(
    cache: browse.BrowseCache, settings: BackendSettings, project: Project, rev: str, asset_id: str
) -> None:
    index = cache.get(repo_path(settings, project), rev)
    if asset_id not in index.ids:
        raise not_found("asset", asset_id)


def image_file(
    db: Session,
    settings: BackendSettings,
    cache: browse.BrowseCache,
    user: User,
    dataset_id: int,
    asset_id: str,
) -> tuple[Path, str]:
    """The image file of an asset and its media type, only through a version the user may see."""
    dv, project = version_of(db, user, dataset_id)
    path = _asset_file(settings, asset_id)
    _in_version(cache, settings, project, dv.rev, asset_id)
    return path, image_content_type(path)


def thumbnail(
    db: Session,
    settings: BackendSettings,
    cache: browse.BrowseCache,
    user: User,
    dataset_id: int,
    asset_id: str,
    size: int,
) -> bytes:
    """A JPEG thumbnail of at most ``size`` pixels a side, cached in the workplace (served uncached
    when the workplace cannot be written)."""
    dv, project = version_of(db, user, dataset_id)
    path = _asset_file(settings, asset_id)
    _in_version(cache, settings, project, dv.rev, asset_id)
    made = _cached_thumbnail(settings, path, asset_id, dataset_id, size)
    return made if isinstance(made, bytes) else made.read_bytes()


def _thumbnail_path(settings: BackendSettings, asset_id: str, size: int) -> Path:
    return settings.root / "thumbnails" / str(size) / asset_id[-2:] / f"{asset_id}.jpg"


def _cached_thumbnail(
    settings: BackendSettings, path: Path, asset_id: str, dataset_id: int, size: int
) -> Path | bytes:
    """The thumbnail's file in the workplace's cache, made on first use (assets are stored by content,
    so one file per asset and size serves every version); its bytes when the workplace cannot be
    written."""
    cached = _thumbnail_path(settings, asset_id, size)
    if not cached.exists():
        buf = _thumbnail(path, asset_id, dataset_id, size)
        tmp = cached.with_suffix(f".{threading.get_ident()}.tmp")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(buf.getvalue())
            tmp.replace(cached)
        except OSError:  # a full disk (or read-only workplace): serve it uncached
            tmp.unlink(missing_ok=True)
            return buf.getvalue()
    return cached


_MEDIA_VERSION = (
    select(
        _versions.c.project_id, _versions.c.rev, _versions.c.state, _versions.c.deleted, _projects.c.deleted
    )
    .select_from(_versions.join(_projects, _projects.c.id == _versions.c.project_id))
    .where(_versions.c.id == bindparam("version_id"))
)


async def signed_media(
    database: Database,
    settings: BackendSettings,
    cache: browse.BrowseCache,
    dataset_id: int,
    asset_id: str,
    token: str,
    size: int | None,
) -> tuple[Path | bytes, str]:
    """An asset's image (``size`` None) or thumbnail by a signed link (:mod:`ymir_backend.assets.media`):
    the file (or, uncached, the bytes) and its media type. 404 for a token that is not this version's
    (as for a version that does not exist or was deleted), 401 ``media_link_expired`` once it expired.

    Async: a cached thumbnail costs one database round trip and a few checks, less than the thread-pool
    hop; what can take long (loading the version, its id set, making a thumbnail) runs in the pool."""
    why = signed.check_token(settings.key(), dataset_id, token)
    if why == "expired":
        raise ApiError(401, "media_link_expired", "this image link expired; reload the page for a new one")
    if why is not None:
        raise not_found("dataset", dataset_id)
    row = await database.read_one(_MEDIA_VERSION, {"version_id": dataset_id})
    if row is None or row[3] or row[4] or str(row[2]) != "ready":
        raise not_found("dataset", dataset_id)
    path = _asset_file(settings, asset_id)
    root = settings.root / f"repos/project-{row[0]}"  # = repo_path(settings, project)
    index = cache.cached(root, str(row[1]))
    if index is None:
        index = await run_in_threadpool(cache.get, root, str(row[1]))
    held = index.has(asset_id)
    if held is None:  # the id set is built on first use
        held = await run_in_threadpool(lambda: asset_id in index.ids)
    if not held:
        raise not_found("asset", asset_id)
    if size is None:
        found = _small_file(path)
        return found, _sniff(found[:12]) if isinstance(found, bytes) else image_content_type(found)
    thumb = _thumbnail_path(settings, asset_id, size)
    if thumb.exists():
        return _small_file(thumb), "image/jpeg"
    made = await run_in_threadpool(_cached_thumbnail, settings, path, asset_id, dataset_id, size)
    return made, "image/jpeg"


SMALL_FILE = 512 * 1024
"""Media files up to this size are answered from memory: a thumbnail (or a small image) read at once
costs less than a FileResponse's thread-pool hops for stat, open and read, ~30 of which load a grid."""


def _small_file(path: Path) -> Path | bytes:
    """The file's bytes when it is small, else its path (streamed by a FileResponse)."""
    try:
        if path.stat().st_size <= SMALL_FILE:
            return path.read_bytes()
    except OSError:
        pass  # gone meanwhile: the FileResponse answers for it
    return path


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


def evaluation(db: Session, user: User, dataset_id: int) -> dict[str, Any]:
    """mAP, per-class AP, PR curves and confusion of an evaluated version."""
    dv, _ = version_of(db, user, dataset_id)
    if not dv.evaluation:
        raise ApiError(
            404, "not_evaluated", f"dataset {dv.id} has no evaluation; POST /datasets/{dv.id}/evaluate"
        )
    return evaluations.by_class_name(dv.evaluation)

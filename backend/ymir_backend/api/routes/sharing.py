"""The sharing folder, browsed: what a server-path import (``POST /projects/{id}/datasets/path``) can
read, so the GUI can offer it as a folder picker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ymir_backend.api.deps import CurrentUser, Settings
from ymir_backend.errors import ApiError
from ymir_backend.services import sharing

router = APIRouter(prefix="/sharing", tags=["sharing folder"])


class SharingEntry(BaseModel):
    name: str
    path: str = Field(description="relative to the sharing folder: give it to the path import as is")
    is_dir: bool
    files: int | None = Field(description="folders: how many files lie directly inside")
    size: int | None = Field(description="files: bytes")
    images_folder: bool = Field(description="the folder holds images/ (or JPEGImages/): importable")


class SharingListing(BaseModel):
    folder: str = Field(description="the sharing folder on the server (absolute)")
    path: str = Field(description="the listed folder, relative to the sharing folder ('' for itself)")
    items: list[SharingEntry]
    total: int
    offset: int
    limit: int


@router.get("", response_model=SharingListing)
def list_sharing(
    _: CurrentUser,
    settings: Settings,
    path: Annotated[str, Query(max_length=1000, description="a folder, absolute or relative")] = "",
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> SharingListing:
    """Folders (first) and files of a folder under the sharing folder, a page at a time."""
    root = sharing.sharing_root(settings)
    if not root.is_dir():
        raise ApiError(
            404,
            "no_sharing_folder",
            f"the sharing folder {sharing.shown(settings)} does not exist",
            fix="create it (./ymir.sh start does) or set YMIR_SHARING_DIR",
        )
    folder, rel = sharing.locate(settings, path, where="query") if path else (root, "")
    if not folder.is_dir():
        raise ApiError(
            422, "not_a_folder", f"path: {path!r} is a file", fix="give a folder", loc=("query", "path")
        )
    entries = sharing.listing(root, folder)
    page = entries[offset : offset + limit]
    return SharingListing(
        folder=str(root),
        path=rel,
        items=[SharingEntry(**vars(e)) for e in page],
        total=len(entries),
        offset=offset,
        limit=limit,
    )

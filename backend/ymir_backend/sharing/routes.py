"""The sharing folder, browsed: what a server-path import (``POST /projects/{id}/datasets/path``) can
read, so the GUI can offer it as a folder picker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ymir_backend.api.deps import CurrentUser, Settings
from ymir_backend.sharing import service
from ymir_backend.sharing.schemas import SharingListing

router = APIRouter(prefix="/sharing", tags=["sharing folder"])


@router.get("", response_model=SharingListing)
def list_sharing(
    _: CurrentUser,
    settings: Settings,
    path: Annotated[str, Query(max_length=1000, description="a folder, absolute or relative")] = "",
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> SharingListing:
    """Folders (first) and files of a folder under the sharing folder, a page at a time."""
    return service.list_folder(settings, path=path, offset=offset, limit=limit)

"""The sharing folder: the one server folder path imports read, named by absolute or relative paths,
browsed by the GUI, and never left through a symbolic link."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError
from ymir_backend.sharing.schemas import SharingEntry, SharingListing


def sharing_root(settings: BackendSettings) -> Path:
    """The sharing folder, absolute, links resolved (``YMIR_SHARING_DIR``, relative to the workplace)."""
    return Path(os.path.realpath(settings.root / settings.sharing_dir))


def shown(settings: BackendSettings) -> str:
    """How errors name the sharing folder: relative to the workplace (errors carry no absolute server
    paths; ``./ymir.sh start`` prints the absolute one and ``GET /api/v1/sharing`` answers it)."""
    return f"'{settings.sharing_dir}' (in the workplace; GET /api/v1/sharing shows where)"


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (links resolved) is ``root`` or below it."""
    real = os.path.realpath(path)
    return real == str(root) or real.startswith(str(root) + os.sep)


def locate(
    settings: BackendSettings, path: str, *, field: str = "path", where: str = "body"
) -> tuple[Path, str]:
    """The folder ``path`` names (absolute under the sharing folder, or relative to it) and its path
    relative to the sharing folder (``""`` for the folder itself). Errors name ``(where, field)`` as
    their ``loc``, so the form field at fault is marked.

    Raises:
        ApiError: 422 naming the sharing folder when ``path`` leads outside it (also through a link),
            or 404 when nothing is there.
    """
    root = sharing_root(settings)
    raw = path.strip()
    given = Path(raw)
    if given.is_absolute():
        # an absolute path may name the folder through the configured (unresolved) spelling too
        spelled = Path(os.path.abspath(settings.root / settings.sharing_dir))
        candidate = Path(os.path.abspath(given))
        if candidate != spelled and spelled not in candidate.parents and not inside(root, candidate):
            raise ApiError(
                422,
                "outside_sharing_folder",
                f"{field}: {raw!r} is not under the sharing folder {shown(settings)}",
                fix="copy the dataset into the sharing folder (or a folder below it) and give that path, "
                "absolute or relative to the sharing folder",
                loc=(where, field),
            )
    else:
        candidate = root / given
    if not inside(root, candidate):
        raise ApiError(
            422,
            "outside_sharing_folder",
            f"{field}: {raw!r} leads out of the sharing folder {shown(settings)} (through '..' or a "
            "symbolic link)",
            fix="copy the dataset into the sharing folder instead of linking to it",
            loc=(where, field),
        )
    real = Path(os.path.realpath(candidate))
    if not real.exists():
        raise ApiError(
            404,
            "path_not_found",
            f"{field}: nothing at {raw!r} in the sharing folder {shown(settings)}",
            fix="list the sharing folder with GET /api/v1/sharing to see what is there",
            loc=(where, field),
        )
    rel = os.path.relpath(real, root)
    return real, "" if rel == "." else rel


@dataclass
class Entry:
    """One item of a sharing-folder listing."""

    name: str
    path: str  # relative to the sharing folder
    is_dir: bool
    files: int | None  # folders: files directly inside; None for files
    size: int | None  # files: bytes
    images_folder: bool  # folders holding images/ (or JPEGImages/): importable as they are


def listing(root: Path, folder: Path) -> list[Entry]:
    """The entries of ``folder`` (folders first, by name); links that lead out of the sharing folder
    are left out, so the listing never shows (or lets anyone walk) what lies outside."""
    out: list[Entry] = []
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_symlink() and not inside(root, Path(e.path)):
                continue
            rel = os.path.relpath(e.path, root)
            if e.is_dir():
                files = 0
                images = False
                try:
                    with os.scandir(e.path) as sub:
                        for s in sub:
                            if s.is_file():
                                files += 1
                            elif s.name.lower() in ("images", "jpegimages") and s.is_dir():
                                images = True
                except OSError:
                    pass
                out.append(Entry(e.name, rel, True, files, None, images))
            elif e.is_file():
                out.append(Entry(e.name, rel, False, None, e.stat().st_size, False))
    out.sort(key=lambda x: (not x.is_dir, x.name.lower()))
    return out


def list_folder(settings: BackendSettings, *, path: str, offset: int, limit: int) -> SharingListing:
    """Folders (first) and files of a folder under the sharing folder, a page at a time."""
    root = sharing_root(settings)
    if not root.is_dir():
        raise ApiError(
            404,
            "no_sharing_folder",
            f"the sharing folder {shown(settings)} does not exist",
            fix="create it (./ymir.sh start does) or set YMIR_SHARING_DIR",
        )
    folder, rel = locate(settings, path, where="query") if path else (root, "")
    if not folder.is_dir():
        raise ApiError(
            422, "not_a_folder", f"path: {path!r} is a file", fix="give a folder", loc=("query", "path")
        )
    entries = listing(root, folder)
    page = entries[offset : offset + limit]
    return SharingListing(
        folder=str(root),
        path=rel,
        items=[SharingEntry(**vars(e)) for e in page],
        total=len(entries),
        offset=offset,
        limit=limit,
    )

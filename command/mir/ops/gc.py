"""``mir gc``: remove image files of a media location that no version of its repositories names.

Image bytes are stored by content and shared by every repository that uses the location, so no single
command can tell that a file is no longer needed: an import that fails after storing its images leaves
them behind (a retry reuses them). gc is told every repository of the location, reads the asset ids of
every commit each holds (also one a killed write left unpublished, and a write's staging), and removes
the files named by none of them that are older than ``older_than_hours``.

It holds the location's lock exclusively (:func:`mir.store.lock.media_lock`) while it reads and removes:
an import holds it shared from its first stored image to its commit, so gc never removes a file that an
import found present and is about to name. The age limit also keeps files written by programs that do
not take the lock (YMIR's own mir, a copy in progress). Without ``delete`` it only reports.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from mir.errors import InputFileError, InvalidArgsError
from mir.store.lock import media_lock
from mir.store.repo import Repo

_ASSET_ID = re.compile(r"[0-9a-f]{40}")


@dataclass
class GcReport:
    """What gc found (and removed, with ``delete``)."""

    repositories: int
    tables: int  # asset tables read: every commit and staged write
    referenced: int  # distinct asset ids named by some commit
    files: int  # image files in the location
    unreferenced: int  # of those, named by no commit
    unreferenced_bytes: int
    too_young: int  # unreferenced but not older than the age limit: kept
    removable: list[Path] = field(default_factory=list)  # what is (or, without delete, would be) removed
    removable_bytes: int = 0
    removed: int = 0
    removed_bytes: int = 0


def repositories_in(folder: Path) -> list[Path]:
    """The mir repositories directly inside ``folder`` (a workplace's ``repos/``), sorted."""
    if not folder.is_dir():
        raise InvalidArgsError(f"{folder} is not a folder", fix="pass the folder that holds the repositories")
    return sorted(p for p in folder.iterdir() if (p / ".mir").is_dir())


def collect(
    media_location: Path,
    repos: Sequence[Path],
    *,
    older_than_hours: float = 24.0,
    delete: bool = False,
    wait_seconds: float = 0.0,
    now: float | None = None,
) -> GcReport:
    """Find (and with ``delete`` remove) the image files of ``media_location`` no commit of ``repos`` names.

    Raises:
        InvalidArgsError: No repository given, a negative age, or a location that is not a folder.
        NotARepositoryError: One of ``repos`` is not a mir repository (a wrong path would make its
            images look unused).
        InputFileError: A version's asset table cannot be read (nothing is removed then).
        LockTimeoutError: An import held the location for longer than ``wait_seconds``.
    """
    if not repos:
        raise InvalidArgsError(
            "no repository given: every image would look unused",
            fix="name every repository that uses this media location (--repo, or --repos-in a folder)",
        )
    if older_than_hours < 0:
        raise InvalidArgsError(f"--older-than-hours {older_than_hours} is negative", fix="pass 0 or more")
    if not media_location.is_dir():
        raise InvalidArgsError(
            f"media location {media_location} is not a folder", fix="check --media-location"
        )
    opened = [Repo(Path(r)) for r in repos]  # each checked before anything is read or removed
    now = time.time() if now is None else now
    limit = now - older_than_hours * 3600
    with media_lock(media_location, exclusive=True, timeout=wait_seconds):
        referenced: set[str] = set()
        tables = 0
        for repo in opened:
            for table, staged in _asset_tables(repo):
                try:
                    referenced.update(pq.read_table(table, columns=["asset_id"]).column(0).to_pylist())
                except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
                    if staged:  # being written by a merge or filter: it names only committed images
                        continue
                    raise InputFileError(
                        table,
                        f"cannot be read ({e}); gc removed nothing",
                        fix="restore this version's folder from a backup: its images would look unused",
                    ) from e
                tables += 1
        report = GcReport(len(opened), tables, len(referenced), 0, 0, 0, 0)
        for path, st in _image_files(media_location):
            report.files += 1
            if path.name in referenced:
                continue
            report.unreferenced += 1
            report.unreferenced_bytes += st.st_size
            if st.st_mtime > limit:
                report.too_young += 1
                continue
            report.removable.append(path)
            report.removable_bytes += st.st_size
            if delete:
                path.unlink(missing_ok=True)
                report.removed += 1
                report.removed_bytes += st.st_size
    return report


def _asset_tables(repo: Repo) -> Iterator[tuple[Path, bool]]:
    """The asset tables of every staged write and every commit folder, published or not, with whether
    the table is staged. Staging first: a write that publishes meanwhile moves from there to commits/."""
    for folder, staged in ((repo.mir / "tmp", True), (repo.mir / "commits", False)):
        if folder.is_dir():
            for d in sorted(folder.iterdir()):
                if (d / "assets.parquet").is_file():
                    yield d / "assets.parquet", staged


def _image_files(location: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Files named by a sha1 in the sub-folder layout (``ab/<sha1 ending in ab>``) or the flat one."""
    with os.scandir(location) as top:
        for entry in top:
            if entry.is_file(follow_symlinks=False) and _ASSET_ID.fullmatch(entry.name):
                yield Path(entry.path), entry.stat(follow_symlinks=False)
            elif entry.is_dir(follow_symlinks=False) and len(entry.name) == 2:
                with os.scandir(entry.path) as sub:
                    for f in sub:
                        if f.is_file(follow_symlinks=False) and _ASSET_ID.fullmatch(f.name):
                            if f.name.endswith(entry.name):
                                yield Path(f.path), f.stat(follow_symlinks=False)

"""Getting imported datasets onto disk safely: downloads with a size cap, zip extraction that
refuses path traversal, links and zip bombs, and finding ``images/`` + ``annotations/`` inside.

The checks do not trust the archive's headers alone: extraction counts the bytes it really writes
and stops at the declared size and at the overall limit.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path, PurePosixPath

import httpx

from mir.errors import InputFileError

IMAGE_DIRS = ("images", "jpegimages")
GT_DIRS = ("annotations", "gt")
PRED_DIRS = ("predictions", "pred")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def download(url: str, dest: Path, *, max_bytes: int, timeout: float) -> Path:
    """Stream ``url`` to ``dest``; refuse non-HTTP(S) URLs, HTTP errors and oversized bodies."""
    if not url.lower().startswith(("http://", "https://")):
        raise InputFileError(
            url, "only http:// and https:// URLs can be imported", fix="give a web address of a zip"
        )
    written = 0
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise InputFileError(
                    url,
                    f"the server answered HTTP {response.status_code}",
                    fix="check the URL (it must download a .zip)",
                )
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise InputFileError(
                    url,
                    f"the file is {declared} bytes, over the limit of {max_bytes}",
                    fix="import it from the sharing folder instead",
                )
            with open(dest, "wb") as f:
                for chunk in response.iter_bytes(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:
                        raise InputFileError(
                            url,
                            f"the download exceeds the limit of {max_bytes} bytes",
                            fix="import it from the sharing folder instead",
                        )
                    f.write(chunk)
    except httpx.HTTPError as e:
        raise InputFileError(
            url, f"cannot download ({e.__class__.__name__}: {e})", fix="check the URL"
        ) from e
    return dest


def _check_entry(info: zipfile.ZipInfo, source: str) -> None:
    name = info.filename
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":"):
        raise InputFileError(
            source,
            f"the archive entry {name!r} points outside the archive (zip-slip)",
            fix="re-create the zip with relative paths inside one folder",
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InputFileError(
            source,
            f"the archive entry {name!r} is a symbolic link",
            fix="zip the files themselves, not links",
        )


def safe_extract(
    archive: Path, dest: Path, *, max_total: int, max_ratio: float, max_entries: int, label: str = ""
) -> Path:
    """Extract a zip into ``dest`` after checking every entry; raise InputFileError on anything unsafe."""
    source = label or str(archive)
    if not zipfile.is_zipfile(archive):
        head = archive.read_bytes()[:16] if archive.is_file() else b""
        raise InputFileError(
            source,
            f"is not a zip archive (it starts with {head!r})",
            fix="upload a .zip holding images/ and annotations/",
        )
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise InputFileError(
                source, f"the archive holds {len(infos)} entries, over the limit of {max_entries}"
            )
        total = 0
        for info in infos:
            _check_entry(info, source)
            total += info.file_size
            if (
                info.compress_size
                and info.file_size > (1 << 20)
                and info.file_size / info.compress_size > max_ratio
            ):
                raise InputFileError(
                    source,
                    f"{info.filename!r} expands {info.file_size / info.compress_size:.0f}-fold (a zip bomb?)",
                    fix="upload images, which do not compress that much",
                )
        if total > max_total:
            raise InputFileError(
                source,
                f"the archive would expand to {total} bytes, over the limit of {max_total}",
                fix="split it, or import it from the sharing folder",
            )
        dest.mkdir(parents=True, exist_ok=True)
        written_total = 0
        for info in infos:
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(target, "wb") as out:
                while block := src.read(1 << 20):
                    written += len(block)
                    written_total += len(block)
                    if written > info.file_size or written_total > max_total:
                        raise InputFileError(
                            source, f"{info.filename!r} expands beyond its declared size (a zip bomb?)"
                        )
                    out.write(block)
    return dest


def _find_dir(root: Path, names: tuple[str, ...], depth: int = 3) -> Path | None:
    level = [root]
    for _ in range(depth + 1):
        nxt: list[Path] = []
        for folder in sorted(level):
            for child in sorted(p for p in folder.iterdir() if p.is_dir()):
                if child.name.lower() in names:
                    return child
                nxt.append(child)
        level = nxt
    return None


def locate_dataset(root: Path, source: str) -> tuple[Path, Path | None, Path | None]:
    """The ``images`` folder (or VOC's ``JPEGImages``) and its sibling ``annotations``/``gt`` and
    ``predictions``/``pred`` folders, searched up to three levels deep."""
    images = _find_dir(root, IMAGE_DIRS)
    if images is None:
        raise InputFileError(
            source,
            "holds no images/ folder",
            fix="lay the dataset out as images/ (and annotations/ with VOC, COCO or YOLO files)",
        )
    siblings = {p.name.lower(): p for p in images.parent.iterdir() if p.is_dir()}
    gt = next((siblings[n] for n in GT_DIRS if n in siblings), None)
    pred = next((siblings[n] for n in PRED_DIRS if n in siblings), None)
    return images, gt, pred


def write_index(images: Path, index: Path) -> int:
    """List the image files of ``images`` (recursively, sorted) into ``index``; returns the count."""
    files = sorted(str(p) for p in images.rglob("*") if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    index.write_text("".join(f + "\n" for f in files))
    return len(files)


def inside(base: Path, candidate: Path) -> bool:
    """Whether ``candidate`` (after resolving links) lies in ``base``."""
    base_real = os.path.realpath(base)
    real = os.path.realpath(candidate)
    return real == base_real or real.startswith(base_real + os.sep)

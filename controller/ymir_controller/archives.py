"""Getting imported datasets onto disk safely: zip extraction that refuses path traversal, links
and zip bombs, and finding ``images/`` + ``annotations/`` inside (downloads: :mod:`.fetch`).

The checks do not trust the archive's headers alone: extraction counts the bytes it really writes
and stops at the declared size and at the overall limit.
"""

from __future__ import annotations

import os
import stat
import threading
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from mir.errors import CancelledError, InputFileError

IMAGE_DIRS = ("images", "jpegimages")
GT_DIRS = ("annotations", "gt")
PRED_DIRS = ("predictions", "pred")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def _check_entry(info: zipfile.ZipInfo, source: str) -> None:
    name = info.filename
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":"):
        raise InputFileError(
            source,
            f"the archive entry {name!r} points outside the archive (zip-slip)",
            fix="re-create the zip with relative paths inside one folder",
        )
    if any(c in name for c in "\t\n\r"):  # the import lists entries one per line
        raise InputFileError(
            source,
            f"the archive entry {name!r} has a tab or a line break in its name",
            fix="rename the file and zip it again",
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InputFileError(
            source,
            f"the archive entry {name!r} is a symbolic link",
            fix="zip the files themselves, not links",
        )


_RATIO_FLOOR = 1 << 20  # bytes any archive may expand to whatever its size (a tiny zip of a few files)


def _bomb(source: str, what: str) -> InputFileError:
    return InputFileError(
        source,
        f"{what} (a zip bomb?)",
        fix="zip images, which do not compress that much, or import the folder from the sharing folder",
    )


def safe_extract(
    archive: Path,
    dest: Path,
    *,
    max_total: int,
    max_ratio: float,
    max_entries: int,
    label: str = "",
    should_cancel: Callable[[], bool] = lambda: False,
    images_in_place: bool = False,
    on_plan: Callable[[list[int], list[int]], None] = lambda written, in_place: None,
) -> Path:
    """Extract a zip into ``dest`` after checking every entry; raise InputFileError on anything unsafe.

    With ``images_in_place`` the image entries (JPEG, PNG, BMP, WebP) are checked but not written,
    only their folders: the import reads them straight from the archive (:func:`image_entries`),
    so a zip of many small images is not unpacked onto disk first. ``on_plan`` gets the sizes of the
    entries to be written and of those left in place once the headers passed, before anything is
    written (a free-space check raises there).

    Limits count every entry, whatever its size: the number of entries, each entry's size and
    ratio, and the running total of all of them against ``max_total`` and against ``max_ratio``
    times the archive's own size (many small entries that each look harmless add up). The headers
    are checked first; extraction then counts the bytes it really writes against the same limits,
    so a zip that lies about its sizes is stopped too. ``should_cancel`` is looked at before each
    entry and each MiB written (raises CancelledError).
    """
    source = label or archive.name
    if not zipfile.is_zipfile(archive):
        raise InputFileError(
            source,
            "is not a zip archive",
            fix="upload a .zip holding images/ and annotations/",
        )
    ratio_budget = max(int(max_ratio * archive.stat().st_size), _RATIO_FLOOR)
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise InputFileError(
                source,
                f"the archive holds {len(infos)} entries, over the limit of {max_entries}",
                fix="split it, or import it from the sharing folder",
            )
        total = 0
        for info in infos:
            _check_entry(info, source)
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
                raise _bomb(
                    source,
                    f"{info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f}-fold",
                )
        if total > ratio_budget:
            raise _bomb(
                source,
                f"its {len(infos)} entries expand to {total} bytes, more than {max_ratio:.0f} times "
                f"the archive's {archive.stat().st_size} bytes",
            )
        if total > max_total:
            raise InputFileError(
                source,
                f"the archive would expand to {total} bytes, over the limit of {max_total}",
                fix="split it, or import it from the sharing folder",
            )
        files = [i for i in infos if not i.is_dir()]
        kept = [images_in_place and i.filename.lower().endswith(_IMAGE_SUFFIXES) for i in files]
        on_plan(
            [i.file_size for i, k in zip(files, kept, strict=True) if not k],
            [i.file_size for i, k in zip(files, kept, strict=True) if k],
        )
        dest.mkdir(parents=True, exist_ok=True)
        made: set[Path] = set()
        todo: dict[Path, zipfile.ZipInfo] = {}  # target -> entry; a name given twice: the last one wins
        for info in infos:
            if should_cancel():
                raise CancelledError("the task was cancelled while unpacking")
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            if images_in_place and info.filename.lower().endswith(_IMAGE_SUFFIXES):
                continue
            todo.pop(target, None)
            todo[target] = info
        # creating files is what costs here (an annotation file per image); waiting on the disk overlaps
        # in threads. Every entry is cut at its declared size, and the declared sizes were checked against
        # the limits above, so no running total is needed.
        items = list(todo.items())
    if len(items) < _THREADED:
        _write_entries(archive, items, source, should_cancel)
        return dest
    failed = threading.Event()

    def stop() -> bool:
        return failed.is_set() or should_cancel()

    def part(k: int) -> None:
        try:
            _write_entries(archive, items[k::_WRITERS], source, stop)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="unzip") as ex:
        futures = [ex.submit(part, k) for k in range(_WRITERS)]
    errors = [e for f in futures if (e := f.exception()) is not None]
    if errors:  # the first real cause, not a writer that stopped because another one failed
        raise next((e for e in errors if not isinstance(e, CancelledError)), errors[0])
    return dest


_THREADED = 64  # entries from which writing is spread over threads
_WRITERS = 8


def _write_entries(
    archive: Path,
    entries: list[tuple[Path, zipfile.ZipInfo]],
    source: str,
    should_cancel: Callable[[], bool],
) -> None:
    """Write entries through this thread's own handle on the archive, each stopped at its declared
    size (a zip lying about its sizes is a bomb)."""
    with zipfile.ZipFile(archive) as zf:
        for target, info in entries:
            if should_cancel():
                raise CancelledError("the task was cancelled while unpacking")
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while block := src.read(1 << 20):
                        if should_cancel():
                            raise CancelledError("the task was cancelled while unpacking")
                        written += len(block)
                        if written > info.file_size:
                            raise _bomb(source, f"{info.filename!r} expands beyond its declared size")
                        out.write(block)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
                # zipfile stops at the declared size and finds the CRC wrong: a damaged or lying zip
                raise InputFileError(
                    source,
                    f"the entry {info.filename!r} is damaged ({e})",
                    fix="re-create the zip and upload it again",
                ) from e


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


def write_index(images: Path, index: Path) -> tuple[int, list[int]]:
    """List the image files of ``images`` (recursively, sorted) into ``index``; returns the count and
    their sizes in bytes."""
    files = sorted(
        (str(p), p.stat().st_size)
        for p in images.rglob("*")
        if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file()
    )
    index.write_text("".join(f + "\n" for f, _ in files))
    return len(files), [s for _, s in files]


def image_entries(archive: Path, folder: PurePosixPath, index: Path) -> tuple[int, list[int]]:
    """List the image entries of ``archive`` below ``folder`` (a path inside the archive, as found by
    :func:`locate_dataset` in its unpacked skeleton) into ``index``, sorted; returns the count and
    their sizes in bytes."""
    depth = len(folder.parts)
    with zipfile.ZipFile(archive) as zf:
        entries = sorted(
            (info.filename, info.file_size)
            for info in zf.infolist()
            if not info.is_dir()
            and info.filename.lower().endswith(_IMAGE_SUFFIXES)
            and PurePosixPath(info.filename).parts[:depth] == folder.parts
        )
    index.write_text("".join(n + "\n" for n, _ in entries))
    return len(entries), [s for _, s in entries]


def inside(base: Path, candidate: Path) -> bool:
    """Whether ``candidate`` (after resolving links) lies in ``base``."""
    base_real = os.path.realpath(base)
    real = os.path.realpath(candidate)
    return real == base_real or real.startswith(base_real + os.sep)

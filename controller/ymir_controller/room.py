"""Free space: an import estimates what it will write and refuses to start when that does not fit,
instead of filling the disk halfway through.

The estimate counts every file as whole blocks of the file system (a 600-byte image takes 4 KiB on
most of them) and keeps a margin: 10 % of the estimate plus 1 % of the disk. It is an upper bound
where images are already stored (content already in ``media/`` is not written again): a re-import of
the same large folder onto a nearly full disk is refused although it would fit.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from mir.errors import NoSpaceError

BLOCK = 4096
MARGIN = 0.10


def size_text(n: float) -> str:
    """Bytes for people: GB from 1 GB up, else MB."""
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def stored(sizes: Iterable[int]) -> int:
    """Bytes files of these sizes take on disk (whole blocks)."""
    return sum(-(-s // BLOCK) * BLOCK if s else BLOCK for s in sizes)


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest existing parent (what :func:`shutil.disk_usage` can ask about)."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check(folder: Path, need: int, *, what: str, label: str) -> None:
    """Raise :class:`mir.errors.NoSpaceError` when ``need`` bytes (plus the margin) do not fit on the
    disk of ``folder``; ``what`` says what would be written, ``label`` names the place for users."""
    try:
        usage = shutil.disk_usage(existing_parent(folder))
    except OSError:
        return
    want = int(need * (1 + MARGIN)) + usage.total // 100
    if want > usage.free:
        raise NoSpaceError(
            f"not enough space: {what} needs about {size_text(need)} in {label} "
            f"but its disk has {size_text(usage.free)} free (with a margin, {size_text(want)} are needed)",
            fix="free some space on that disk (or move the workplace to a larger one), then import again",
        )

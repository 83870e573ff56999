"""What the workplace keeps, and for how long (``docs/storage.md`` says it for users).

- An uploaded zip or model package (``uploads/``) is removed once the task that reads it is done.
  A failed, cancelled or lost task keeps it, so it can be retried, for ``YMIR_KEEP_FAILED_HOURS``
  after it ended (a lost one: after it was created); a retry carries it on. A file no task names is
  removed after the same time.
- A task's work folder (``work/<task id>``) is removed by the worker when the task succeeds; a failed
  one is kept for ``YMIR_KEEP_FAILED_HOURS`` to look at, then removed.
- The mark of a retried task (``.controller/superseded/<id>``) lives as long, and so does the kept
  result of a task that ended well (``.controller/ended/<id>.json``, for a redelivery of it).
- An export (``exports/<task id>/``: a dataset zip or folder, a model package) can be downloaded for
  ``YMIR_KEEP_EXPORT_HOURS`` after its task ended, then it is removed (one no task names: that long
  after it was last written).
- Partial uploads of a dead API process are removed when the API starts
  (:func:`ymir_backend.services.uploads.sweep_partial_uploads`).

The monitor calls :func:`release_upload` as each result is stored and :func:`sweep` every
``YMIR_SWEEP_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.config import BackendSettings
from ymir_backend.models import Task

log = logging.getLogger(__name__)

_FINAL = ("done", "failed", "cancelled", "lost")


def upload_of(request: dict[str, Any]) -> str | None:
    """The workplace-relative upload a task request reads, if any."""
    source = request.get("source") or {}
    rel = source.get("path") if source.get("kind") == "zip" else request.get("package")
    return rel if isinstance(rel, str) and rel.startswith("uploads/") else None


def _in_use(db: Session, rel: str, *, but: str) -> bool:
    """Whether a task other than ``but`` that is queued or running names ``rel``."""
    for task in db.scalars(select(Task).where(Task.id != but, Task.state.in_(("queued", "running")))):
        if upload_of(task.request or {}) == rel:
            return True
    return False


def release_upload(db: Session, settings: BackendSettings, task: Task) -> None:
    """Remove the upload of a task that is done (nothing will read it again)."""
    rel = upload_of(task.request or {})
    if rel is None or task.state != "done" or _in_use(db, rel, but=task.id):
        return
    (settings.root / rel).unlink(missing_ok=True)


def _age_hours(when: dt.datetime | None, now: float) -> float:
    if when is None:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (now - when.timestamp()) / 3600


def sweep(db: Session, settings: BackendSettings, *, now: float | None = None) -> list[Path]:
    """Remove uploads, work folders and retry marks past their time; returns what was removed."""
    now = time.time() if now is None else now
    keep = settings.keep_failed_hours
    root = settings.root
    removed: list[Path] = []
    needed: set[str] = set()
    tasks = {t.id: t for t in db.scalars(select(Task))}
    retried = {t.retry_of for t in tasks.values() if t.retry_of}
    for task in tasks.values():
        rel = upload_of(task.request or {})
        if rel is None or task.id in retried:
            continue
        ended = (task.state in _FINAL and task.result_stored) or task.state == "lost"
        if task.state == "done" and ended:
            continue
        if not ended or _age_hours(task.finished_at or task.created_at, now) < keep:
            needed.add(rel)
    named = {upload_of(t.request or {}) for t in tasks.values()}
    uploads = root / "uploads"
    if uploads.is_dir():
        for p in uploads.iterdir():
            if p.suffix == ".part" or not p.is_file():
                continue  # in progress (or a dead API's: swept at start)
            rel = f"uploads/{p.name}"
            if rel in needed:
                continue
            if rel in named or (now - p.stat().st_mtime) / 3600 >= keep:
                p.unlink(missing_ok=True)
                removed.append(p)
    work = root / "work"
    if work.is_dir():
        for d in work.iterdir():
            owner = tasks.get(d.name)
            if owner is None or not (owner.result_stored or owner.state == "lost"):
                continue
            if _age_hours(owner.finished_at or owner.created_at, now) < keep:
                continue
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    removed += _sweep_exports(root / "exports", tasks, settings.keep_export_hours, now)
    for marks in (root / ".controller" / "superseded", root / ".controller" / "ended"):
        if marks.is_dir():
            for m in marks.iterdir():
                if (now - m.stat().st_mtime) / 3600 >= keep:
                    m.unlink(missing_ok=True)
                    removed.append(m)
    for p in removed:
        log.info("removed %s (past its time: YMIR_KEEP_FAILED_HOURS / YMIR_KEEP_EXPORT_HOURS)", p)
    return removed


def _sweep_exports(exports: Path, tasks: dict[str, Task], keep: float, now: float) -> list[Path]:
    """Remove the exports whose download time is over."""
    removed: list[Path] = []
    if not exports.is_dir():
        return removed
    for d in exports.iterdir():
        owner = tasks.get(d.name)
        if owner is None:
            age = (now - d.stat().st_mtime) / 3600
        elif owner.result_stored or owner.state == "lost":
            age = _age_hours(owner.finished_at or owner.created_at, now)
        else:
            continue  # still being written
        if age < keep:
            continue
        if d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
        else:
            d.unlink(missing_ok=True)
        removed.append(d)
    return removed


def export_expired(output: str) -> bool:
    """Whether ``output`` (a task's workplace-relative file) is an export the sweep removed."""
    return output.startswith("exports/")

"""What a handler gets besides its request: where the workplace is, how to report, when to stop."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mir.errors import CancelledError
from mir.ops import history
from mir.store.repo import Commit, Repo
from ymir_controller.protocol import ClassStat, VersionInfo
from ymir_controller.settings import Settings

Report = Callable[[float, str, str], None]


@dataclass
class Context:
    """A running task's surroundings. Handlers know nothing of Celery."""

    settings: Settings
    task_id: str
    report: Report = lambda percent, stage, message: None  # noqa: E731
    should_cancel: Callable[[], bool] = lambda: False  # noqa: E731
    gpu_ids: list[str] = field(default_factory=list)

    @property
    def work_dir(self) -> Path:
        """This task's scratch folder in the workplace (removed when the task ends well)."""
        return self.settings.root / "work" / self.task_id

    def fresh_work_dir(self) -> Path:
        """An empty work folder (a redelivered task starts over)."""
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.mkdir(parents=True)
        return self.work_dir

    def progress(self, stage: str, *, stop_on_cancel: bool = False) -> Callable[[float, str], None]:
        """A mir progress callback relaying to :attr:`report` under ``stage``; with
        ``stop_on_cancel`` it raises CancelledError when the task was cancelled, on any report before
        the last (mir reports 1.0 only once its version is committed)."""

        def relay(value: float, message: str) -> None:
            if stop_on_cancel and value < 1.0 and self.should_cancel():
                raise CancelledError(f"the task was cancelled while {stage}")
            self.report(value, stage, message)

        return relay


def version_info(repo: Path, commit: Commit) -> VersionInfo:
    """A commit summarised for the backend, classes by name."""
    shown = history.show(root=repo, rev=commit.tag if commit.tid else commit.id)
    return VersionInfo(
        commit=commit.id,
        tag=commit.tag,
        assets=shown["assets"],
        tvt=shown["tvt"],
        gt={k: ClassStat(**v) for k, v in shown["gt"]["classes"].items()},
        pred={k: ClassStat(**v) for k, v in shown["pred"]["classes"].items()},
        gt_boxes=shown["gt"]["boxes"],
        pred_boxes=shown["pred"]["boxes"],
    )


def existing(repo: Path, dst_rev: str) -> Commit | None:
    """The commit a redelivered task already made, if any (tasks are idempotent by ``dst_rev``)."""
    try:
        refs = Repo(repo).refs()
    except Exception:  # noqa: BLE001 - no repository yet: nothing was made
        return None
    cid = refs["tags"].get(dst_rev)
    return Repo(repo).read_commit(cid) if cid else None

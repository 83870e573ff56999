"""One plain function per operation; :func:`run` parses a request, makes the task idempotent,
holds GPU slots, calls the handler and turns every outcome into a :class:`TaskResult`."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mir.errors import CancelledError, ExecutorError, MirError, NoSpaceError, RevisionExistsError
from mir.messages import error_id, workplace_relative
from ymir_controller import room
from ymir_controller.handlers import data, labeling, models
from ymir_controller.handlers.context import Context, existing, version_info
from ymir_controller.handlers.repos import prepare_repo
from ymir_controller.protocol import (
    GPU_KINDS,
    Kind,
    PingRequest,
    TaskError,
    TaskRequest,
    TaskResult,
    superseded_flag,
)
from ymir_controller.slots import NotEnoughGpus, gpu_slots

log = logging.getLogger(__name__)

HANDLERS: dict[Kind, Callable[[Any, Context], TaskResult]] = {
    Kind.IMPORT: data.handle_import,
    Kind.COPY: data.handle_copy,
    Kind.MERGE: data.handle_merge,
    Kind.FILTER: data.handle_filter,
    Kind.SAMPLING: data.handle_sampling,
    Kind.FUSE: data.handle_fuse,
    Kind.EXPORT: data.handle_export,
    Kind.EVALUATE: data.handle_evaluate,
    Kind.TRAIN: models.handle_train,
    Kind.MINING: models.handle_mining,
    Kind.INFER: models.handle_infer,
    Kind.MODEL_IMPORT: models.handle_model_import,
    Kind.MODEL_EXPORT: models.handle_model_export,
    Kind.LABEL: labeling.handle_label,
}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(TaskRequest)


def _ping(req: PingRequest, ctx: Context) -> TaskResult:
    deadline = time.monotonic() + req.sleep
    while time.monotonic() < deadline:
        if ctx.should_cancel():
            raise CancelledError("cancelled")
        ctx.report(1 - (deadline - time.monotonic()) / max(req.sleep, 1e-9), "sleeping", "")
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))
    return TaskResult(task_id=ctx.task_id, kind=Kind.PING, state="done")


def parse(payload: dict[str, Any]) -> Any:
    """Validate a request (raises pydantic's ValidationError)."""
    return _ADAPTER.validate_python(payload)


def failed(task_id: str, kind: Kind, error: TaskError, started: float) -> TaskResult:
    """A failed result."""
    return TaskResult(
        task_id=task_id, kind=kind, state="failed", error=error, seconds=time.monotonic() - started
    )


def run(payload: dict[str, Any], ctx: Context, *, gpu_count: int = 0) -> TaskResult:
    """Run one task to a result; never raises for a task's own failure."""
    started = time.monotonic()
    kind = (
        Kind(payload.get("kind", Kind.PING)) if payload.get("kind") in Kind._value2member_map_ else Kind.PING
    )
    try:
        req = parse(payload)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return failed(
            ctx.task_id,
            kind,
            TaskError(
                code=160001,
                message=f"bad request: {where}: {first['msg']}",
                fix="see ymir_controller.protocol for the fields",
            ),
            started,
        )
    kind = req.kind
    try:
        with task_lock(ctx.settings.internal, ctx.task_id, should_cancel=ctx.should_cancel):
            mark = ended_mark(ctx.settings.internal, ctx.task_id)
            if mark.is_file():  # a redelivery of a task that already ended well: its result again
                earlier = TaskResult.model_validate_json(mark.read_text())
                return earlier.model_copy(update={"redelivered": True})
            result = user_facing(_run_locked(req, ctx, started, gpu_count), ctx.settings.root)
            if result.state == "done" and not result.redelivered:
                _write_mark(mark, result)
            return result
    except InterruptedError:
        return TaskResult(
            task_id=ctx.task_id, kind=kind, state="cancelled", seconds=time.monotonic() - started
        )


def ended_mark(internal: Path, task_id: str) -> Path:
    """Where the result of a task that ended well is kept, so a redelivery of it (Redis delivers a
    task again when it runs longer than the visibility timeout) returns it instead of running again:
    exports and other tasks without a version to find would otherwise be done twice."""
    return internal / "ended" / f"{''.join(c for c in task_id if c.isalnum() or c in '-_.')}.json"


def _write_mark(mark: Path, result: TaskResult) -> None:
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        tmp = mark.with_suffix(".tmp")
        tmp.write_text(result.model_dump_json())
        tmp.replace(mark)
    except OSError:  # a full disk: a redelivery then runs the task again, as before
        log.warning("could not keep the result of task %s for a redelivery", result.task_id)


@contextmanager
def task_lock(internal: Path, task_id: str, *, should_cancel: Callable[[], bool]) -> Iterator[None]:
    """One run of a task at a time: a redelivered copy waits for a still-running first delivery
    (then finds its commit and returns it) instead of sharing its work directory."""
    folder = internal / "running"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{task_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if should_cancel():
                    raise InterruptedError("cancelled") from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)
        (folder / f"{task_id}.lock").unlink(missing_ok=True)


def _run_locked(req: Any, ctx: Context, started: float, gpu_count: int) -> TaskResult:
    kind = req.kind
    retry = superseded_flag(ctx.settings.root, ctx.task_id)
    if retry.exists():  # a late redelivery of a task the user already retried: the retry commits
        by = retry.read_text().strip() or "another task"
        log.warning("task %s was retried as %s; this delivery does nothing", ctx.task_id, by)
        return TaskResult(
            task_id=ctx.task_id,
            kind=kind,
            state="cancelled",
            redelivered=True,
            error=TaskError(
                code=160001,
                message=f"task {ctx.task_id} was retried as {by}; this late delivery of it did nothing",
                fix=f"look at task {by}",
            ),
        )
    if ctx.should_cancel():
        return TaskResult(task_id=ctx.task_id, kind=kind, state="cancelled")
    dst = getattr(req, "dst_rev", None)
    repo_rel = getattr(req, "repo", None)
    if dst and repo_rel:
        done = existing(ctx.settings.path(repo_rel), dst)
        if done is not None:  # a redelivered task whose first run already committed
            return TaskResult(
                task_id=ctx.task_id,
                kind=kind,
                state="done",
                redelivered=True,
                version=version_info(ctx.settings.path(repo_rel), done),
            )
    try:
        if kind == Kind.PING:
            result = _ping(req, ctx)
            result.seconds = time.monotonic() - started
            return result
        labels = getattr(req, "labels", None)
        if repo_rel and labels is not None:  # the project's repository and classes, before any work
            prepare_repo(ctx.settings.path(repo_rel), labels, internal=ctx.settings.internal)
        handler = HANDLERS[kind]
        need = getattr(req, "gpu_count", 0) if kind in GPU_KINDS else 0
        with gpu_slots(
            ctx.settings.gpu_lock_dir,
            ctx.settings.gpu_list(),
            need or gpu_count,
            should_cancel=ctx.should_cancel,
            on_wait=lambda waited: ctx.report(0.0, "waiting for a GPU", f"{waited:.0f} s"),
        ) as gpus:
            ctx.gpu_ids = gpus
            result = handler(req, ctx)
        result.seconds = time.monotonic() - started
        return result
    except RevisionExistsError as e:
        repo_path = ctx.settings.path(repo_rel) if repo_rel else None
        done = existing(repo_path, dst) if repo_path and dst and e.rev == dst else None
        if repo_path is None or done is None:
            return failed(ctx.task_id, kind, TaskError(code=e.code, message=e.message, fix=e.fix), started)
        # another delivery of this very task committed first (a redelivery overlapping a slow run)
        return TaskResult(
            task_id=ctx.task_id,
            kind=kind,
            state="done",
            redelivered=True,
            version=version_info(repo_path, done),
        )
    except (CancelledError, InterruptedError):
        return TaskResult(
            task_id=ctx.task_id, kind=kind, state="cancelled", seconds=time.monotonic() - started
        )
    except NotEnoughGpus as e:
        return failed(ctx.task_id, kind, TaskError(code=160001, message=str(e)), started)
    except ExecutorError as e:
        return failed(
            ctx.task_id,
            kind,
            TaskError(
                code=e.code,
                message=e.message.split("\n--- ")[0],
                fix=e.fix,
                executor_code=e.executor_code,
                log_tail=e.log_tail,
            ),
            started,
        )
    except MirError as e:
        if isinstance(e, NoSpaceError):  # refused for want of space: give back what it had started
            shutil.rmtree(ctx.work_dir, ignore_errors=True)
        return failed(ctx.task_id, kind, TaskError(code=e.code, message=e.message, fix=e.fix), started)
    except Exception as e:  # noqa: BLE001 - an unexpected error is still a result, its detail in the log
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return _disk_full(ctx, kind, e, started)
        eid = error_id()
        log.exception("task %s (%s) failed unexpectedly [error id %s]", ctx.task_id, kind, eid)
        return failed(
            ctx.task_id,
            kind,
            TaskError(
                code=169999,
                message=f"the {kind} task failed in the worker: {type(e).__name__}: {_first_line(e)}",
                fix=f"retry it; if it fails again, give the operator the error id {eid} "
                "(the worker's log has the detail under it)",
            ),
            started,
        )


def _disk_full(ctx: Context, kind: Kind, e: OSError, started: float) -> TaskResult:
    """A full disk: where and how much is left; what this task wrote in its work folder is given
    back (mir's own writes undo themselves)."""
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    root = ctx.settings.root
    name = Path(str(e.filename)) if e.filename else root
    where = _mount_of(name if name.is_absolute() else root)
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        free = 0
    # users see the workplace-relative place (no server paths in messages); the log has the full one
    if where == root or root in where.parents:
        label = f"the workplace{'/' + str(where.relative_to(root)) if where != root else ''}"
    else:
        label = "the workplace's disk"
    log.warning("task %s: disk full at %s (%s)", ctx.task_id, where, e)
    return failed(
        ctx.task_id,
        kind,
        TaskError(
            code=160002,
            message=f"disk full at {label}, free {room.size_text(free)}",
            fix="free some space on that disk (or move the workplace to a larger one), then retry the task",
        ),
        started,
    )


def _mount_of(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (or of its nearest existing parent)."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return p


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else "no message"


def user_facing(result: TaskResult, root: Path) -> TaskResult:
    """The result with the server's absolute paths in its error made workplace-relative."""
    err = result.error
    if err is not None:
        err.message = workplace_relative(err.message, root)
        err.fix = workplace_relative(err.fix, root) if err.fix else err.fix
        err.log_tail = workplace_relative(err.log_tail, root) if err.log_tail else err.log_tail
    return result

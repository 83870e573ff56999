"""The ``label`` task: a version's images go to a Label Studio project, the annotators' boxes come back
as a new version (ground truth).

The task lives as long as the labeling does. Everything it needs to carry on after a restart (of
the worker, the API or Label Studio) is in Label Studio itself or in ``<workplace>/labeling/<task id>/``:
``state.json`` (the project id) and every export it read. A restarted task finds its project again
(by ``state.json``, or by the marker in the project's description when it died between creating the
project and writing the file), imports the tasks only if the project has none, and goes on watching.

Watching: a webhook from Label Studio touches a flag file (:func:`protocol.poke_flag`) and the task
looks at the project at once; without webhooks it still looks every ``label_poll_seconds`` (webhooks
get lost). When every task has an annotation (or a skip), or when the user asks to finish
(:func:`protocol.finish_flag`), it exports the project as JSON, keeps that file, converts it with
mir's own Label Studio reader, and commits ``dst_rev``. Boxes whose class is not in the repository
or that lie outside their image are reported by asset; with the default ``stop`` policy the task
does not commit but waits, showing the problems, until they are fixed in Label Studio and the user
finishes again. Cancelling ends the task and leaves the project and its annotations as they are.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mir.errors import CancelledError, InvalidArgsError, MirError
from mir.formats import labelstudio
from mir.formats.base import ExportSelection
from mir.labels import normalise
from mir.ops.common import annotations_table, restrict, take_ids
from mir.revs import parse_rev
from mir.store.repo import Repo, Snapshot, Task
from ymir_controller.handlers.context import Context, version_info
from ymir_controller.labelstudio import LabelStudio, LabelStudioError, ProjectGone, Unavailable
from ymir_controller.protocol import (
    Kind,
    LabelRequest,
    TaskResult,
    finish_flag,
    label_url_key,
    label_url_signature,
    poke_flag,
)

LABEL_ERROR = 160010  # the labeling cannot go on (project deleted, Label Studio refused)


def LabelingFailed(message: str, *, fix: str = "") -> MirError:  # noqa: N802 - used like an exception class
    """The labeling cannot go on."""
    error = MirError(message, fix=fix)
    error.code = LABEL_ERROR
    return error


@dataclass
class Collected:
    """What one export of the project holds, matched to assets."""

    labeled: list[str] = field(default_factory=list)  # asset ids with a (non-skipped) annotation
    skipped: list[str] = field(default_factory=list)
    unlabeled: list[str] = field(default_factory=list)
    boxes: pa.Table | None = None  # ANNOTATIONS of the labeled assets, repository class ids
    problems: list[dict[str, Any]] = field(default_factory=list)  # by asset: what is wrong with a box
    left_out: list[dict[str, Any]] = field(default_factory=list)  # boxes left out or clipped, by policy
    signature: str = ""  # changes whenever any annotation changes


def handle_label(req: LabelRequest, ctx: Context) -> TaskResult:
    """Run a labeling round to its new version (or to a cancel)."""
    s = ctx.settings
    repo_path = s.path(req.repo)
    repo = Repo(repo_path)
    src = repo.resolve(parse_rev(req.src_rev, allow_tvt=False))
    snap = repo.read(src)
    labels = repo.labels()
    lookup = labels.lookup()
    unknown = [n for n in req.class_names if normalise(n) not in lookup]
    if unknown:
        raise InvalidArgsError(
            f"class(es) {', '.join(map(repr, unknown))} are not in the repository's labels",
            fix="add them to the project's labels first",
        )
    class_names = list(dict.fromkeys(labels.name_of(lookup[normalise(n)]) for n in req.class_names))
    folder = s.root / "labeling" / ctx.task_id
    folder.mkdir(parents=True, exist_ok=True)
    ended = folder / "ended.json"
    if ended.exists():  # a copy delivered again after the task was cancelled or failed ends the same way
        how = json.loads(ended.read_text())
        if how.get("state") == "cancelled":
            raise CancelledError("cancelled")
        raise LabelingFailed(how.get("message", "the labeling failed"), fix=how.get("fix", ""))
    ls = LabelStudio(s.label_studio_url, s.ls_token())
    try:
        project_id = _with_label_studio(ctx, lambda: _set_up(req, ctx, ls, repo, snap, class_names, folder))
        access = _with_label_studio(ctx, lambda: _annotators(req, ls))
        return _watch(req, ctx, ls, repo, snap, project_id, folder, access)
    except CancelledError:
        _write_json(ended, {"state": "cancelled"})
        raise
    except MirError as e:
        _write_json(ended, {"state": "failed", "message": e.message, "fix": e.fix})
        raise
    finally:
        ls.close()


def _with_label_studio(ctx: Context, call: Any) -> Any:
    """``call()``, waiting with backoff (1 s doubling to 60 s) while Label Studio is unavailable."""
    delay = 1.0
    while True:
        if ctx.should_cancel():
            raise CancelledError("cancelled")
        try:
            return call()
        except Unavailable as e:
            ctx.report(
                _LAST.get(ctx.task_id, 0.0), "waiting for Label Studio", f"{e}; next try in {delay:.0f} s"
            )
            # a finish asked now (the user sees Label Studio back) tries again at once; one asked
            # before only waits for Label Studio like the rest (it must not turn the wait into a loop)
            _sleep(
                ctx, delay, wake=finish_flag(ctx.settings.root, ctx.task_id), since=time.time(), finish=False
            )
            delay = min(delay * 2, 60.0)
        except ProjectGone as e:
            raise LabelingFailed(
                f"{e}: it was deleted while the labeling was running",
                fix="the annotations made in it are gone with it; start a new labeling task",
            ) from e
        except LabelStudioError as e:
            raise LabelingFailed(str(e), fix="check Label Studio's settings in .env") from e


def _sleep(
    ctx: Context, seconds: float, wake: Path | None = None, since: float = 0.0, *, finish: bool = True
) -> None:
    """Sleep up to ``seconds``; return early on cancel, when ``wake`` (a flag file) is touched after
    ``since``, or (``finish``) while a finish is asked."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ctx.should_cancel():
            return
        if wake is not None and _mtime(wake) > since:
            return
        if finish and finish_flag(ctx.settings.root, ctx.task_id).exists():
            return
        time.sleep(0.2)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _marker(task_id: str) -> str:
    return f"ymir-label-task:{task_id}"


def _set_up(
    req: LabelRequest,
    ctx: Context,
    ls: LabelStudio,
    repo: Repo,
    snap: Snapshot,
    class_names: list[str],
    folder: Path,
) -> int:
    """The task's project, created and filled once (a restarted task finds it again)."""
    state_path = folder / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    project_id = state.get("project_id")
    if project_id is None:
        found = ls.find_project(_marker(ctx.task_id))
        if found is not None:
            project_id = int(found["id"])
        else:
            ctx.report(0.0, "creating the Label Studio project", "")
            title = req.title or f"YMIR {req.src_rev}"
            project_id = ls.create_project(
                title=title,
                description=f"{_marker(ctx.task_id)} · labels {req.src_rev} into {req.dst_rev}",
                label_config=labelstudio.labeling_config(class_names),
                instruction=req.instruction,
            )
        _write_json(state_path, {"project_id": project_id})
    total = snap.assets.num_rows
    if ls.task_count(project_id) == 0 and total:
        ctx.report(0.0, "sending images to Label Studio", f"{total} images")
        ls.import_tasks(project_id, _tasks(req, ctx, repo, snap, class_names))
    webhook = f"{ctx.settings.public_url.rstrip('/')}/api/v1/labeling/webhook/{ctx.task_id}"
    if not any(h.get("url") == webhook for h in ls.webhooks(project_id)):
        ls.add_webhook(project_id, webhook)
    return int(project_id)


def _annotators(req: LabelRequest, ls: LabelStudio) -> dict[str, Any]:
    """Which annotators have a Label Studio account, and the link the others join with (Label Studio
    Community shows every project of its organisation to every member; it has no per-project access)."""
    if not req.annotators:
        return {}
    members = {str(u.get("email", "")).lower() for u in ls.users()}
    missing = [a for a in req.annotators if a.lower() not in members]
    return {
        "annotators_with_access": [a for a in req.annotators if a.lower() in members],
        "annotators_to_invite": missing,
        "invite_url": ls.invite_url() if missing else "",
    }


def _tasks(
    req: LabelRequest, ctx: Context, repo: Repo, snap: Snapshot, class_names: list[str]
) -> list[dict[str, Any]]:
    """One Label Studio task per asset: a signed image link, the asset id, optional pre-annotations."""
    s = ctx.settings
    key = label_url_key(s.root)
    expires = int(time.time() + s.label_url_days * 86400)
    base = s.public_url.rstrip("/")
    ids = snap.assets["asset_id"].to_pylist()
    links = [
        f"{base}/api/v1/labeling/images/{ctx.task_id}/{a}?expires={expires}"
        f"&sig={label_url_signature(key, ctx.task_id, a, expires)}"
        for a in ids
    ]
    assets = snap.assets.select(["asset_id", "width", "height", "channels", "image_format", "origin_name"])
    assets = assets.append_column("image_path", pa.array(links, pa.string()))
    boxes = _pre_annotations(req, repo, snap, class_names)
    work = ctx.fresh_work_dir()
    labelstudio.write(ExportSelection(assets=assets, boxes=boxes, class_names=class_names, side="pred"), work)
    tasks: list[dict[str, Any]] = json.loads((work / labelstudio.FILE_NAME).read_text())
    for task in tasks:
        task["data"]["asset_id"] = task["data"]["ext_id"]
        if not task.get("predictions"):
            task.pop("predictions", None)
        else:
            task["predictions"][0]["model_version"] = f"ymir-{req.pre_annotations}"
    return tasks


def _pre_annotations(req: LabelRequest, repo: Repo, snap: Snapshot, class_names: list[str]) -> pa.Table:
    """The chosen side's boxes of the chosen classes, class ids as positions in ``class_names``."""
    table = snap.gt if req.pre_annotations == "gt" else snap.pred
    if req.pre_annotations == "none" or table.num_rows == 0:
        return annotations_table({k: [] for k in ("asset_id", "class_id", "x", "y", "w", "h")})
    labels = repo.labels()
    ids = table["class_id"].to_numpy()
    mapping = np.full(int(ids.max()) + 1, -1, np.int32)
    for position, name in enumerate(class_names):
        cid = labels.id_of(name)
        if cid is not None and cid < len(mapping):
            mapping[cid] = position
    positions = mapping[ids]
    keep = positions >= 0
    table = table.set_column(
        table.schema.get_field_index("class_id"), "class_id", pa.array(positions, pa.int32())
    )
    return table.filter(pa.array(keep))


def _watch(
    req: LabelRequest,
    ctx: Context,
    ls: LabelStudio,
    repo: Repo,
    snap: Snapshot,
    project_id: int,
    folder: Path,
    access: dict[str, Any],
) -> TaskResult:
    """Follow the project until everything is labeled or the user finishes; then commit."""
    s = ctx.settings
    poke = poke_flag(s.root, ctx.task_id)
    finish = finish_flag(s.root, ctx.task_id)
    link = f"{(s.label_studio_public_url or s.label_studio_url).rstrip('/')}/projects/{project_id}/data"
    total = snap.assets.num_rows
    rejected = ""  # the signature of the last export whose problems stopped the commit
    while True:
        if ctx.should_cancel():
            raise CancelledError("cancelled")
        looked_at = time.time()
        info = _with_label_studio(ctx, lambda: ls.project(project_id))
        # Label Studio counts a skipped task apart from the finished ones
        done = int(info.get("finished_task_number") or 0) + int(info.get("skipped_annotations_number") or 0)
        done = min(done, total)
        _LAST[ctx.task_id] = done / total if total else 1.0
        finishing = finish.exists()
        if finishing or done >= total:
            export = _with_label_studio(ctx, lambda: ls.export(project_id))
            got = _collect(req, repo, snap, export, ctx.fresh_work_dir())
            path = folder / f"export-{int(time.time() * 1000)}.json"
            if not got.problems:
                _write_json(path, export)
                return _commit(req, ctx, repo, snap, got, project_id, link, path, access)
            if got.signature != rejected or finishing:
                _write_json(path, export)
                _write_json(folder / "problems.json", got.problems)
                rejected = got.signature
            finish.unlink(missing_ok=True)
            ctx.report(
                _LAST[ctx.task_id],
                "needs fixes in Label Studio",
                f"{_problems_message(got.problems)} · fix them at {link}, then finish again",
            )
        else:
            invite = ""
            if access.get("invite_url"):
                waiting = len(access["annotators_to_invite"])
                invite = f" · {waiting} annotator(s) must join Label Studio: {access['invite_url']}"
            ctx.report(_LAST[ctx.task_id], "labeling", f"{done}/{total} labeled · {link}{invite}")
        _sleep(ctx, s.label_poll_seconds, wake=poke, since=looked_at)


_LAST: dict[str, float] = {}  # the last labeled share per task, shown while Label Studio is away


def _problems_message(problems: list[dict[str, Any]]) -> str:
    head = "; ".join(
        f"asset {p['asset_id']} (Label Studio task {p['ls_task']}): {p['problem']}" for p in problems[:3]
    )
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"{len(problems)} box(es) cannot be imported: {head}{more}"


def _collect(
    req: LabelRequest, repo: Repo, snap: Snapshot, export: list[dict[str, Any]], work: Path
) -> Collected:
    """Match the exported tasks to assets and turn their latest annotations into boxes."""
    got = Collected()
    wanted = set(snap.assets["asset_id"].to_pylist())
    sizes = {
        a: (int(w), int(h))
        for a, w, h in zip(
            *(snap.assets[c].to_pylist() for c in ("asset_id", "width", "height")), strict=True
        )
    }
    ls_task_of: dict[str, int] = {}
    kept_tasks = []
    signature_parts: list[str] = []
    for task in export:
        data = task.get("data") or {}
        asset = str(data.get("asset_id") or data.get("ext_id") or "")
        if asset not in wanted or asset in ls_task_of:
            continue
        ls_task_of[asset] = int(task.get("id", -1))
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
        signature_parts.extend(
            f"{a.get('id')}:{a.get('updated_at')}:{a.get('was_cancelled')}" for a in annotations
        )
        if any(not a.get("was_cancelled") for a in annotations):
            got.labeled.append(asset)
            # keep only what the reader needs: the asset id as the image's name, the annotations
            kept_tasks.append(
                {"data": {"image": f"{asset}.img", "ext_id": asset}, "annotations": annotations}
            )
        elif annotations:
            got.skipped.append(asset)
    got.unlabeled = sorted(wanted - set(got.labeled) - set(got.skipped))
    got.labeled.sort()
    got.skipped.sort()
    got.signature = "|".join(sorted(signature_parts))
    read = None
    if kept_tasks:
        _write_json(work / labelstudio.FILE_NAME, kept_tasks)
        read = labelstudio.read(work / labelstudio.FILE_NAME, stems=got.labeled, sizes=sizes)
    lookup = repo.labels().lookup()
    allowed = {lookup[normalise(n)] for n in req.class_names if normalise(n) in lookup}
    rows: dict[str, list[Any]] = {k: [] for k in ("asset_id", "class_id", "x", "y", "w", "h", "rotation")}
    if read is not None:
        raw = read.boxes.to_pydict()
        for i, asset in enumerate(raw["name"]):
            name = raw["class_name"][i]
            x, y, w, h = raw["x"][i], raw["y"][i], raw["w"][i], raw["h"][i]
            width, height = sizes[asset]
            where = {
                "asset_id": asset,
                "ls_task": ls_task_of.get(asset, -1),
                "class": name,
                "box": [x, y, w, h],
            }
            cid = lookup.get(normalise(name))
            if cid is None or cid not in allowed:
                problem = f"class {name!r} is not one of the project's classes"
                if req.unknown_classes == "stop":
                    got.problems.append({**where, "problem": problem})
                else:
                    got.left_out.append({**where, "problem": problem, "action": "left out"})
                continue
            outside = x < -0.5 or y < -0.5 or x + w > width + 0.5 or y + h > height + 0.5 or w <= 0 or h <= 0
            if outside:
                problem = f"box {x:g},{y:g} {w:g}x{h:g} is outside the {width}x{height} image"
                cx0, cy0 = max(x, 0.0), max(y, 0.0)
                cx1, cy1 = min(x + w, float(width)), min(y + h, float(height))
                clippable = cx1 - cx0 >= 1 and cy1 - cy0 >= 1
                if req.invalid_boxes == "stop":
                    got.problems.append({**where, "problem": problem})
                    continue
                if req.invalid_boxes == "drop" or not clippable:
                    got.left_out.append({**where, "problem": problem, "action": "left out"})
                    continue
                got.left_out.append({**where, "problem": problem, "action": "clipped"})
                x, y, w, h = cx0, cy0, cx1 - cx0, cy1 - cy0
            rows["asset_id"].append(asset)
            rows["class_id"].append(cid)
            for k, v in (("x", x), ("y", y), ("w", w), ("h", h), ("rotation", raw["rotation"][i])):
                rows[k].append(v)
    got.boxes = annotations_table(rows)
    return got


def _commit(
    req: LabelRequest,
    ctx: Context,
    repo: Repo,
    snap: Snapshot,
    got: Collected,
    project_id: int,
    link: str,
    export_path: Path,
    access: dict[str, Any],
) -> TaskResult:
    ctx.report(1.0, "importing the labels", f"{len(got.labeled)} labeled images")
    dst = parse_rev(req.dst_rev, need_tid=True, allow_tvt=False)
    labeled = pa.array(got.labeled, pa.string())
    assets = take_ids(snap.assets, labeled)
    kept = restrict(snap, assets)
    boxes = got.boxes if got.boxes is not None else annotations_table({})

    def build(_labels: Any) -> Snapshot:
        return Snapshot(assets=kept.assets, gt=boxes, pred=kept.pred, pred_meta=dict(snap.pred_meta))

    report = {
        "project_id": project_id,
        "url": link,
        "labeled": len(got.labeled),
        "skipped": got.skipped,
        "unlabeled": got.unlabeled,
        "left_out": got.left_out,
        "export": str(export_path.relative_to(ctx.settings.root)),
        **access,
    }
    task = Task(
        type="label",
        tid=dst.tid or "",
        user=req.user,
        src_revs=req.src_rev,
        params={"class_names": req.class_names, "annotators": req.annotators, "project_id": project_id},
    )
    commit = repo.commit(dst=dst, task=task, build=build, parent=parse_rev(req.src_rev, allow_tvt=False))
    _write_json(ctx.settings.root / "labeling" / ctx.task_id / "result.json", report)
    finish_flag(ctx.settings.root, ctx.task_id).unlink(missing_ok=True)
    poke_flag(ctx.settings.root, ctx.task_id).unlink(missing_ok=True)
    return TaskResult(
        task_id=ctx.task_id,
        kind=Kind.LABEL,
        state="done",
        version=version_info(repo.root, commit),
        labeling=report,
    )


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False))
    os.replace(tmp, path)

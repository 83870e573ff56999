"""Labeling in Label Studio: start a labeling task on a dataset version, finish it early, the webhook
Label Studio calls, and the signed image links Label Studio's pages load images from."""

from __future__ import annotations

import hmac
import time
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import ConfigDict, Field

from mir.store.media import locate
from ymir_backend.api.deps import DB, CurrentUser, Settings
from ymir_backend.api.routes.datasets import launch, new_version, ready, version_of
from ymir_backend.api.routes.tasks import task_of
from ymir_backend.errors import ApiError
from ymir_backend.models import DatasetGroup, Project, Task, User
from ymir_backend.schemas import DbId, In, TaskOut
from ymir_backend.services import tasks as task_service
from ymir_controller.protocol import (
    LabelRequest,
    finish_flag,
    label_url_key,
    label_url_signature,
    poke_flag,
)

router = APIRouter(tags=["labeling"])
_MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "bmp": "image/bmp", "webp": "image/webp"}


class LabelIn(In):
    """What a labeling round needs."""

    model_config = ConfigDict(extra="forbid")
    class_names: list[str] = Field(
        default_factory=list,
        description="classes annotators may draw (empty: the project's training classes)",
    )
    annotators: list[str] = Field(default_factory=list, max_length=500, description="annotators' e-mails")
    instruction: str = Field("", max_length=20000, description="shown to annotators in Label Studio")
    pre_annotations: Literal["none", "pred", "gt"] = "none"
    unknown_classes: Literal["stop", "ignore"] = "stop"
    invalid_boxes: Literal["stop", "clip", "drop"] = "stop"


def start_labeling(
    db: DB, request: Request, user: User, project: Project, dataset_id: int, body: LabelIn, group: str = ""
) -> tuple[Task, int]:
    """Launch a label task on a dataset version; returns the task and the version it will fill."""
    dv, _ = version_of(db, user, dataset_id)
    ready(dv)
    if dv.project_id != project.id:
        raise ApiError(400, "not_in_project", f"dataset {dataset_id} belongs to another project")
    classes = body.class_names or list(project.training_classes)
    if not classes:
        raise ApiError(
            422,
            "invalid_request",
            "class_names: give the classes to label (the project has no training classes)",
        )
    for email in body.annotators:
        if "@" not in email or len(email) > 254:
            raise ApiError(422, "invalid_request", f"annotators: {email!r} is not an e-mail address")
    tid = task_service.new_task_id()
    name = group or f"{db.get(DatasetGroup, dv.group_id).name}-labeled"  # type: ignore[union-attr]
    out = new_version(db, project, name, tid, [dv.id])
    req = LabelRequest(
        repo=project.repo,
        dst_rev=out.rev,
        src_rev=dv.rev,
        class_names=classes,
        annotators=body.annotators,
        instruction=body.instruction,
        pre_annotations=body.pre_annotations,
        title=f"{project.name} · {name} v{out.version_num}"[:50],
        unknown_classes=body.unknown_classes,
        invalid_boxes=body.invalid_boxes,
        user=user.email,
    )
    return launch(db, request, user=user, project=project, task_id=tid, req=req, versions=[out]), out.id


@router.post("/datasets/{dataset_id}/label", response_model=TaskOut, status_code=202)
def label(dataset_id: DbId, body: LabelIn, request: Request, user: CurrentUser, db: DB) -> Task:
    """Send a version's images to Label Studio; the annotators' boxes become a new version (gt).

    Follow the task for progress (``labeled/total`` and the project's link in its message); finish early
    with ``POST /tasks/{id}/finish``."""
    dv, project = version_of(db, user, dataset_id, write=True)
    del dv
    task, _ = start_labeling(db, request, user, project, dataset_id, body)
    return task


@router.post("/tasks/{task_id}/finish", response_model=TaskOut, status_code=202)
def finish(task_id: str, user: CurrentUser, db: DB, settings: Settings) -> Task:
    """Import what is labeled now and end the labeling task (the rest stays unlabeled in Label Studio).

    Asking twice, or after the task ended, changes nothing: one labeling task makes one version."""
    task = task_of(db, user, task_id, write=True)
    if task.kind != "label":
        raise ApiError(
            409, "not_labeling", f"task {task_id} is a {task.kind} task; only labeling tasks finish"
        )
    if task.state in ("queued", "running", "lost"):
        flag = finish_flag(settings.root, task_id)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
    return task


@router.post("/labeling/webhook/{task_id}", status_code=204, include_in_schema=False)
def webhook(task_id: str, db: DB, settings: Settings) -> Response:
    """Label Studio says an annotation changed: the labeling task looks at its project now.

    The payload is not read (anyone could post one); the task asks Label Studio itself."""
    task = db.get(Task, task_id)
    if task is not None and task.kind == "label" and not task.result_stored:
        flag = poke_flag(settings.root, task_id)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
    return Response(status_code=204)


@router.get("/labeling/images/{task_id}/{asset_id}", include_in_schema=False)
def image(
    task_id: str,
    asset_id: str,
    settings: Settings,
    expires: int = Query(..., ge=0, le=2**62),
    sig: str = Query(..., max_length=64),
) -> Any:
    """One image of a labeling task, for Label Studio's pages (a signed link that expires; no login)."""
    expected = label_url_signature(label_url_key(settings.root), task_id, asset_id, expires)
    if not hmac.compare_digest(expected, sig):
        raise ApiError(
            403, "bad_signature", "this image link is not valid; open the task from Label Studio again"
        )
    if expires < time.time():
        raise ApiError(
            403,
            "link_expired",
            "this image link has expired; raise YMIR_LABEL_URL_DAYS and start a new labeling task",
        )
    path = locate(settings.root / "media", asset_id) if len(asset_id) == 40 and asset_id.isalnum() else None
    if path is None:
        raise ApiError(404, "asset_not_found", f"asset {asset_id} is not in the media store")
    with open(path, "rb") as f:
        head = f.read(12)
    kind = (
        "png"
        if head.startswith(b"\x89PNG")
        else "bmp"
        if head.startswith(b"BM")
        else "webp"
        if head[8:12] == b"WEBP"
        else "jpeg"
    )
    return FileResponse(
        path,
        media_type=_MEDIA_TYPES[kind],
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "private, max-age=86400"},
    )

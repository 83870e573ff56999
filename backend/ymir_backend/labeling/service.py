"""Labeling in Label Studio: the label task on a dataset version (iterations plan it too), finishing
it early, the webhook's poke, and the signed image links Label Studio's pages load."""

from __future__ import annotations

import hmac
import time
from pathlib import Path

from sqlalchemy.orm import Session

from mir.store.media import locate
from ymir_backend.assets.service import image_content_type
from ymir_backend.config import BackendSettings
from ymir_backend.datasets.service import group_name, new_version, ready
from ymir_backend.errors import ApiError
from ymir_backend.labeling.schemas import LabelingIn
from ymir_backend.models import DatasetVersion, Project, Task, User
from ymir_backend.services.access import task_of, version_of
from ymir_backend.services.engine import Engine
from ymir_backend.tasks.service import TaskPlan, launch, new_task_id
from ymir_controller.protocol import (
    LabelRequest,
    finish_flag,
    label_url_key,
    label_url_signature,
    poke_flag,
)


def plan_labeling(
    db: Session, *, user: User, project: Project, source: DatasetVersion, body: LabelingIn, group: str = ""
) -> TaskPlan:
    """A label task on a ready version of ``project``; its new version goes to ``group`` (default: the
    source's group with ``-labeled``)."""
    ready(source)
    if source.project_id != project.id:
        raise ApiError(400, "not_in_project", f"dataset {source.id} belongs to another project")
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
    tid = new_task_id()
    name = group or f"{group_name(db, source)}-labeled"
    out = new_version(db, project, name, tid, [source.id])
    req = LabelRequest(
        repo=project.repo,
        dst_rev=out.rev,
        src_rev=source.rev,
        class_names=classes,
        annotators=body.annotators,
        instruction=body.instruction,
        pre_annotations=body.pre_annotations,
        title=f"{project.name} · {name} v{out.version_num}"[:50],
        unknown_classes=body.unknown_classes,
        invalid_boxes=body.invalid_boxes,
        user=user.email,
    )
    return TaskPlan(tid, req, [out])


def label(db: Session, engine: Engine, *, user: User, dataset_id: int, body: LabelingIn) -> Task:
    """Send a version's images to Label Studio; the annotators' boxes become a new version."""
    dv, project = version_of(db, user, dataset_id, write=True)
    plan = plan_labeling(db, user=user, project=project, source=dv, body=body)
    return launch(db, engine, user=user, project=project, plan=plan)


def finish(db: Session, settings: BackendSettings, user: User, task_id: str) -> Task:
    """Ask a labeling task to import what is labeled now and end. Asking twice, or after the task
    ended, changes nothing: one labeling task makes one version."""
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


def poke(db: Session, settings: BackendSettings, task_id: str) -> None:
    """Label Studio says an annotation changed: the labeling task looks at its project now (the
    payload is not read: anyone could post one; the task asks Label Studio itself)."""
    task = db.get(Task, task_id)
    if task is not None and task.kind == "label" and not task.result_stored:
        flag = poke_flag(settings.root, task_id)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()


def signed_image(
    settings: BackendSettings, *, task_id: str, asset_id: str, expires: int, sig: str
) -> tuple[Path, str]:
    """The file and media type of one image of a labeling task, if the link's signature holds and it
    has not expired."""
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
    return path, image_content_type(path)

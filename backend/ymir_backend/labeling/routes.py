"""Labeling in Label Studio: start a labeling task on a dataset version, finish it early, the webhook
Label Studio calls, and the signed image links Label Studio's pages load images from."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse

from ymir_backend.api.deps import DB, CurrentUser, EngineDep, Settings
from ymir_backend.labeling import service
from ymir_backend.labeling.schemas import LabelingIn
from ymir_backend.models import Task
from ymir_backend.schemas import DbId
from ymir_backend.tasks.schemas import TaskOut

router = APIRouter(tags=["labeling"])


@router.post("/datasets/{dataset_id}/label", response_model=TaskOut, status_code=202)
def label(dataset_id: DbId, body: LabelingIn, user: CurrentUser, db: DB, engine: EngineDep) -> Task:
    """Send a version's images to Label Studio; the annotators' boxes become a new version (gt).

    Follow the task for progress (``labeled/total`` and the project's link in its message); finish early
    with ``POST /tasks/{id}/finish``."""
    return service.label(db, engine, user=user, dataset_id=dataset_id, body=body)


@router.post("/tasks/{task_id}/finish", response_model=TaskOut, status_code=202)
def finish(task_id: str, user: CurrentUser, db: DB, settings: Settings) -> Task:
    """Import what is labeled now and end the labeling task (the rest stays unlabeled in Label Studio).

    Asking twice, or after the task ended, changes nothing: one labeling task makes one version."""
    return service.finish(db, settings, user, task_id)


@router.post("/labeling/webhook/{task_id}", status_code=204, include_in_schema=False)
def webhook(task_id: str, db: DB, settings: Settings) -> Response:
    """Label Studio says an annotation changed: the labeling task looks at its project now.

    The payload is not read (anyone could post one); the task asks Label Studio itself."""
    service.poke(db, settings, task_id)
    return Response(status_code=204)


@router.get("/labeling/images/{task_id}/{asset_id}", include_in_schema=False)
def image(
    task_id: str,
    asset_id: str,
    settings: Settings,
    expires: int = Query(..., ge=0, le=2**62),
    sig: str = Query(..., max_length=64),
) -> FileResponse:
    """One image of a labeling task, for Label Studio's pages (a signed link that expires; no login)."""
    path, media_type = service.signed_image(
        settings, task_id=task_id, asset_id=asset_id, expires=expires, sig=sig
    )
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "private, max-age=86400"},
    )

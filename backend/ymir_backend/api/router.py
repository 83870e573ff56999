"""The REST API under ``/api/v1``: every resource's router, from a fixed list."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ymir_backend import errors
from ymir_backend.api.deps import refuse_nul
from ymir_backend.assets.routes import router as assets
from ymir_backend.auth.routes import router as auth
from ymir_backend.datasets.routes import router as datasets
from ymir_backend.images.routes import router as images
from ymir_backend.iterations.routes import router as iterations
from ymir_backend.labeling.routes import router as labeling
from ymir_backend.labels.routes import router as labels
from ymir_backend.mlmodels.routes import router as mlmodels
from ymir_backend.projects.routes import router as projects
from ymir_backend.sharing.routes import router as sharing
from ymir_backend.tasks.routes import router as tasks
from ymir_backend.users.routes import router as users

ROUTERS = (
    auth,
    users,
    labels,
    projects,
    datasets,
    assets,
    mlmodels,
    tasks,
    images,
    iterations,
    labeling,
    sharing,
)
"""In this order: it is the order of the OpenAPI document (and of matching, where paths overlap)."""


def api_router() -> APIRouter:
    """``/api/v1`` with every resource's routes, the declared error answers, and the NUL check."""
    api = APIRouter(prefix="/api/v1", responses=errors.RESPONSES, dependencies=[Depends(refuse_nul)])
    for router in ROUTERS:
        api.include_router(router)
    return api

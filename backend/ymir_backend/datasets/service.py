"""Dataset groups and versions: the pending versions tasks fill, readiness, reading and changing
versions, and the tasks that make a version from others (merge, filter, sampling, fuse, evaluate) or
export one; imports are in ``imports.py``.

A task iterations use too has a ``plan_<verb>`` that builds its request from versions already
resolved, and a ``<verb>`` that resolves the ids a request names, checks access and launches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ymir_backend.datasets.schemas import (
    DatasetUpdate,
    DatasetVersionOut,
    EvaluateIn,
    ExportIn,
    FilterIn,
    FuseIn,
    MergeIn,
    PublicDatasetOut,
    SamplingIn,
)
from ymir_backend.errors import ApiError
from ymir_backend.models import DatasetGroup, DatasetVersion, Project, Task, User
from ymir_backend.schemas import Page
from ymir_backend.services.access import project_access, version_of
from ymir_backend.services.engine import Engine
from ymir_backend.services.groups import group_named, next_version_num, project_groups
from ymir_backend.services.pages import page, search_in
from ymir_backend.tasks.service import TaskPlan, launch, new_task_id
from ymir_controller.protocol import (
    EvaluateRequest,
    ExportRequest,
    FilterRequest,
    FuseRequest,
    MergeRequest,
    SamplingRequest,
)

_TYPE_PREFIX = {"train": "tr:", "val": "va:", "test": "te:", "": ""}


def ready(dv: DatasetVersion) -> DatasetVersion:
    """Refuse versions still being made or that failed."""
    if dv.state != "ready":
        raise ApiError(
            409, "dataset_not_ready", f"dataset {dv.id} is {dv.state}; wait for its task to finish"
        )
    return dv


def group_name(db: Session, dv: DatasetVersion) -> str:
    """The name of the version's group."""
    group = db.get(DatasetGroup, dv.group_id)
    assert group is not None  # a version's group is never removed (soft deletes only)
    return group.name


def new_version(
    db: Session, project: Project, group_name: str, task_id: str, source_ids: list[int]
) -> DatasetVersion:
    """The version a task will fill, in ``group_name`` (created if new)."""
    group = group_named(db, DatasetGroup, project, group_name)
    dv = DatasetVersion(
        group_id=group.id,
        project_id=project.id,
        version_num=next_version_num(db, DatasetVersion, group.id),
        rev=f"{group.branch}@{task_id}",
        task_id=None,
        source_ids=source_ids,
    )
    db.add(dv)
    db.flush()
    return dv


# -- reading and changing versions ------------------------------------------------------------------
def list_groups(db: Session, user: User, project_id: int) -> list[DatasetGroup]:
    """The project's dataset groups."""
    project_access(db, user, project_id)
    return project_groups(db, DatasetGroup, project_id)


def list_versions(
    db: Session,
    user: User,
    project_id: int,
    *,
    group_id: int | None,
    state: str | None,
    offset: int,
    limit: int,
) -> Page[DatasetVersionOut]:
    """The project's dataset versions, newest first."""
    project_access(db, user, project_id)
    q = select(DatasetVersion).where(
        DatasetVersion.project_id == project_id, DatasetVersion.deleted.is_(False)
    )
    if group_id is not None:
        q = q.where(DatasetVersion.group_id == group_id)
    if state:
        q = q.where(DatasetVersion.state == state)
    return page(db, q, order_by=DatasetVersion.id.desc(), out=DatasetVersionOut, offset=offset, limit=limit)


def list_public(db: Session, *, search: str, offset: int, limit: int) -> Page[PublicDatasetOut]:
    """Public dataset versions of every user, newest first."""
    q = (
        select(DatasetVersion, DatasetGroup.name, Project.name, User.email)
        .join(DatasetGroup, DatasetGroup.id == DatasetVersion.group_id)
        .join(Project, Project.id == DatasetVersion.project_id)
        .join(User, User.id == Project.owner_id)
        .where(
            DatasetVersion.is_public.is_(True),
            DatasetVersion.deleted.is_(False),
            DatasetVersion.state == "ready",
            Project.deleted.is_(False),
        )
    )
    if search:
        q = q.where(search_in(search, DatasetGroup.name, Project.name, DatasetVersion.description))
    total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.execute(q.order_by(DatasetVersion.id.desc()).offset(offset).limit(limit)).all()
    items = [
        PublicDatasetOut(
            **DatasetVersionOut.model_validate(dv).model_dump(), group_name=g, project_name=p, owner=o
        )
        for dv, g, p, o in rows
    ]
    return Page(items=items, total=total, offset=offset, limit=limit)


def get_version(db: Session, user: User, dataset_id: int) -> DatasetVersion:
    """One dataset version: yours, shared with you, or public."""
    dv = db.get(DatasetVersion, dataset_id)
    if dv is not None and dv.is_public and not dv.deleted and dv.state == "ready":
        project = db.get(Project, dv.project_id)
        if project is not None and not project.deleted:
            return dv
    return version_of(db, user, dataset_id)[0]


def update_version(
    db: Session, user: User, dataset_id: int, body: DatasetUpdate, *, query: Iterable[str] = ()
) -> DatasetVersion:
    """Mark a version public or describe it; ``query`` (the request's query keys) must not carry the
    body's fields."""
    stray = [k for k in ("is_public", "description") if k in set(query)]
    if stray:
        raise ApiError(
            422, "invalid_request", f"{stray[0]}: send it in the JSON body, not in the query string"
        )
    dv, _ = version_of(db, user, dataset_id, write=True)
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None:
            raise ApiError(422, "invalid_request", f"{field}: may not be null")
        setattr(dv, field, value)
    db.commit()
    return dv


def delete_version(db: Session, user: User, dataset_id: int) -> None:
    """Hide a version (soft delete: its mir history stays)."""
    dv, _ = version_of(db, user, dataset_id, write=True)
    dv.deleted = True
    db.commit()


# -- tasks that make versions -----------------------------------------------------------------------
def _sources(db: Session, user: User, ids: list[int], project: Project) -> list[DatasetVersion]:
    out = []
    for i in ids:
        dv, _ = version_of(db, user, i, within=project)
        out.append(ready(dv))
    return out


def _derived(db: Session, project: Project, src: DatasetVersion) -> tuple[str, DatasetVersion]:
    """A new task id, and the version that task will fill in ``src``'s group."""
    tid = new_task_id()
    return tid, new_version(db, project, group_name(db, src), tid, [src.id])


def _merge_inputs(
    db: Session, user: User, body: MergeIn | FuseIn, project: Project
) -> tuple[list[DatasetVersion], list[DatasetVersion], str]:
    """The versions to merge, those to exclude, and the group of the result (default: the host's)."""
    sources = _sources(db, user, body.dataset_ids, project)
    excluded = _sources(db, user, body.exclude_dataset_ids, project)
    return sources, excluded, body.group_name or group_name(db, sources[0])


def plan_merge(
    db: Session,
    *,
    user: User,
    project: Project,
    sources: Sequence[DatasetVersion],
    excluded: Sequence[DatasetVersion] = (),
    types: Sequence[str] = (),
    group: str,
    strategy: str,
) -> TaskPlan:
    """Merge ready ``sources`` (the first is the host; ``types`` train/val/test per source) less
    ``excluded`` into a new version of ``group``."""
    if types and len(types) != len(sources):
        raise ApiError(422, "invalid_request", "types: give one type per dataset (or none)")
    kinds = list(types) or [""] * len(sources)
    src_revs = ";".join(_TYPE_PREFIX[t] + ready(s).rev for t, s in zip(kinds, sources, strict=True))
    tid = new_task_id()
    dv = new_version(db, project, group, tid, [s.id for s in sources])
    req = MergeRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_revs=src_revs,
        ex_src_revs=";".join(ready(e).rev for e in excluded),
        strategy=strategy,  # type: ignore[arg-type]
        user=user.email,
    )
    return TaskPlan(tid, req, [dv])


def merge(db: Session, engine: Engine, *, user: User, project_id: int, body: MergeIn) -> Task:
    """Merge versions (first = host; ``types`` set train/val/test per source)."""
    project = project_access(db, user, project_id, write=True)
    sources, excluded, group = _merge_inputs(db, user, body, project)
    plan = plan_merge(
        db,
        user=user,
        project=project,
        sources=sources,
        excluded=excluded,
        types=body.types,
        group=group,
        strategy=body.strategy,
    )
    return launch(db, engine, user=user, project=project, plan=plan)


def filter_version(db: Session, engine: Engine, *, user: User, project_id: int, body: FilterIn) -> Task:
    """Keep assets by class, type or tag (a new version in the same group)."""
    project = project_access(db, user, project_id, write=True)
    (src,) = _sources(db, user, [body.dataset_id], project)
    tid, dv = _derived(db, project, src)
    req = FilterRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_revs=src.rev,
        include=body.include,
        exclude=body.exclude,
        anno_src=body.anno_src,
        tvt=body.tvt,
        tags=body.tags,
        user=user.email,
    )
    return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, [dv]))


def sample(db: Session, engine: Engine, *, user: User, project_id: int, body: SamplingIn) -> Task:
    """A random subset by count or rate."""
    if (body.count is None) == (body.rate is None):
        raise ApiError(422, "invalid_request", "give exactly one of count and rate")
    project = project_access(db, user, project_id, write=True)
    (src,) = _sources(db, user, [body.dataset_id], project)
    tid, dv = _derived(db, project, src)
    req = SamplingRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_revs=src.rev,
        count=body.count,
        rate=body.rate,
        seed=body.seed,
        user=user.email,
    )
    return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, [dv]))


def plan_fuse(
    db: Session,
    *,
    user: User,
    project: Project,
    sources: Sequence[DatasetVersion],
    excluded: Sequence[DatasetVersion],
    group: str,
    body: FuseIn,
) -> TaskPlan:
    """Merge ready ``sources`` less ``excluded``, keep assets by class, then sample (``body`` says how;
    its ids are not read), in one task and one new version of ``group``."""
    if body.count is not None and body.rate is not None:
        raise ApiError(422, "invalid_request", "give at most one of count and rate")
    tid = new_task_id()
    src_revs = ";".join(ready(s).rev for s in sources)
    ex_src_revs = ";".join(ready(e).rev for e in excluded)
    dv = new_version(db, project, group, tid, [s.id for s in sources])
    req = FuseRequest(
        repo=project.repo,
        dst_rev=dv.rev,
        src_revs=src_revs,
        ex_src_revs=ex_src_revs,
        strategy=body.strategy,
        include=body.include,
        exclude=body.exclude,
        anno_src=body.anno_src,
        count=body.count,
        rate=body.rate,
        seed=body.seed,
        user=user.email,
    )
    return TaskPlan(tid, req, [dv])


def fuse(db: Session, engine: Engine, *, user: User, project_id: int, body: FuseIn) -> Task:
    """Merge versions, keep assets by class, then sample, in one task and one new version."""
    if body.count is not None and body.rate is not None:
        raise ApiError(422, "invalid_request", "give at most one of count and rate")
    project = project_access(db, user, project_id, write=True)
    sources, excluded, group = _merge_inputs(db, user, body, project)
    plan = plan_fuse(
        db, user=user, project=project, sources=sources, excluded=excluded, group=group, body=body
    )
    return launch(db, engine, user=user, project=project, plan=plan)


def export(db: Session, engine: Engine, *, user: User, dataset_id: int, body: ExportIn) -> Task:
    """Export as a zip; download it from ``/tasks/{id}/download`` when the task is done."""
    dv, project = version_of(db, user, dataset_id)
    ready(dv)
    tid = new_task_id()
    req = ExportRequest(
        repo=project.repo,
        src_rev=dv.rev,
        dst_dir=f"exports/{tid}/dataset-{dv.id}",
        anno_format=body.anno_format,
        gt=body.gt,
        pred=body.pred,
        user=user.email,
    )
    return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, []))


def evaluate(db: Session, engine: Engine, *, user: User, dataset_id: int, body: EvaluateIn) -> Task:
    """Evaluate the version's predictions against its ground truth (a new, marked version)."""
    dv, project = version_of(db, user, dataset_id, write=True)
    ready(dv)
    if not dv.gt_boxes or not dv.pred_boxes:
        raise ApiError(409, "nothing_to_evaluate", f"dataset {dv.id} needs both ground truth and predictions")
    tid, out = _derived(db, project, dv)
    req = EvaluateRequest(
        repo=project.repo,
        dst_rev=out.rev,
        src_revs=dv.rev,
        class_names=body.class_names,
        conf_thr=body.conf_thr,
        iou_thr=body.iou_thr,
        user=user.email,
    )
    return launch(db, engine, user=user, project=project, plan=TaskPlan(tid, req, [out]))

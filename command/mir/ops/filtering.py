"""``mir filter`` and ``mir sampling`` and ``mir fuse`` as commands: read, select, commit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mir.errors import InvalidArgsError
from mir.labels import Labels
from mir.ops import select
from mir.ops.common import dst_rev, load_sources, parent_of
from mir.ops.merge import Strategy, merge_sources
from mir.store.repo import Commit, Repo, Snapshot, Task


def filter_dataset(
    *,
    root: Path,
    src_revs: str,
    dst: str,
    include: str | Sequence[str] = "",
    exclude: str | Sequence[str] = "",
    anno_src: select.AnnoSource = "any",
    tvt: str | Sequence[str] = "",
    tags: str | Sequence[str] = "",
    ex_tags: str | Sequence[str] = "",
    user: str = "",
) -> Commit:
    """Keep the assets of one version that match classes, types and tags."""
    return fuse(
        root=root,
        src_revs=src_revs,
        dst=dst,
        include=include,
        exclude=exclude,
        anno_src=anno_src,
        tvt=tvt,
        tags=tags,
        ex_tags=ex_tags,
        user=user,
        task_type="filter",
        single_source=True,
    )


def sampling(
    *,
    root: Path,
    src_revs: str,
    dst: str,
    count: int | None = None,
    rate: float | None = None,
    seed: int = 0,
    user: str = "",
) -> Commit:
    """A random subset of one version."""
    if count is None and rate is None:
        raise InvalidArgsError("give exactly one of --count and --rate", fix="e.g. --count 100 or --rate 0.2")
    return fuse(
        root=root,
        src_revs=src_revs,
        dst=dst,
        count=count,
        rate=rate,
        seed=seed,
        user=user,
        task_type="sampling",
        single_source=True,
    )


def fuse(
    *,
    root: Path,
    src_revs: str,
    dst: str,
    ex_src_revs: str = "",
    strategy: Strategy = "stop",
    include: str | Sequence[str] = "",
    exclude: str | Sequence[str] = "",
    anno_src: select.AnnoSource = "any",
    tvt: str | Sequence[str] = "",
    tags: str | Sequence[str] = "",
    ex_tags: str | Sequence[str] = "",
    count: int | None = None,
    rate: float | None = None,
    seed: int = 0,
    user: str = "",
    task_type: str = "fusion",
    single_source: bool = False,
) -> Commit:
    """Merge, then filter, then sample, committed once (YMIR's "data fusion")."""
    repo = Repo(root)
    dst_r = dst_rev(repo, dst)
    sources = load_sources(repo, src_revs)
    if single_source and len(sources) != 1:
        raise InvalidArgsError(
            f"{task_type} takes one source revision, got {len(sources)}",
            fix="use `mir fuse` to merge several",
        )
    exclude_srcs = load_sources(repo, ex_src_revs) if ex_src_revs.strip() else []
    inc = select.split_names(include)
    exc = select.split_names(exclude)
    types = select.parse_tvt(tvt) if tvt else []
    tag_inc = select.split_names(tags)
    tag_exc = select.split_names(ex_tags)
    if count is not None or rate is not None:
        select.sample(Snapshot(), count=count, rate=rate)  # validate before any work
    repo.labels().ids_of([*inc, *exc], where="--cis/--ex-cis")
    merged = merge_sources(sources, strategy=strategy, exclude=exclude_srcs).snap

    def build(labels: Labels) -> Snapshot:
        snap = select.filter_by_classes(merged, labels, include=inc, exclude=exc, src=anno_src)
        snap = select.filter_by_tvt(snap, types)
        snap = select.filter_by_tags(snap, include=tag_inc, exclude=tag_exc)
        if count is not None or rate is not None:
            snap = select.sample(snap, count=count, rate=rate, seed=seed)
        return snap

    params = {
        "strategy": strategy,
        "ex_src_revs": ex_src_revs,
        "include": inc,
        "exclude": exc,
        "anno_src": anno_src,
        "tvt": [int(t) for t in types],
        "tags": tag_inc,
        "ex_tags": tag_exc,
        "count": count,
        "rate": rate,
        "seed": seed,
    }
    task = Task(type=task_type, tid=dst_r.tid or "", user=user, src_revs=src_revs, params=params)
    return repo.commit(dst=dst_r, task=task, build=build, parent=parent_of(sources))

"""Git-like verbs over the commit graph: branch, checkout, tag, log, status, show, diff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mir.errors import InvalidArgsError, RevisionExistsError, RevisionNotFoundError
from mir.labels import Labels
from mir.revs import Rev, check_name, parse_rev
from mir.store.lock import is_locked
from mir.store.repo import Commit, Repo


def init(*, root: Path, label_file: Path | None = None) -> Repo:
    """Create a repository (optionally starting from an existing YMIR label file)."""
    from mir.labels import load_labels

    labels = load_labels(label_file) if label_file else None
    return Repo.init(root, labels=labels)


def add_label(*, root: Path, name: str, aliases: list[str] | None = None) -> tuple[int, Labels]:
    """Add a class (or aliases of an existing one) to the repository's label file."""
    repo = Repo(root)
    with repo.locked():
        labels = repo.labels()
        cid = labels.add(name, aliases or [])
        labels.save(repo.labels_path)
    return cid, labels


def add_labels(*, root: Path, labels: Sequence[tuple[str, Sequence[str]]]) -> bool:
    """Add classes (and new aliases of existing ones) to the label file in one write under the lock:
    all of them or, when one cannot be stored, none. Returns whether the file changed."""
    repo = Repo(root)
    with repo.locked():
        current = repo.labels()
        before = current.to_dict()
        for name, aliases in labels:
            current.add(name, aliases)
        if current.to_dict() == before:
            return False
        current.save(repo.labels_path)
    return True


def branches(*, root: Path) -> dict[str, Commit]:
    """Every branch and its head commit."""
    repo = Repo(root)
    return {name: repo.read_commit(cid) for name, cid in sorted(repo.refs()["branches"].items())}


def create_branch(*, root: Path, name: str, start: str | None = None) -> Commit:
    """A new branch at ``start`` (default: the checked-out branch's head)."""
    repo = Repo(root)
    check_name(name, "branch name")
    commit = repo.resolve(parse_rev(start, allow_tvt=False) if start else Rev(repo.head_branch()))

    def change(refs: dict[str, dict[str, str]]) -> None:
        if name in refs["branches"]:
            raise RevisionExistsError(name)
        refs["branches"][name] = commit.id

    repo.set_refs(change)
    return commit


def delete_branch(*, root: Path, name: str) -> None:
    """Remove a branch reference; its tagged versions stay reachable by tag."""
    repo = Repo(root)
    if name == repo.head_branch():
        raise InvalidArgsError(
            f"cannot delete the checked-out branch {name!r}", fix="`mir checkout` another branch first"
        )

    def change(refs: dict[str, dict[str, str]]) -> None:
        if name not in refs["branches"]:
            raise RevisionNotFoundError(name, sorted(refs["branches"]))
        del refs["branches"][name]

    repo.set_refs(change)


def checkout(*, root: Path, branch: str, create: bool = False) -> str:
    """Make ``branch`` the default source of commands (``-b`` creates it from the current head)."""
    repo = Repo(root)
    if create:
        create_branch(root=root, name=branch)
    repo.set_head(branch)
    return branch


def tags(*, root: Path, branch: str | None = None) -> dict[str, str]:
    """Tags (``branch@tid`` -> commit id), optionally of one branch."""
    refs = Repo(root).refs()["tags"]
    return {t: c for t, c in sorted(refs.items()) if branch is None or t.startswith(branch + "@")}


def create_tag(*, root: Path, name: str, rev: str) -> Commit:
    """An extra immutable name for a commit, e.g. ``release@v1``."""
    repo = Repo(root)
    parsed = parse_rev(name, need_tid=True, allow_tvt=False)
    commit = repo.resolve(parse_rev(rev, allow_tvt=False))

    def change(refs: dict[str, dict[str, str]]) -> None:
        if parsed.tag in refs["tags"]:
            raise RevisionExistsError(parsed.tag)
        refs["tags"][parsed.tag] = commit.id

    repo.set_refs(change)
    return commit


def log(*, root: Path, rev: str | None = None, limit: int | None = None) -> list[Commit]:
    """History from ``rev`` (default the checked-out branch) back to the first commit."""
    repo = Repo(root)
    start = repo.resolve(parse_rev(rev, allow_tvt=False) if rev else Rev(repo.head_branch()))
    return list(repo.log(start, limit=limit))


@dataclass
class Status:
    """State of the repository as a whole."""

    head_branch: str
    head: Commit | None
    branches: int
    tags: int
    commits: int
    write_in_progress: bool
    leftovers: list[str] = field(default_factory=list)


def status(*, root: Path) -> Status:
    """The checked-out branch, counts, whether a write holds the lock, and leftovers of killed writes."""
    repo = Repo(root)
    refs = repo.refs()
    head_id = refs["branches"].get(repo.head_branch())
    leftovers = sorted(p.name for p in (repo.mir / "tmp").iterdir())
    reachable = set(refs["branches"].values()) | set(refs["tags"].values())
    all_commits = [p.name for p in (repo.mir / "commits").iterdir()]
    for cid in list(reachable):
        stack = [cid]
        while stack:
            c = repo.read_commit(stack.pop())
            for p in c.parents:
                if p not in reachable:
                    reachable.add(p)
                    stack.append(p)
    leftovers += [f"commits/{c} (unreachable)" for c in all_commits if c not in reachable]
    return Status(
        head_branch=repo.head_branch(),
        head=repo.read_commit(head_id) if head_id else None,
        branches=len(refs["branches"]),
        tags=len(refs["tags"]),
        commits=len(all_commits),
        write_in_progress=is_locked(repo.mir / "lock"),
        leftovers=leftovers,
    )


def show(*, root: Path, rev: str | None = None) -> dict[str, Any]:
    """What ``mir show`` prints: counts by type, classes (by name) for gt and pred, tags and the task.

    Reads only the commit record: the statistics were computed when the version was written.
    """
    repo = Repo(root)
    commit = repo.resolve(parse_rev(rev, allow_tvt=False) if rev else Rev(repo.head_branch()))
    labels = repo.labels()
    stats = commit.stats

    def named(side: str) -> dict[str, Any]:
        s = stats[side]
        return {
            "boxes": s["boxes"],
            "positive_assets": s["positive_assets"],
            "negative_assets": s["negative_assets"],
            "classes": {
                _name(labels, cid): {"images": s["class_images"].get(cid, 0), "boxes": n}
                for cid, n in sorted(s["class_boxes"].items(), key=lambda kv: int(kv[0]))
            },
            "tags": s["tags"],
        }

    return {
        "commit": commit.id,
        "tag": commit.tag,
        "branch": commit.branch,
        "parents": commit.parents,
        "assets": stats["assets"],
        "tvt": stats["tvt"],
        "bytes": stats["bytes"],
        "formats": stats["formats"],
        "image_tags": stats["image_tags"],
        "gt": named("gt"),
        "pred": named("pred"),
        "task": commit.task,
        "pred_meta": commit.pred_meta,
        "evaluation": commit.evaluation,
    }


def _name(labels: Labels, cid: str | int) -> str:
    i = int(cid)
    return labels.name_of(i) if 0 <= i < len(labels.labels) else f"#{i}"

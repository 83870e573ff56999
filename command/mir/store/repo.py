"""A mir repository on disk: immutable commits of columnar snapshots, branches and tags.

Layout under ``<root>/.mir/`` (see docs/storage.md)::

    format                 repository format version
    labels.yaml            class ids, names, aliases (YMIR's layout)
    HEAD                   the checked-out branch (default source of commands)
    refs.json              {"branches": {name: commit}, "tags": {"branch@tid": commit}}
    commits/<id>/          commit.json + assets.parquet, gt.parquet, pred.parquet
    tmp/                   staging area of writes in progress
    lock                   the write lock

A write stages a whole commit folder under ``tmp/``, renames it into ``commits/`` and then
replaces ``refs.json`` in one ``os.replace``. Until that rename nothing a reader can reach has
changed; if anything fails before it, the staged files are removed and the repository is as it
was, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mir.atomic import write_atomic
from mir.errors import InvalidArgsError, NotARepositoryError, RevisionExistsError, RevisionNotFoundError
from mir.labels import Labels, load_labels, merge_csv_labels
from mir.revs import Rev, check_name
from mir.store.lock import write_lock

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported where tables are read or written, not here: commands that only look at
# references and commit records (show, log, branch, status) start in a fraction of the time.

FORMAT = "mir-columnar 1"
DEFAULT_BRANCH = "master"
TABLES = ("assets", "gt", "pred")


def _schema(name: str) -> pa.Schema:
    from mir.store import schema

    return schema.ASSETS if name == "assets" else schema.ANNOTATIONS


def _empty(name: str) -> pa.Table:
    return _schema(name).empty_table()


@dataclass
class Snapshot:
    """One dataset version's content: assets, ground truth and predictions kept apart.

    ``pred_meta`` records where predictions came from (model, stage, executor, config).
    ``evaluation`` holds the last evaluation of pred against gt, if any.
    """

    assets: pa.Table = field(default_factory=lambda: _empty("assets"))
    gt: pa.Table = field(default_factory=lambda: _empty("gt"))
    pred: pa.Table = field(default_factory=lambda: _empty("pred"))
    pred_meta: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None

    def table(self, name: str) -> pa.Table:
        """The table called ``name`` (assets, gt or pred)."""
        return {"assets": self.assets, "gt": self.gt, "pred": self.pred}[name]


@dataclass
class Task:
    """What produced a commit: YMIR's task record, plus who and the parameters used."""

    type: str
    tid: str
    params: dict[str, Any] = field(default_factory=dict)
    src_revs: str = ""
    dst_rev: str = ""
    user: str = ""
    time: float = field(default_factory=time.time)
    state: str = "done"
    return_code: int = 0
    message: str = ""
    model: dict[str, Any] | None = None
    executor: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored in commit.json."""
        return dict(self.__dict__)


@dataclass
class Commit:
    """A commit record as stored in ``commits/<id>/commit.json``."""

    id: str
    parents: list[str]
    branch: str
    tid: str
    time: float
    task: dict[str, Any]
    stats: dict[str, Any]
    pred_meta: dict[str, Any]
    evaluation: dict[str, Any] | None

    @property
    def tag(self) -> str:
        """``branch@tid`` of this commit."""
        return f"{self.branch}@{self.tid}"


class Repo:
    """Handle on the repository at ``root`` (its ``.mir`` folder must exist)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.mir = self.root / ".mir"
        if not (self.mir / "format").is_file():
            raise NotARepositoryError(self.root)

    # -- creation -------------------------------------------------------------------------------
    @staticmethod
    def init(root: Path, *, labels: Labels | None = None) -> Repo:
        """Create an empty repository with a ``master`` branch holding one empty commit."""
        root = Path(root).absolute()
        mir = root / ".mir"
        if mir.exists():
            raise InvalidArgsError(f"{root} already holds a mir repository", fix="use another --root")
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".mir-init-"))
        try:
            for sub in ("commits", "tmp"):
                (staging / sub).mkdir()
            (staging / "refs.json").write_text(json.dumps({"branches": {}, "tags": {}}))
            (staging / "HEAD").write_text(DEFAULT_BRANCH + "\n")
            (labels or Labels()).save(staging / "labels.yaml")
            (staging / "format").write_text(FORMAT + "\n")
            if not (root / "labels.csv").exists():
                (root / "labels.csv").write_text("# type_id, preserved, main type name, alias...\n")
            os.replace(staging, mir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        repo = Repo(root)
        repo.commit(
            dst=Rev(DEFAULT_BRANCH, "init"),
            parent=None,
            task=Task(type="init", tid="init"),
            build=lambda _labels: Snapshot(),
            tag=False,
        )
        return repo

    # -- paths ----------------------------------------------------------------------------------
    @property
    def labels_path(self) -> Path:
        """The label file."""
        return self.mir / "labels.yaml"

    def labels(self) -> Labels:
        """Current label registry: ``.mir/labels.yaml`` plus classes declared in ``<root>/labels.csv``.

        ``labels.csv`` is how YMIR's README has users declare classes (``id,,name,alias...``); its new
        classes are picked up here and saved to labels.yaml by the next write.
        """
        labels = load_labels(self.labels_path)
        csv = self.root / "labels.csv"
        if csv.is_file():
            merge_csv_labels(labels, csv)
        return labels

    # -- references -----------------------------------------------------------------------------
    def refs(self) -> dict[str, dict[str, str]]:
        """Branches and tags, read in one go (the file is replaced atomically)."""
        data: dict[str, dict[str, str]] = json.loads((self.mir / "refs.json").read_text())
        return data

    def head_branch(self) -> str:
        """The checked-out branch."""
        return (self.mir / "HEAD").read_text().strip() or DEFAULT_BRANCH

    def resolve(self, rev: Rev | str) -> Commit:
        """The commit a revision names: ``branch@tid`` is a tag, ``branch`` its head."""
        if isinstance(rev, str):
            from mir.revs import parse_rev

            rev = parse_rev(rev)
        if rev.branch == "HEAD" and not rev.tid:
            rev = Rev(self.head_branch())
        refs = self.refs()
        if rev.tid:
            commit_id = refs["tags"].get(rev.tag)
            if commit_id is None:
                known = sorted(t for t in refs["tags"] if t.startswith(rev.branch + "@"))
                raise RevisionNotFoundError(rev.tag, known or sorted(refs["tags"]))
        else:
            commit_id = refs["branches"].get(rev.branch)
            if commit_id is None:
                raise RevisionNotFoundError(rev.branch, sorted(refs["branches"]))
        return self.read_commit(commit_id)

    def read_commit(self, commit_id: str) -> Commit:
        """Load ``commits/<id>/commit.json``; a unique prefix of the id is enough."""
        path = self.mir / "commits" / commit_id
        if not path.is_dir():
            matches = [p for p in (self.mir / "commits").iterdir() if p.name.startswith(commit_id)]
            if len(commit_id) < 4 or len(matches) != 1:
                raise RevisionNotFoundError(commit_id)
            path = matches[0]
        data = json.loads((path / "commit.json").read_text())
        return Commit(**data)

    def read(
        self, commit: Commit, tables: tuple[str, ...] = TABLES, columns: dict[str, list[str]] | None = None
    ) -> Snapshot:
        """Load the tables of a commit (memory-mapped; ``columns`` restricts what is read)."""
        import pyarrow.parquet as pq

        folder = self.mir / "commits" / commit.id
        snap = Snapshot(pred_meta=dict(commit.pred_meta), evaluation=commit.evaluation)
        for name in tables:
            cols = (columns or {}).get(name)
            table = pq.read_table(
                folder / f"{name}.parquet",
                columns=cols,
                memory_map=True,
                schema=None if cols else _schema(name),
            )
            setattr(snap, name, table)
        return snap

    def log(self, start: Commit, *, limit: int | None = None) -> Iterator[Commit]:
        """Walk first parents from ``start`` back to the root."""
        commit: Commit | None = start
        count = 0
        while commit is not None and (limit is None or count < limit):
            yield commit
            count += 1
            commit = self.read_commit(commit.parents[0]) if commit.parents else None

    # -- writing --------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the write lock (writers are serialised; readers never wait)."""
        with write_lock(self.mir / "lock"):
            yield

    def check_new(self, dst: Rev) -> None:
        """Fail early when ``dst`` is already committed (checked again under the lock)."""
        if dst.tid and dst.tag in self.refs()["tags"]:
            raise RevisionExistsError(dst.tag)

    def commit(
        self,
        *,
        dst: Rev,
        task: Task,
        build: Callable[[Labels], Snapshot],
        parent: Rev | None = None,
        tag: bool = True,
    ) -> Commit:
        """Publish a new version on ``dst.branch`` tagged ``dst.branch@dst.tid``.

        ``build`` runs under the lock with the current labels and returns the snapshot; it may add
        classes to the labels it is given, which are saved with the commit. The parent is the
        branch's head at publish time or, for a new branch, the head of ``parent`` (default the
        checked-out branch). Any failure leaves the repository as it was.
        """
        if not dst.tid:
            raise InvalidArgsError(f"destination {dst} needs a task id", fix=f"write {dst.branch}@<task_id>")
        check_name(dst.branch, "branch name")
        with self.locked():
            self._sweep()
            refs = self.refs()
            if tag and dst.tag in refs["tags"]:
                raise RevisionExistsError(dst.tag)
            parents: list[str] = []
            if dst.branch in refs["branches"]:
                parents = [refs["branches"][dst.branch]]
            elif parent is not None or refs["branches"]:
                base = self.resolve(parent) if parent is not None else None
                if base is None and self.head_branch() in refs["branches"]:
                    base = self.read_commit(refs["branches"][self.head_branch()])
                parents = [base.id] if base else []
            labels = self.labels()
            labels_before = labels.to_dict()
            snap = build(labels)
            from mir.store.stats import snapshot_stats

            stats = snapshot_stats(snap)
            now = time.time()
            task.time = task.time or now
            task.dst_rev = task.dst_rev or dst.tag
            record: dict[str, Any] = {
                "parents": parents,
                "branch": dst.branch,
                "tid": dst.tid,
                "time": now,
                "task": task.to_dict(),
                "stats": stats,
                "pred_meta": snap.pred_meta,
                "evaluation": snap.evaluation,
            }
            record["id"] = hashlib.sha1(
                json.dumps(record, sort_keys=True, default=str).encode() + uuid.uuid4().bytes
            ).hexdigest()
            staging = self.mir / "tmp" / f"commit-{record['id']}"
            final = self.mir / "commits" / record["id"]
            labels_changed = labels.to_dict() != labels_before
            old_labels = self.labels_path.read_bytes() if labels_changed else b""
            pending = self.mir / "tmp" / f"pending-{record['id']}"
            published = False
            try:
                staging.mkdir(parents=True)
                for name in TABLES:
                    _write_table(staging / f"{name}.parquet", snap.table(name), _schema(name))
                _write_json(staging / "commit.json", record)
                _fsync_dir(staging)
                pending.touch()
                os.replace(staging, final)
                if labels_changed:
                    labels.save(self.labels_path)
                new_refs = {"branches": dict(refs["branches"]), "tags": dict(refs["tags"])}
                new_refs["branches"][dst.branch] = record["id"]
                if tag:
                    new_refs["tags"][dst.tag] = record["id"]
                _write_json(self.mir / "refs.json", new_refs, atomic_in=self.mir / "tmp")
                published = True
                pending.unlink()
                write_atomic(self.mir / "HEAD", dst.branch + "\n", tmp_dir=self.mir / "tmp")
            finally:
                if not published:
                    shutil.rmtree(staging, ignore_errors=True)
                    shutil.rmtree(final, ignore_errors=True)
                    pending.unlink(missing_ok=True)
                    if labels_changed:
                        _restore(self.labels_path, old_labels)
            return Commit(**record)

    def _sweep(self) -> None:
        """Remove what a killed writer left (staging files, a commit it renamed but never referenced).

        Runs under the lock, so no other writer is using ``tmp/``.
        """
        tmp = self.mir / "tmp"
        referenced: set[str] | None = None
        for entry in tmp.iterdir():
            if entry.name.startswith("pending-"):
                if referenced is None:
                    refs = self.refs()
                    referenced = set(refs["branches"].values()) | set(refs["tags"].values())
                commit_id = entry.name.removeprefix("pending-")
                if commit_id not in referenced:
                    shutil.rmtree(self.mir / "commits" / commit_id, ignore_errors=True)
                entry.unlink()
            elif entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        for stray in self.mir.glob(".labels-*.tmp"):
            stray.unlink(missing_ok=True)

    def set_refs(self, change: Callable[[dict[str, dict[str, str]]], None]) -> None:
        """Apply ``change`` to the references under the lock and publish them atomically."""
        with self.locked():
            refs = self.refs()
            change(refs)
            _write_json(self.mir / "refs.json", refs, atomic_in=self.mir / "tmp")

    def set_head(self, branch: str) -> None:
        """Check out ``branch`` (it must exist)."""
        if branch not in self.refs()["branches"]:
            raise RevisionNotFoundError(branch, sorted(self.refs()["branches"]))
        with self.locked():
            write_atomic(self.mir / "HEAD", branch + "\n", tmp_dir=self.mir / "tmp")

    def save_labels(self, labels: Labels) -> None:
        """Write the label file under the lock."""
        with self.locked():
            labels.save(self.labels_path)


def _write_table(path: Path, table: pa.Table, target: pa.Schema) -> None:
    import pyarrow.parquet as pq

    if table.schema != target:
        table = table.select(target.names).cast(target)
    pq.write_table(table, path, compression="zstd", row_group_size=256 * 1024)


def _write_json(path: Path, data: Any, *, atomic_in: Path | None = None) -> None:
    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    if atomic_in is None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        return
    write_atomic(path, text, tmp_dir=atomic_in)


def _restore(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".restore")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

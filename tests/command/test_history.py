"""Git-like verbs: branch, checkout, tag, log, status, show, diff, labels, copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from mir.errors import (
    InvalidArgsError,
    InvalidLabelError,
    RevisionExistsError,
    RevisionNotFoundError,
    UnknownClassesError,
)
from mir.labels import load_labels
from mir.ops import history
from mir.ops.copying import copy_dataset
from mir.ops.diff import diff
from mir.ops.merge import merge
from tests.command.conftest import commit_snapshot, content, tree_bytes


def test_branch_checkout_tag_log(repo: Path) -> None:
    commit_snapshot(repo, "a@t1", {"x": 0})
    commit_snapshot(repo, "a@t2", {"x": 0, "y": 0})
    assert [c.tid for c in history.log(root=repo, rev="a")] == ["t2", "t1", "init"]
    assert history.log(root=repo, rev="a@t1")[0].stats["assets"] == 1
    history.create_branch(root=repo, name="exp", start="a@t1")
    history.checkout(root=repo, branch="exp")
    assert history.status(root=repo).head_branch == "exp"
    commit_snapshot(repo, "exp@t3", {"z": 0})
    assert [c.tag for c in history.log(root=repo)] == ["exp@t3", "a@t1", "master@init"]
    history.create_tag(root=repo, name="release@v1", rev="a@t2")
    assert history.show(root=repo, rev="release@v1")["assets"] == 2
    with pytest.raises(RevisionExistsError):
        history.create_tag(root=repo, name="release@v1", rev="a@t1")
    with pytest.raises(InvalidArgsError, match="checked-out"):
        history.delete_branch(root=repo, name="exp")
    history.checkout(root=repo, branch="master")
    history.delete_branch(root=repo, name="exp")
    assert "exp" not in history.branches(root=repo)
    assert history.show(root=repo, rev="exp@t3")["assets"] == 1  # the tag keeps the version
    with pytest.raises(RevisionNotFoundError):
        history.checkout(root=repo, branch="nope")


def test_show_counts(repo: Path) -> None:
    commit_snapshot(
        repo,
        "a@t1",
        {"x": 1, "y": 2, "z": 0},
        gt=[("x", "cat", 0, 0, 1, 1), ("x", "cat", 1, 1, 1, 1), ("y", "dog", 0, 0, 1, 1)],
        pred=[("z", "cat", 0, 0, 1, 1)],
        tags={"x": {"weather": "rain"}},
    )
    info = history.show(root=repo, rev="a@t1")
    assert info["tvt"] == {"unknown": 1, "train": 1, "val": 1, "test": 0}
    assert info["gt"]["classes"] == {"cat": {"images": 1, "boxes": 2}, "dog": {"images": 1, "boxes": 1}}
    assert info["gt"]["positive_assets"] == 2 and info["gt"]["negative_assets"] == 1
    assert info["pred"]["classes"] == {"cat": {"images": 1, "boxes": 1}}
    assert info["image_tags"] == {"weather": {"rain": 1}}
    assert info["task"]["type"] == "test"


def test_diff(repo: Path) -> None:
    commit_snapshot(
        repo, "a@t1", {"x": 0, "y": 0, "w": 0}, gt=[("x", "cat", 0, 0, 1, 1), ("y", "cat", 0, 0, 1, 1)]
    )
    commit_snapshot(
        repo,
        "b@t1",
        {"x": 0, "y": 1, "z": 0},
        gt=[("x", "cat", 0, 0, 1, 1), ("y", "dog", 0, 0, 1, 1)],
        pred=[("x", "cat", 0, 0, 1, 1)],
    )
    d = diff(root=repo, a="a@t1", b="b@t1")
    assert (d.added_assets, d.removed_assets) == (["z"], ["w"])
    assert (d.changed_gt, d.changed_pred, d.changed_type) == (["y"], ["x"], ["y"])


def test_labels_aliases_and_bad_names(repo: Path) -> None:
    assert history.add_label(root=repo, name="Bike", aliases=["bicycle"])[0] == 0
    assert history.add_label(root=repo, name="bike", aliases=["push-bike"])[0] == 0
    labels = load_labels(repo / ".mir" / "labels.yaml")
    assert labels.id_of("BICYCLE") == 0 and labels.labels[0].aliases == ["bicycle", "push-bike"]
    before = tree_bytes(repo)
    for bad in ("a;b", "a,b", " "):
        with pytest.raises(InvalidLabelError):
            history.add_label(root=repo, name=bad)
    with pytest.raises(InvalidLabelError, match="already names"):
        history.add_label(root=repo, name="car", aliases=["bicycle"])
    assert tree_bytes(repo) == before


def test_copy_remaps_class_ids_by_name(tmp_path: Path, repo: Path) -> None:
    other = tmp_path / "other"
    history.init(root=other)
    history.add_label(root=other, name="zebra")
    commit_snapshot(other, "o@t1", {"x": 0}, gt=[("x", "cat", 0, 0, 1, 1), ("x", "zebra", 1, 1, 1, 1)])
    history.add_label(root=repo, name="cat")
    history.add_label(root=repo, name="dog")
    before = tree_bytes(repo)
    with pytest.raises(UnknownClassesError, match="zebra"):
        copy_dataset(root=repo, src_root=other, src_revs="o@t1", dst="c@t1")
    assert tree_bytes(repo) == before
    copy_dataset(root=repo, src_root=other, src_revs="o@t1", dst="c@t1", unknown_types_strategy="ignore")
    assert content(repo, "c@t1")["gt"] == [("x", "cat", 0.0)]
    copy_dataset(root=repo, src_root=other, src_revs="o@t1", dst="c@t2", unknown_types_strategy="add")
    assert content(repo, "c@t2")["gt"] == [("x", "cat", 0.0), ("x", "zebra", 1.0)]
    copy_dataset(root=repo, src_root=other, src_revs="o@t1", dst="c@t3", drop_annotations=True)
    assert content(repo, "c@t3")["gt"] == []


def test_not_a_repository(tmp_path: Path) -> None:
    from mir.errors import NotARepositoryError

    with pytest.raises(NotARepositoryError, match="mir init"):
        history.log(root=tmp_path)
    history.init(root=tmp_path / "r")
    with pytest.raises(InvalidArgsError, match="already holds"):
        history.init(root=tmp_path / "r")


def test_merge_records_task(repo: Path) -> None:
    commit_snapshot(repo, "a@t1", {"x": 0})
    c = merge(root=repo, src_revs="tr:a@t1", dst="m@t9", user="alice")
    shown = history.show(root=repo, rev="m@t9")["task"]
    assert (shown["type"], shown["user"], shown["src_revs"], shown["dst_rev"]) == (
        "merge",
        "alice",
        "tr:a@t1",
        "m@t9",
    )
    assert c.parents == [history.log(root=repo, rev="a@t1")[0].id]


@pytest.mark.parametrize(
    "content,problem,line",
    [
        ("0,,cat\nnot a class line\n", "expected 'id,,name", 2),
        ("0,,cat\n5,,dog\n", "skips ids", 2),
        ("0,,dog\n", "is 'dog' here but 'cat'", 1),
    ],
)
def test_broken_labels_csv_names_the_line(repo: Path, content: str, problem: str, line: int) -> None:
    from mir.errors import InputFileError
    from mir.store.repo import Repo

    history.add_label(root=repo, name="cat")
    before = tree_bytes(repo / ".mir")
    (repo / "labels.csv").write_text(content)
    with pytest.raises(InputFileError, match=problem) as e:
        Repo(repo).labels()
    assert e.value.line == line and "labels.csv" in str(e.value)
    assert tree_bytes(repo / ".mir") == before

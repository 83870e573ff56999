"""merge, filter, sampling and fuse: results pinned exactly (YMIR's semantics, and where we differ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mir.errors import InvalidArgsError, MergeConflictError, RevisionNotFoundError, UnknownClassesError
from mir.ops.filtering import filter_dataset, fuse, sampling
from mir.ops.merge import merge
from tests.command.conftest import commit_snapshot, content, tree_bytes

TR, VA, TE, UN = 1, 2, 3, 0


@pytest.fixture
def two(repo: Path) -> Path:
    """a: a1 a2 a3 (gt person/cat); d: a3 d1 (a3 with a different gt)."""
    commit_snapshot(
        repo,
        "a@t1",
        {"a1": UN, "a2": UN, "a3": UN},
        gt=[("a1", "person", 1, 1, 5, 5), ("a2", "cat", 2, 2, 5, 5), ("a3", "person", 3, 3, 5, 5)],
        pred=[("a1", "cat", 9, 9, 5, 5)],
    )
    commit_snapshot(
        repo,
        "d@t2",
        {"a3": TE, "d1": UN},
        gt=[("a3", "dog", 30, 30, 5, 5), ("d1", "dog", 4, 4, 5, 5)],
        pred=[("d1", "person", 7, 7, 5, 5)],
    )
    return repo


def test_merge_stop_conflict_changes_nothing(two: Path) -> None:
    before = tree_bytes(two)
    with pytest.raises(MergeConflictError, match="1 asset"):
        merge(root=two, src_revs="tr:a@t1;va:d@t2", dst="m@t3")
    assert tree_bytes(two) == before


def test_merge_host_keeps_host_records(two: Path) -> None:
    merge(root=two, src_revs="tr:a@t1;va:d@t2", dst="m@t3", strategy="host")
    assert content(two, "m@t3") == {
        "assets": {"a1": TR, "a2": TR, "a3": TR, "d1": VA},
        "gt": [("a1", "person", 1.0), ("a2", "cat", 2.0), ("a3", "person", 3.0), ("d1", "dog", 4.0)],
        "pred": [("a1", "cat", 9.0), ("d1", "person", 7.0)],
    }


def test_merge_guest_takes_guest_records(two: Path) -> None:
    merge(root=two, src_revs="tr:a@t1;va:d@t2", dst="m@t3", strategy="guest")
    assert content(two, "m@t3") == {
        "assets": {"a1": TR, "a2": TR, "a3": VA, "d1": VA},
        "gt": [("a1", "person", 1.0), ("a2", "cat", 2.0), ("a3", "dog", 30.0), ("d1", "dog", 4.0)],
        "pred": [("a1", "cat", 9.0), ("d1", "person", 7.0)],
    }


def test_merge_without_prefix_keeps_types_and_exclusion(two: Path) -> None:
    merge(root=two, src_revs="d@t2;a@t1", dst="m@t3", strategy="host", ex_src_revs="d@t2")
    assert content(two, "m@t3")["assets"] == {"a1": UN, "a2": UN}
    merge(root=two, src_revs="d@t2", dst="m@t4")
    assert content(two, "m@t4")["assets"] == {"a3": TE, "d1": UN}


def test_merge_per_table_guest_without_gt_keeps_host_gt(repo: Path) -> None:
    commit_snapshot(repo, "h@t1", {"x": UN}, gt=[("x", "cat", 1, 1, 2, 2)])
    commit_snapshot(repo, "g@t1", {"x": UN}, pred=[("x", "dog", 5, 5, 2, 2)])
    merge(root=repo, src_revs="h@t1;va:g@t1", dst="m@t1", strategy="guest")
    assert content(repo, "m@t1") == {
        "assets": {"x": VA},
        "gt": [("x", "cat", 1.0)],
        "pred": [("x", "dog", 5.0)],
    }


def test_merge_bad_revisions(two: Path) -> None:
    with pytest.raises(RevisionNotFoundError, match="nope@t1"):
        merge(root=two, src_revs="a@t1;nope@t1", dst="m@t3", strategy="host")
    with pytest.raises(InvalidArgsError, match="unknown type prefix"):
        merge(root=two, src_revs="xx:a@t1", dst="m@t3")
    with pytest.raises(InvalidArgsError, match="needs a task id"):
        merge(root=two, src_revs="a@t1", dst="m")


def test_filter_include_exclude_and_any(two: Path) -> None:
    filter_dataset(root=two, src_revs="a@t1", dst="f@1", include="person;CAT")
    assert content(two, "f@1")["assets"] == {"a1": UN, "a2": UN, "a3": UN}
    filter_dataset(root=two, src_revs="a@t1", dst="f@2", include="person", exclude="cat", anno_src="gt")
    assert list(content(two, "f@2")["assets"]) == ["a1", "a3"]
    # any = gt and pred: a1's prediction is a cat (YMIR's 'any' looked at gt only and kept a1)
    filter_dataset(root=two, src_revs="a@t1", dst="f@3", exclude="cat", anno_src="any")
    assert list(content(two, "f@3")["assets"]) == ["a3"]
    filter_dataset(root=two, src_revs="a@t1", dst="f@4", include="cat", anno_src="pred")
    f4 = content(two, "f@4")
    assert list(f4["assets"]) == ["a1"] and f4["gt"] == [("a1", "person", 1.0)]  # kept assets keep every box


def test_filter_unknown_class(two: Path) -> None:
    before = tree_bytes(two)
    with pytest.raises(UnknownClassesError, match="zebra"):
        filter_dataset(root=two, src_revs="a@t1", dst="f@1", include="person;zebra")
    assert tree_bytes(two) == before


def test_filter_by_type_and_tag(repo: Path) -> None:
    commit_snapshot(
        repo, "t@1", {"p": TR, "q": VA, "r": VA}, tags={"p": {"weather": "rain"}, "q": {"weather": "sun"}}
    )
    filter_dataset(root=repo, src_revs="t@1", dst="f@1", tvt="val")
    assert list(content(repo, "f@1")["assets"]) == ["q", "r"]
    filter_dataset(root=repo, src_revs="t@1", dst="f@2", tags="weather")
    assert list(content(repo, "f@2")["assets"]) == ["p", "q"]
    filter_dataset(root=repo, src_revs="t@1", dst="f@3", tags="weather=sun")
    assert list(content(repo, "f@3")["assets"]) == ["q"]
    filter_dataset(root=repo, src_revs="t@1", dst="f@4", ex_tags="weather=sun")
    assert list(content(repo, "f@4")["assets"]) == ["p", "r"]


def test_sampling_is_seeded_and_exact(repo: Path) -> None:
    commit_snapshot(
        repo, "s@1", {f"a{i}": UN for i in range(10)}, gt=[(f"a{i}", "cat", i, i, 1, 1) for i in range(10)]
    )
    sampling(root=repo, src_revs="s@1", dst="x@1", count=3, seed=7)
    sampling(root=repo, src_revs="s@1", dst="x@2", count=3, seed=7)
    first = content(repo, "x@1")
    assert first == content(repo, "x@2") and len(first["assets"]) == 3
    assert [g[0] for g in first["gt"]] == sorted(first["assets"])  # boxes follow their assets
    sampling(root=repo, src_revs="s@1", dst="x@3", rate=0.25)
    assert len(content(repo, "x@3")["assets"]) == 2  # floor(10 * 0.25)
    sampling(root=repo, src_revs="s@1", dst="x@4", count=50)
    assert len(content(repo, "x@4")["assets"]) == 10


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"count": 0}, "positive"),
        ({"rate": 1.5}, r"\(0, 1\]"),
        ({"rate": 0.0}, r"\(0, 1\]"),
        ({}, "exactly one"),
    ],
)
def test_sampling_bad_args(repo: Path, kw: dict[str, float], msg: str) -> None:
    commit_snapshot(repo, "s@1", {"a": UN})
    with pytest.raises(InvalidArgsError, match=msg):
        sampling(root=repo, src_revs="s@1", dst="x@1", **kw)  # type: ignore[arg-type]


def test_fuse_merges_filters_samples_in_one_commit(two: Path) -> None:
    fuse(
        root=two,
        src_revs="tr:a@t1;va:d@t2",
        strategy="host",
        include="person;cat",
        rate=0.5,
        seed=1,
        dst="fz@1",
    )
    c = content(two, "fz@1")
    # merged host: a1 a2 a3 d1; person/cat (gt or pred): a1 a2 a3 d1 (d1 has a person prediction); half: 2
    assert len(c["assets"]) == 2
    merge(root=two, src_revs="tr:a@t1;va:d@t2", dst="m@1", strategy="host")
    filter_dataset(root=two, src_revs="m@1", dst="m@2", include="person;cat")
    sampling(root=two, src_revs="m@2", dst="m@3", rate=0.5, seed=1)
    assert content(two, "m@3") == c


def test_filter_tag_without_key(repo: Path) -> None:
    commit_snapshot(repo, "t@1", {"p": TR}, tags={"p": {"weather": "rain"}})
    before = tree_bytes(repo)
    with pytest.raises(InvalidArgsError, match="empty tag key"):
        filter_dataset(root=repo, src_revs="t@1", dst="f@1", tags="=rain")
    assert tree_bytes(repo) == before

"""Writes are all-or-nothing, writers are serialised, readers never see half a version."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mir.store.repo as repo_mod
from mir.ops import history
from mir.ops.filtering import sampling
from mir.ops.merge import merge
from mir.store.repo import Repo
from tests.command.conftest import commit_snapshot, content, tree_bytes


@pytest.fixture
def base(repo: Path) -> Path:
    commit_snapshot(
        repo, "a@t1", {f"a{i}": 0 for i in range(50)}, gt=[(f"a{i}", "cat", i, 0, 2, 2) for i in range(50)]
    )
    commit_snapshot(
        repo, "b@t1", {f"b{i}": 0 for i in range(50)}, gt=[(f"b{i}", "dog", i, 0, 2, 2) for i in range(50)]
    )
    return repo


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_disk_full_halfway_leaves_repo_unchanged(
    base: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    real = repo_mod._write_table
    calls = {"n": 0}

    def flaky(path: Path, table, target) -> None:  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == fail_at:
            path.write_bytes(b"half a parquet file")
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, table, target)

    before = tree_bytes(base)
    monkeypatch.setattr(repo_mod, "_write_table", flaky)
    with pytest.raises(OSError, match="No space"):
        merge(root=base, src_revs="a@t1;b@t1", dst="m@t1")
    assert tree_bytes(base) == before
    monkeypatch.setattr(repo_mod, "_write_table", real)
    merge(root=base, src_revs="a@t1;b@t1", dst="m@t1")  # the retry works: no dangling tag
    assert len(content(base, "m@t1")["assets"]) == 100


def test_failure_while_publishing_refs_rolls_back(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = repo_mod._write_json

    def flaky(path: Path, data, *, atomic_in=None) -> None:  # type: ignore[no-untyped-def]
        if path.name == "refs.json":
            raise OSError(errno.EIO, "I/O error")
        real(path, data, atomic_in=atomic_in)

    before = tree_bytes(base)
    monkeypatch.setattr(repo_mod, "_write_json", flaky)
    with pytest.raises(OSError):
        merge(root=base, src_revs="a@t1;b@t1", dst="m@t1")
    assert tree_bytes(base) == before


def test_killed_writer_leaves_reachable_content_and_is_swept(base: Path) -> None:
    """SIGKILL right before the references are published: readers see the old state, the next
    write removes the leftovers, and `status` reported them meanwhile."""
    script = textwrap.dedent(f"""
        import os, signal
        import mir.store.repo as r
        from mir.ops.merge import merge
        real = r._write_json
        def killer(path, data, *, atomic_in=None):
            if path.name == "refs.json":
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, data, atomic_in=atomic_in)
        r._write_json = killer
        merge(root={str(base)!r}, src_revs="a@t1;b@t1", dst="m@t1")
    """)
    before_refs = (base / ".mir" / "refs.json").read_bytes()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert (base / ".mir" / "refs.json").read_bytes() == before_refs
    assert any("unreachable" in item for item in history.status(root=base).leftovers)
    assert not history.status(root=base).write_in_progress  # the kernel released the lock
    commits_before = {p.name for p in (base / ".mir" / "commits").iterdir()}
    merge(root=base, src_revs="a@t1;b@t1", dst="m@t1")
    after = {p.name for p in (base / ".mir" / "commits").iterdir()}
    assert len(after) == len(commits_before)  # the orphan went, the new commit came
    assert history.status(root=base).leftovers == []
    assert os.listdir(base / ".mir" / "tmp") == []


def test_concurrent_writers_all_succeed_in_order(base: Path) -> None:
    """Eight processes sample into the same branch at once: eight commits, one chain, none lost."""
    script = textwrap.dedent("""
        import sys
        from mir.ops.filtering import sampling
        sampling(root=sys.argv[1], src_revs="a@t1", dst=f"s@t{sys.argv[2]}", count=10, seed=int(sys.argv[2]))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(base), str(i)]) for i in range(8)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    chain = history.log(root=base, rev="s")
    assert sorted(c.tid for c in chain if c.branch == "s") == sorted(f"t{i}" for i in range(8))
    for i in range(8):
        assert len(content(base, f"s@t{i}")["assets"]) == 10


def test_readers_never_see_half_a_version(base: Path) -> None:
    """A reader polling while a writer commits sees complete versions only."""
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        from mir.ops.merge import merge
        for i in range(15):
            merge(root={str(base)!r}, src_revs="a@t1;b@t1", dst=f"m@t{{i}}")
    """),
        ]
    )
    r = Repo(base)
    seen = 0
    while writer.poll() is None or seen == 0:
        refs = r.refs()
        for tag in refs["tags"]:
            if tag.startswith("m@"):
                assert r.read(r.resolve(tag)).assets.num_rows == 100
                seen += 1
    assert writer.wait() == 0


def test_sampling_destination_exists(base: Path) -> None:
    sampling(root=base, src_revs="a@t1", dst="s@t1", count=3)
    before = tree_bytes(base)
    from mir.errors import RevisionExistsError

    with pytest.raises(RevisionExistsError):
        sampling(root=base, src_revs="a@t1", dst="s@t1", count=3)
    assert tree_bytes(base) == before

"""mir gc: the image files no version names go, and nothing any version names, or an import is
writing, ever does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mir.errors import InputFileError, LockTimeoutError
from mir.ops import history
from mir.ops.gc import collect
from mir.ops.importing import import_dataset
from mir.store import media as media_store
from tests.command.conftest import CliResult, make_image

DAY = 24 * 3600


def _import(repo: Path, media: Path, index: Path, dst: str) -> None:
    import_dataset(root=repo, index_file=index, dst=dst, media_location=media, bar=False)


def _index(folder: Path, seeds: list[int]) -> tuple[Path, dict[int, str]]:
    """An index of one image per seed (the same seed makes the same bytes); their sha1s by seed."""
    ids = {s: make_image(folder / f"{s}.png", seed=s, fmt="PNG") for s in seeds}
    index = folder / "index.txt"
    index.write_text("".join(f"{s}.png\n" for s in seeds))
    return index, ids


def _age(media: Path, seconds: float) -> None:
    """Make every stored image ``seconds`` old."""
    then = time.time() - seconds
    for f in media.rglob("*"):
        if f.is_file() and f.name != ".lock":
            os.utime(f, (then, then))


@pytest.fixture
def two_repos(tmp_path: Path) -> tuple[Path, Path, Path, dict[int, str]]:
    """Repositories a (images 1, 2) and b (images 2, 3) sharing one media location, where a failed import
    into a stored images 4 and 5 before it met a broken file; every file a day and a half old."""
    media = tmp_path / "media"
    a, b = tmp_path / "a", tmp_path / "b"
    history.init(root=a)
    history.init(root=b)
    ids: dict[int, str] = {}
    index, got = _index(tmp_path / "one", [1, 2])
    _import(a, media, index, "ds@t1")
    ids |= got
    index, got = _index(tmp_path / "two", [2, 3])
    _import(b, media, index, "ds@t1")
    ids |= got
    index, got = _index(tmp_path / "failed", [4, 5])
    (tmp_path / "failed" / "broken.png").write_bytes(b"not an image")
    index.write_text(index.read_text() + "broken.png\n")
    with pytest.raises(InputFileError):
        _import(a, media, index, "ds@t2")
    ids |= got
    _age(media, 1.5 * DAY)
    return a, b, media, ids


@contextmanager
def _held(media: Path, *, exclusive: bool, seconds: float) -> Iterator[None]:
    """Another process holds the location's lock (as an import, or as gc) for ``seconds`` from the block's
    start, or until the block ends."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from mir.store.lock import media_lock
        with media_lock(Path({str(media)!r}), exclusive={exclusive}):
            print("held", flush=True)
            time.sleep({seconds})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield
    finally:
        proc.kill()
        proc.wait()


def _stored(media: Path, ids: dict[int, str]) -> set[int]:
    return {s for s, i in ids.items() if media_store.asset_path(media, i).is_file()}


def test_a_failed_imports_images_go_and_every_named_one_stays(
    two_repos: tuple[Path, Path, Path, dict[int, str]], mir: Callable[..., CliResult]
) -> None:
    a, b, media, ids = two_repos
    assert _stored(media, ids) == {1, 2, 3, 4, 5}  # the failed import left 4 and 5 behind

    dry = mir("gc", "--media-location", media, "--repo", a, "--repo", b)
    assert dry.code == 0, dry.err
    assert "5 image file(s)" in dry.out and "3 named by" in dry.out
    assert "would remove 2 file(s)" in dry.out and "--delete" in dry.out
    assert _stored(media, ids) == {1, 2, 3, 4, 5}  # a report only

    done = mir("gc", "--media-location", media, "--repos-in", a.parent, "--delete")
    assert done.code == 0, done.err
    assert "removed 2 file(s)" in done.out
    assert _stored(media, ids) == {1, 2, 3}
    for repo in (a, b):  # every version still reads all its images
        out = mir("export", "-r", repo, "--src-revs", "ds@t1", "--media-location", media,
                  "--asset-dir", repo.parent / f"export-{repo.name}", "--anno-format", "none")  # fmt: skip
        assert out.code == 0, out.err


def test_images_younger_than_the_limit_stay(two_repos: tuple[Path, Path, Path, dict[int, str]]) -> None:
    a, b, media, ids = two_repos
    _age(media, 3600)  # an hour old: a writer that takes no lock may still be about to name them
    report = collect(media, [a, b], older_than_hours=24, delete=True)
    assert (report.unreferenced, report.too_young, report.removed) == (2, 2, 0)
    assert _stored(media, ids) == {1, 2, 3, 4, 5}
    report = collect(media, [a, b], older_than_hours=0.5, delete=True)
    assert report.removed == 2 and _stored(media, ids) == {1, 2, 3}


def test_a_repository_left_out_or_mistyped_removes_nothing(
    two_repos: tuple[Path, Path, Path, dict[int, str]], mir: Callable[..., CliResult], tmp_path: Path
) -> None:
    a, b, media, ids = two_repos
    wrong = mir("gc", "--media-location", media, "--repo", a, "--repo", tmp_path / "typo", "--delete")
    assert wrong.code == 3 and "typo" in wrong.err
    none = mir("gc", "--media-location", media, "--delete")
    assert none.code == 2 and "--repos-in" in none.err
    not_media = mir("gc", "--media-location", tmp_path / "nowhere", "--repo", a, "--delete")
    assert not_media.code == 2 and "nowhere" in not_media.err
    no_folder = mir("gc", "--media-location", media, "--repos-in", tmp_path / "no-repos", "--delete")
    assert no_folder.code == 2 and "no-repos" in no_folder.err
    negative = mir(
        "gc", "--media-location", media, "--repo", a, "--repo", b, "--older-than-hours", "-1", "--delete"
    )
    assert negative.code == 2 and "negative" in negative.err
    with pytest.raises(SystemExit) as e:  # argparse's own refusal, before gc starts
        mir("gc", "--media-location", media, "--repo", a, "--older-than-hours", "a day", "--delete")
    assert e.value.code == 2
    assert _stored(media, ids) == {1, 2, 3, 4, 5}


def test_gc_does_not_run_while_an_import_writes(two_repos: tuple[Path, Path, Path, dict[int, str]]) -> None:
    """An import holds the location's lock shared from its first stored image to its commit: had gc
    removed image 4 while an import of the same bytes found it present, that import would name a
    missing file."""
    a, b, media, ids = two_repos
    with _held(media, exclusive=False, seconds=60):
        with pytest.raises(LockTimeoutError, match="media location's lock") as e:
            collect(media, [a, b], delete=True, wait_seconds=0.2)
        assert "--wait" in str(e.value)
        assert _stored(media, ids) == {1, 2, 3, 4, 5}
    assert collect(media, [a, b], delete=True).removed == 2


def test_an_import_with_worker_processes_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import's pool workers are forked while it holds the lock and inherit it; once the import is
    done, gc must still get the location."""
    monkeypatch.setenv("MIR_WORKERS", "2")
    monkeypatch.setenv("MIR_POOL", "process")
    repo, media = tmp_path / "r", tmp_path / "media"
    history.init(root=repo)
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(520):  # 512 lines or more use worker processes
        make_image(folder / f"{i}.png", size=(4, 4), seed=1000 + i, fmt="PNG")
    (folder / "index.txt").write_text("".join(f"{i}.png\n" for i in range(520)))
    _import(repo, media, folder / "index.txt", "ds@t1")
    report = collect(media, [repo], delete=True)
    assert (report.files, report.referenced, report.removed) == (520, 520, 0)


def test_a_write_being_staged_does_not_stop_gc(two_repos: tuple[Path, Path, Path, dict[int, str]]) -> None:
    """A merge or filter staging its tables names only committed images; a half-written table of it is
    skipped. A damaged committed table stops gc before anything is removed."""
    a, b, media, ids = two_repos
    staged = a / ".mir" / "tmp" / "commit-staged"
    staged.mkdir(parents=True)
    (staged / "assets.parquet").write_bytes(b"PAR1 half written")
    assert collect(media, [a, b], delete=True).removed == 2
    damaged = next((b / ".mir" / "commits").iterdir()) / "assets.parquet"
    damaged.write_bytes(b"PAR1 damaged")
    for s in (4, 5):  # stored again, orphans again
        make_image(media / "x.png", seed=s, fmt="PNG")
        media_store.store_bytes(media, ids[s], (media / "x.png").read_bytes())
        (media / "x.png").unlink()
    _age(media, 2 * DAY)
    with pytest.raises(InputFileError, match="cannot be read") as e:
        collect(media, [a, b], delete=True)
    assert str(damaged) in str(e.value) and "backup" in str(e.value)
    assert _stored(media, ids) == {1, 2, 3, 4, 5}


def test_an_import_holds_the_location_until_its_commit(tmp_path: Path) -> None:
    """While an import reads and stores its images and while it commits, gc cannot take the location."""
    import fcntl

    repo, media = tmp_path / "r", tmp_path / "media"
    history.init(root=repo)
    index, _ = _index(tmp_path / "imgs", [1, 2, 3])
    seen: dict[str, bool] = {}

    def progress(fraction: float, stage: str) -> None:
        fd = os.open(media / ".lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            seen[stage] = False
        except BlockingIOError:
            seen[stage] = True
        finally:
            os.close(fd)

    import_dataset(
        root=repo, index_file=index, dst="ds@t1", media_location=media, bar=False, progress=progress
    )
    assert seen.get("reading images") and seen.get("committing"), seen
    assert all(seen.values()), seen


def test_an_import_started_during_gc_waits_for_it(tmp_path: Path) -> None:
    repo, media = tmp_path / "r", tmp_path / "media"
    history.init(root=repo)
    index, ids = _index(tmp_path / "imgs", [1, 2])
    with _held(media, exclusive=True, seconds=1.5):
        t = time.monotonic()
        _import(repo, media, index, "ds@t1")
        waited = time.monotonic() - t  # the holder keeps the lock 1.5 s after saying so
    assert waited > 1.0 and _stored(media, ids) == {1, 2}

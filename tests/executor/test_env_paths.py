"""Container paths in env.yaml and index files land under this run's roots, whatever the host holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from ymir_executor.env import Roots


def test_container_paths_go_under_the_roots_even_when_the_host_has_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host with its own /out/monitor.txt once received a test run's monitor (the caller found none)."""
    roots = Roots(tmp_path / "in", tmp_path / "out", tmp_path / "img")
    monkeypatch.setattr(Path, "exists", lambda self: True)  # as if /in, /out and /img-man were on the host
    assert roots.map_path("/out/monitor.txt") == tmp_path / "out" / "monitor.txt"
    assert roots.map_path("/in/assets/a.jpg") == tmp_path / "in" / "assets" / "a.jpg"
    assert roots.map_path("/img-man/x.yaml") == tmp_path / "img" / "x.yaml"
    assert roots.map_path("/out") == tmp_path / "out"


def test_other_paths_are_taken_as_written(tmp_path: Path) -> None:
    roots = Roots(tmp_path / "in", tmp_path / "out", tmp_path / "img")
    assert roots.map_path("/data/pool/a.jpg") == Path("/data/pool/a.jpg")
    assert roots.map_path("/input/a.jpg") == Path("/input/a.jpg")  # a sibling of /in, not under it
    assert roots.map_path("assets/a.jpg") == tmp_path / "in" / "assets" / "a.jpg"


def test_in_a_container_the_paths_stay(tmp_path: Path) -> None:
    roots = Roots(Path("/in"), Path("/out"), Path("/img-man"))
    assert roots.map_path("/out/monitor.txt") == Path("/out/monitor.txt")

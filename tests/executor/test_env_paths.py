"""Container paths in env.yaml and index files land under this run's roots, whatever the host holds."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_help_answers_the_usage_and_runs_nothing(tmp_path: Path) -> None:
    """``--help`` once ran a task in the default roots and left a failed /out/monitor.txt on the host."""
    env = {**os.environ, "YMIR_EXECUTOR_IN": str(tmp_path / "in"), "YMIR_EXECUTOR_OUT": str(tmp_path / "out")}
    run = [sys.executable, "-m", "ymir_executor"]
    helped = subprocess.run(
        [*run, "--help"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert helped.returncode == 0 and "YMIR_EXECUTOR_IN" in helped.stdout
    wrong = subprocess.run([*run, "train"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert wrong.returncode == 2 and "takes no arguments (got 'train')" in wrong.stderr
    assert not (tmp_path / "out").exists()

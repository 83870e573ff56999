"""``ymir.sh``: installs only when a project file changed, refuses what it cannot do, starts and stops
cleanly. Each test runs a copy of the script in its own folder, so a developer's running YMIR is safe."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = [
    "pyproject.toml",
    "command/pyproject.toml",
    "executor/pyproject.toml",
    "controller/pyproject.toml",
    "backend/pyproject.toml",
]


def _copy_script(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "ymir.sh", root / "ymir.sh")
    for name in PROJECT_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    return root / "ymir.sh"


def _run(
    script: Path, *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@pytest.fixture
def recording_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A venv whose ``pip`` only records its calls (installing for real takes minutes); what is
    tested is ymir.sh's decision to install or not."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    calls = tmp_path / "pip-calls"
    (venv / "bin" / "pip").write_text(f'#!/bin/sh\necho "$@" >>{calls}\n')
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 0\n")
    for name in ("pip", "python"):
        (venv / "bin" / name).chmod(0o755)
    return venv, calls


def test_install_runs_only_when_a_project_file_changed(
    tmp_path: Path, recording_venv: tuple[Path, Path]
) -> None:
    venv, calls = recording_venv
    script = _copy_script(tmp_path / "checkout")
    env = {**os.environ, "YMIR_VENV": str(venv)}

    first = _run(script, "install", env=env)
    assert first.returncode == 0, first.stderr
    assert "installing PyTorch" in first.stderr and "installing command/" in first.stderr
    assert len(calls.read_text().splitlines()) == 2

    second = _run(script, "install", env=env)
    assert second.returncode == 0, second.stderr
    assert "installing" not in second.stderr
    assert len(calls.read_text().splitlines()) == 2  # nothing installed again

    backend = script.parent / "backend" / "pyproject.toml"
    backend.write_text(backend.read_text() + "\n# a new dependency\n")
    third = _run(script, "install", env=env)
    assert "installing command/" in third.stderr
    assert len(calls.read_text().splitlines()) == 4


def test_test_part_unknown_names_the_parts(tmp_path: Path, recording_venv: tuple[Path, Path]) -> None:
    venv, _ = recording_venv
    script = _copy_script(tmp_path / "checkout")
    (script.parent / "tests" / "command").mkdir(parents=True)
    result = _run(script, "test", "comand", env={**os.environ, "YMIR_VENV": str(venv)})
    assert result.returncode == 2
    assert "no part named 'comand'" in result.stderr and "command" in result.stderr.split("parts:")[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_second_start_installs_nothing_names_the_sharing_folder_and_stops_cleanly(tmp_path: Path) -> None:
    """Runs the real platform from a copy of the script with this checkout's environment."""
    venv = Path(sys.executable).parent.parent
    stamp = venv / ".ymir-stamp-python"
    if not stamp.exists():
        pytest.fail(f"{stamp} is missing: run the tests through ./ymir.sh test, which installs and stamps")
    script = _copy_script(tmp_path / "checkout")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YMIR_") and k not in ("VIRTUAL_ENV",)}
    env.update(
        YMIR_VENV=str(venv), YMIR_PORT=str(_free_port()), YMIR_HOST="127.0.0.1", YMIR_WORKER_CONCURRENCY="1"
    )
    try:
        # captured output: start must end although the worker and the API it started keep running
        started = _run(script, "start", env=env, timeout=180)
        assert started.returncode == 0, started.stderr
        assert "installing" not in started.stderr  # the project files did not change since the stamp
        sharing = script.parent / "ymir-workplace" / "sharing"
        assert f"sharing folder for server-path imports: {sharing}" in started.stderr
        assert sharing.is_dir()
    finally:
        stopped = _run(script, "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped worker" in stopped.stderr
    log = (script.parent / ".ymir" / "worker.log").read_text()
    assert "ready." in log
    assert "superuser privileges" not in log  # Celery's root warning
    assert "exited with" not in log and "ERROR" not in log, log[-2000:]

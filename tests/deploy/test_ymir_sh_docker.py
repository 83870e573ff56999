"""``./ymir.sh start --docker`` / ``stop --docker`` in a copy of the checkout, with a compose command that
validates the compose file with Docker Compose v2 (``config``) under the environment ymir.sh gives it
and records how it was called: secrets generated once and kept, .env.local read, profiles from .env."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.deploy.test_compose import ROOT, compose_binary


def _checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("ymir.sh", "docker-compose.yml", ".env"):
        shutil.copy(ROOT / name, root / name)
    calls = tmp_path / "calls"
    compose = tmp_path / "compose"
    compose.write_text(
        "#!/bin/sh\n"
        f'"{compose_binary()}" -f docker-compose.yml config -q || exit 1\n'
        f'echo "$* | $COMPOSE_PROFILES | $YMIR_POSTGRES_PASSWORD | $YMIR_WORKPLACE" >>{calls}\n'
    )
    compose.chmod(0o755)
    return root


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YMIR_", "COMPOSE_"))}
    env["YMIR_COMPOSE"] = str(root.parent / "compose")
    return subprocess.run(
        ["bash", str(root / "ymir.sh"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_start_and_stop_with_docker(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    workplace = tmp_path / "workplace"
    (root / ".env.local").write_text(
        f"YMIR_WORKPLACE={workplace}\nYMIR_GPU_IDS=0,1\nYMIR_LABEL_STUDIO=true\n"
    )
    first = _run(root, "start", "--docker")
    assert first.returncode == 0, first.stderr
    assert "generated the database password" in first.stderr and "http://127.0.0.1:12001" in first.stderr
    secrets = workplace / ".secrets.env"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    kept = dict(line.split("=", 1) for line in secrets.read_text().splitlines())
    password = kept["YMIR_POSTGRES_PASSWORD"]
    assert len(password) >= 32 and len(kept["YMIR_LABEL_STUDIO_TOKEN"]) >= 32  # the label profile is on
    assert "generated Label Studio's API token" in first.stderr
    assert (workplace / "sharing").is_dir()
    second = _run(root, "start", "--docker")
    assert second.returncode == 0 and "generated" not in second.stderr  # kept, never replaced
    stop = _run(root, "stop", "--docker")
    assert stop.returncode == 0, stop.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [
        f"up -d | gpu,label | {password} | {workplace}",
        f"up -d | gpu,label | {password} | {workplace}",
        f"down | gpu,label | {password} | {workplace}",
    ]
    assert "YMIR_POSTGRES_PASSWORD=\n" in (root / ".env").read_text(), "no secret in the committed file"


def test_start_docker_without_the_env_file_says_so(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    (root / ".env").unlink()
    result = _run(root, "start", "--docker")
    assert result.returncode == 1
    assert ".env is missing" in result.stderr and "git checkout .env" in result.stderr


def test_a_password_set_in_env_local_is_used(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    workplace = tmp_path / "wp"
    (root / ".env.local").write_text(f"YMIR_WORKPLACE={workplace}\nYMIR_POSTGRES_PASSWORD=mine\n")
    result = _run(root, "start", "--docker")
    assert result.returncode == 0, result.stderr
    assert not (workplace / ".secrets.env").exists()
    assert (tmp_path / "calls").read_text().splitlines() == [f"up -d |  | mine | {workplace}"]

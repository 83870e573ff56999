"""Reads ``env.yaml``: which task to run and where its files are.

In a container the paths are the contract's ``/in``, ``/out`` and ``/img-man``. Run as a local process,
the roots come from ``YMIR_EXECUTOR_IN``, ``YMIR_EXECUTOR_OUT`` and ``YMIR_EXECUTOR_IMG_MAN``. A path
written in env.yaml or an index file under ``/in``, ``/out`` or ``/img-man`` is relocated under the matching
root, so a work directory prepared for docker also runs locally; any other path is taken as written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ymir_executor.errors import ConfigError

ENV_IN = "YMIR_EXECUTOR_IN"
ENV_OUT = "YMIR_EXECUTOR_OUT"
ENV_IMG_MAN = "YMIR_EXECUTOR_IMG_MAN"
PROTOCOL_VERSION = "1.1.0"


@dataclass(frozen=True)
class Roots:
    """The three contract roots as seen by this process."""

    input: Path
    output: Path
    img_man: Path

    @classmethod
    def from_environ(cls) -> Roots:
        """Roots from the environment variables, defaulting to the container paths."""
        return cls(
            input=Path(os.environ.get(ENV_IN, "/in")),
            output=Path(os.environ.get(ENV_OUT, "/out")),
            img_man=Path(os.environ.get(ENV_IMG_MAN, "/img-man")),
        )

    def map_path(self, raw: str | Path) -> Path:
        """Maps a path from env.yaml or an index file onto this process's file system.

        A path under ``/in``, ``/out`` or ``/img-man`` is moved under the matching root, whatever the host
        holds at that path: a host that happens to have an ``/out/monitor.txt`` (another run's, a user's
        folder) must not receive this task's monitor and results, which the caller then never finds. Any
        other absolute path is kept; relative paths are taken relative to the input root. No file-system
        call: this runs once per image of a dataset.
        """
        path = Path(raw)
        if not path.is_absolute():
            return self.input / path
        for container_root, root in (
            (Path("/in"), self.input),
            (Path("/out"), self.output),
            (Path("/img-man"), self.img_man),
        ):
            if root != container_root and (path == container_root or container_root in path.parents):
                return root / path.relative_to(container_root)
        return path


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore")
    root_dir: str = "/in"
    assets_dir: str = "/in/assets"
    annotations_dir: str = "/in/annotations"
    models_dir: str = "/in/models"
    training_index_file: str = ""
    val_index_file: str = ""
    candidate_index_file: str = ""
    config_file: str = "/in/config.yaml"


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore")
    root_dir: str = "/out"
    models_dir: str = "/out/models"
    tensorboard_dir: str = "/out/tensorboard"
    training_result_file: str = "/out/models/result.yaml"
    mining_result_file: str = "/out/result.tsv"
    infer_result_file: str = "/out/infer-result.json"
    monitor_file: str = "/out/monitor.txt"
    executor_log_file: str = "/out/ymir-executor-out.log"


class EnvFile(BaseModel):
    """The fields of env.yaml (unknown fields are ignored: the platform may add some)."""

    model_config = ConfigDict(extra="ignore")
    protocol_version: str = PROTOCOL_VERSION
    task_id: str = "default-task"
    run_training: bool = False
    run_mining: bool = False
    run_infer: bool = False
    input: _Input = _Input()
    output: _Output = _Output()
    manifest_file: str = "/img-man/manifest.yaml"


@dataclass(frozen=True)
class Env:
    """env.yaml with every path mapped onto this process's file system."""

    task_id: str
    run_training: bool
    run_mining: bool
    run_infer: bool
    roots: Roots
    config_file: Path
    models_in_dir: Path
    training_index_file: Path | None
    val_index_file: Path | None
    candidate_index_file: Path | None
    out_dir: Path
    models_out_dir: Path
    tensorboard_dir: Path
    training_result_file: Path
    mining_result_file: Path
    infer_result_file: Path
    monitor_file: Path


def default_monitor_file(roots: Roots) -> Path:
    """Where monitor.txt goes when env.yaml itself cannot be read."""
    return roots.output / "monitor.txt"


def load_env(roots: Roots) -> Env:
    """Reads and validates ``<input root>/env.yaml``.

    Raises:
        ConfigError: If env.yaml is missing, not YAML, or asks for no task.
    """
    path = roots.input / "env.yaml"
    if not path.is_file():
        raise ConfigError(
            field="env.yaml",
            problem=f"{path} does not exist",
            fix=f"write it, or point {ENV_IN} at the folder that holds it",
        )
    try:
        raw: Any = yaml.safe_load(path.read_text()) or {}
        parsed = EnvFile.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            field="env.yaml",
            problem=f"cannot be parsed ({first})",
            fix="write a mapping with the contract's fields",
        ) from exc
    if not (parsed.run_training or parsed.run_mining or parsed.run_infer):
        raise ConfigError(
            field="env.yaml",
            problem="run_training, run_mining and run_infer are all false",
            fix="set the flag of the task to run",
        )
    m = roots.map_path

    def optional(raw_path: str) -> Path | None:
        return m(raw_path) if raw_path else None

    return Env(
        task_id=parsed.task_id,
        run_training=parsed.run_training,
        run_mining=parsed.run_mining,
        run_infer=parsed.run_infer,
        roots=roots,
        config_file=m(parsed.input.config_file),
        models_in_dir=m(parsed.input.models_dir),
        training_index_file=optional(parsed.input.training_index_file),
        val_index_file=optional(parsed.input.val_index_file),
        candidate_index_file=optional(parsed.input.candidate_index_file),
        out_dir=m(parsed.output.root_dir),
        models_out_dir=m(parsed.output.models_dir),
        tensorboard_dir=m(parsed.output.tensorboard_dir),
        training_result_file=m(parsed.output.training_result_file),
        mining_result_file=m(parsed.output.mining_result_file),
        infer_result_file=m(parsed.output.infer_result_file),
        monitor_file=m(parsed.output.monitor_file),
    )

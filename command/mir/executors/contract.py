"""The executor contract (protocol 1.1.0) as mir speaks it: the work directory, env.yaml,
config.yaml, and strict readers of what an executor writes back.

Everything an executor writes is validated here, so a broken executor fails with a message that
says which file and which line is wrong, instead of a bare code three layers up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mir.errors import ExecutorError

PROTOCOL_VERSION = "1.1.0"
RESERVED_KEYS = (
    "task_id",
    "class_names",
    "gpu_id",
    "gpu_count",
    "pretrained_model_params",
    "model_params_path",
    "run_mining",
    "run_infer",
)
STATE_RUNNING, STATE_DONE, STATE_ERROR = 2, 3, 4


@dataclass(frozen=True)
class WorkDir:
    """A task's work directory on the host: ``in/`` is what the executor reads, ``out/`` what it writes."""

    root: Path

    @property
    def input(self) -> Path:
        """``<work>/in``."""
        return self.root / "in"

    @property
    def output(self) -> Path:
        """``<work>/out``."""
        return self.root / "out"

    @property
    def log(self) -> Path:
        """The executor's console output (written by mir, never by the executor)."""
        return self.output / "executor.log"

    def create(self) -> WorkDir:
        """Make the folders the contract names."""
        for sub in ("in/assets", "in/annotations", "in/models", "out/models", "out/tensorboard"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self


def container_path(work: WorkDir, host_path: Path, *, container: bool) -> str:
    """How the executor sees ``host_path``: ``/in/...`` in a container, the host path otherwise."""
    if not container:
        return str(host_path)
    for host_root, root in ((work.input, "/in"), (work.output, "/out")):
        if host_path == host_root or host_root in host_path.parents:
            return root + "/" + str(host_path.relative_to(host_root)) if host_path != host_root else root
    return str(host_path)


def write_env(
    work: WorkDir,
    *,
    task_id: str,
    run_training: bool = False,
    run_mining: bool = False,
    run_infer: bool = False,
    container: bool,
    candidates: bool = False,
) -> Path:
    """Write ``in/env.yaml`` with the contract's paths (container paths, or the host's for local runs).

    ``candidates`` names the candidate index in a training too (its unlabelled images).
    """

    def p(*parts: str) -> str:
        return container_path(work, work.root.joinpath(*parts), container=container)

    env = {
        "protocol_version": PROTOCOL_VERSION,
        "task_id": task_id,
        "run_training": run_training,
        "run_mining": run_mining,
        "run_infer": run_infer,
        "input": {
            "root_dir": p("in"),
            "assets_dir": p("in", "assets"),
            "annotations_dir": p("in", "annotations"),
            "models_dir": p("in", "models"),
            "config_file": p("in", "config.yaml"),
            "training_index_file": p("in", "train-index.tsv") if run_training else "",
            "val_index_file": p("in", "val-index.tsv") if run_training else "",
            "candidate_index_file": (
                p("in", "candidate-index.tsv") if (run_mining or run_infer or candidates) else ""
            ),
        },
        "output": {
            "root_dir": p("out"),
            "models_dir": p("out", "models"),
            "tensorboard_dir": p("out", "tensorboard"),
            "training_result_file": p("out", "models", "result.yaml"),
            "mining_result_file": p("out", "result.tsv"),
            "infer_result_file": p("out", "infer-result.json"),
            "monitor_file": p("out", "monitor.txt"),
            "executor_log_file": p("out", "executor.log"),
        },
        "manifest_file": "/img-man/manifest.yaml",
    }
    path = work.input / "env.yaml"
    path.write_text(yaml.safe_dump(env, sort_keys=False))
    return path


def merge_config(template: dict[str, Any], user: dict[str, Any], reserved: dict[str, Any]) -> dict[str, Any]:
    """config.yaml = template defaults < the user's edits < the platform's reserved keys."""
    merged = {**template, **{k: v for k, v in user.items() if k not in RESERVED_KEYS}}
    merged.update(reserved)
    return merged


def write_config(work: WorkDir, config: dict[str, Any]) -> Path:
    """Write ``in/config.yaml``."""
    path = work.input / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


@dataclass
class Monitor:
    """The one line of ``out/monitor.txt``: ``task_id  time  percent  state  [code]`` + optional message."""

    percent: float
    state: int
    code: int | None = None
    message: str = ""


def read_monitor(path: Path) -> Monitor | None:
    """Parse monitor.txt; None when absent or being rewritten (a torn read is retried later)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    lines = text.splitlines()
    if not lines:
        return None
    fields = lines[0].split("\t") if "\t" in lines[0] else lines[0].split()
    if len(fields) < 4:
        return None
    try:
        percent = float(fields[2])
        state = int(float(fields[3]))
        code = int(float(fields[4])) if len(fields) > 4 and fields[4].strip() else None
    except ValueError:
        return None
    return Monitor(
        percent=min(max(percent, 0.0), 1.0), state=state, code=code, message="\n".join(lines[1:]).strip()
    )


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file (for error messages)."""
    try:
        data = path.read_bytes()[-20000:].decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


@dataclass
class Stage:
    """One model stage of result.yaml."""

    name: str
    files: list[str]
    timestamp: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainingResult:
    """A validated ``out/models/result.yaml``."""

    best_stage: str
    stages: dict[str, Stage]
    extra: dict[str, Any] = field(default_factory=dict)


_METRICS = ("mAP", "mAR", "mIoU", "mAcc", "maskAP", "boxAP")


def read_training_result(models_dir: Path) -> TrainingResult:
    """Read and check result.yaml: stages with files that exist, metrics within 0..1, a real best stage."""
    path = models_dir / "result.yaml"
    if not path.is_file():
        raise ExecutorError(f"the executor wrote no {path.name} (expected at {path})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ExecutorError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ExecutorError(f"{path} must be a mapping with model_stages and best_stage_name")
    if "model_stages" not in data and "model" in data:  # the legacy layout {model: [files], map: x}
        data = {
            "best_stage_name": "default",
            "model_stages": {
                "default": {"files": data["model"], "mAP": data.get("map", 0.0), "timestamp": 0}
            },
        }
    stages_raw = data.get("model_stages")
    if not isinstance(stages_raw, dict) or not stages_raw:
        raise ExecutorError(f"{path}: 'model_stages' must be a non-empty mapping of stage name to stage")
    stages: dict[str, Stage] = {}
    for name, raw in stages_raw.items():
        where = f"{path}: model_stages.{name}"
        if not isinstance(raw, dict):
            raise ExecutorError(f"{where} must be a mapping")
        if not str(name).isidentifier():
            raise ExecutorError(f"{where}: stage names must be identifiers")
        files = raw.get("files")
        if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
            raise ExecutorError(f"{where}.files must be a non-empty list of file names")
        for f in files:
            if not (models_dir / str(name) / f).is_file() and not (models_dir / f).is_file():
                raise ExecutorError(f"{where}.files names {f!r}, which the executor did not write")
        metrics: dict[str, float] = {}
        for key in _METRICS:
            if key in raw:
                value = raw[key]
                if (
                    not isinstance(value, int | float)
                    or isinstance(value, bool)
                    or math.isnan(float(value))
                    or not 0.0 <= float(value) <= 1.0
                ):
                    raise ExecutorError(f"{where}.{key} = {value!r} is outside 0..1")
                metrics[key] = float(value)
        stages[str(name)] = Stage(
            name=str(name),
            files=[str(f) for f in files],
            timestamp=int(raw.get("timestamp") or 0),
            metrics=metrics,
        )
    best = str(data.get("best_stage_name") or "")
    if best not in stages:
        raise ExecutorError(f"{path}: best_stage_name {best!r} is not one of the stages {sorted(stages)}")
    extra = {k: v for k, v in data.items() if k not in ("model_stages", "best_stage_name")}
    return TrainingResult(best_stage=best, stages=stages, extra=extra)


def read_mining_result(path: Path, candidates: dict[str, str]) -> list[tuple[str, float]]:
    """Read result.tsv into ``[(asset_id, score)]`` best first; every line must name a candidate.

    ``candidates`` maps the path the executor saw (and its basename) to the asset id.
    """
    if not path.is_file():
        raise ExecutorError(f"the executor wrote no mining result (expected {path})")
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for no, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise ExecutorError(f"{path}:{no}: expected '<image path>\\t<score>', got {line[:80]!r}")
        asset = candidates.get(fields[0]) or candidates.get(Path(fields[0]).name)
        if asset is None:
            raise ExecutorError(f"{path}:{no}: {fields[0]!r} is not one of the candidates")
        try:
            score = float(fields[1])
        except ValueError as e:
            raise ExecutorError(f"{path}:{no}: score {fields[1]!r} is not a number") from e
        if math.isnan(score):
            raise ExecutorError(f"{path}:{no}: score is NaN")
        if asset not in seen:
            seen.add(asset)
            out.append((asset, score))
    out.sort(key=lambda item: -item[1])  # never trust the file's order (YMIR did)
    return out


@dataclass
class InferBox:
    """One detection of infer-result.json, pixels, top-left xywh."""

    x: float
    y: float
    w: float
    h: float
    class_name: str
    score: float


def read_infer_result(path: Path) -> dict[str, list[InferBox]]:
    """Read infer-result.json.

    Layout: ``{"detection": {basename: {"boxes": [{box: {x, y, w, h}, class_name, score}]}}}``.
    """
    if not path.is_file():
        raise ExecutorError(f"the executor wrote no inference result (expected {path})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ExecutorError(f"{path} is not valid JSON: {e}") from e
    detection = data.get("detection") if isinstance(data, dict) else None
    if not isinstance(detection, dict):
        raise ExecutorError(f"{path}: expected a top-level 'detection' mapping of image name to boxes")
    out: dict[str, list[InferBox]] = {}
    for name, item in detection.items():
        boxes = (
            (item or {}).get("boxes", (item or {}).get("annotations", [])) if isinstance(item, dict) else None
        )
        if not isinstance(boxes, list):
            raise ExecutorError(f"{path}: detection[{name!r}].boxes must be a list")
        parsed = []
        for i, b in enumerate(boxes):
            try:
                box = b["box"]
                parsed.append(
                    InferBox(
                        float(box["x"]),
                        float(box["y"]),
                        float(box["w"]),
                        float(box["h"]),
                        str(b["class_name"]),
                        float(b.get("score", -1.0)),
                    )
                )
            except (KeyError, TypeError, ValueError) as e:
                raise ExecutorError(
                    f"{path}: detection[{name!r}].boxes[{i}] is malformed ({e!r}); expected "
                    "{box: {x, y, w, h}, class_name, score}"
                ) from e
        out[str(name)] = parsed
    return out

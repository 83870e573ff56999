"""Model stages under ``out/models/<stage>/`` and ``out/models/result.yaml`` (protocol 1.1.0)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EVALUATE_CONFIG = {"iou_thr": 0.5, "conf_thr": 0.001}


@dataclass
class Stage:
    """One saved stage and its metrics (``mAP`` is AP@0.5, 0..1)."""

    name: str
    files: list[str]
    timestamp: int
    mAP: float  # noqa: N815 - the contract's key
    mAR: float  # noqa: N815
    tp: int
    fp: int
    fn: int


@dataclass
class StageBook:
    """Keeps the stage folders and result.yaml in step: the best stage plus the ``keep`` newest ones."""

    models_dir: Path
    keep: int
    stages: dict[str, Stage] = field(default_factory=dict)
    best: str = ""

    def add(self, stage: Stage) -> None:
        """Records a stage whose files are already in ``models_dir/<name>/``, prunes, rewrites result.yaml."""
        self.stages[stage.name] = stage
        if not self.best or stage.mAP >= self.stages[self.best].mAP:
            self.best = stage.name
        newest = list(self.stages.values())[-self.keep :]  # insertion order is age
        wanted = {s.name for s in newest} | {self.best}
        for name in list(self.stages):
            if name not in wanted:
                del self.stages[name]
                shutil.rmtree(self.models_dir / name, ignore_errors=True)
        self.write()

    def add_file(self, stage_name: str, file_name: str) -> None:
        """Lists one more file (already written) of a stage."""
        self.stages[stage_name].files.append(file_name)
        self.write()

    def write(self) -> None:
        """Rewrites result.yaml atomically."""
        doc = {
            "best_stage_name": self.best,
            "mAP": self.stages[self.best].mAP if self.best else 0.0,
            "model_stages": {
                name: {
                    "stage_name": s.name,
                    "files": list(s.files),
                    "timestamp": s.timestamp,
                    "mAP": round(s.mAP, 6),
                    "mAR": round(s.mAR, 6),
                    "tp": s.tp,
                    "fp": s.fp,
                    "fn": s.fn,
                }
                for name, s in self.stages.items()
            },
            "evaluate_config": dict(EVALUATE_CONFIG),
        }
        self.models_dir.mkdir(parents=True, exist_ok=True)
        path = self.models_dir / "result.yaml"
        tmp = path.with_name("result.yaml.tmp")
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
        os.replace(tmp, path)


def now() -> int:
    """Unix seconds, the stage timestamp."""
    return int(time.time())

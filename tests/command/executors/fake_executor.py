"""A scriptable stand-in executor for runtime tests: ``FAKE_MODE`` picks how it behaves.

It honours the contract's folders (``YMIR_EXECUTOR_IN``/``OUT``) like a real executor, and can
misbehave in each way the platform must survive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

IN = Path(os.environ.get("YMIR_EXECUTOR_IN", "/in"))
OUT = Path(os.environ.get("YMIR_EXECUTOR_OUT", "/out"))
MODE = os.environ.get("FAKE_MODE", "ok")


def monitor(percent: float, state: int, code: int | None = None, message: str = "") -> None:
    line = f"fake\t{time.time():.6f}\t{percent:.2f}\t{state}" + (f"\t{code}" if code else "")
    (OUT / "monitor.txt").write_text(line + ("\n" + message if message else "") + "\n")


def local(path: str) -> Path:
    p = Path(path)
    for root, real in (("/in", IN), ("/out", OUT)):
        if path.startswith(root + "/"):
            return real / p.relative_to(root)
    return p


def main() -> int:
    env = yaml.safe_load((IN / "env.yaml").read_text())
    print("fake executor starting", MODE, flush=True)
    env_log = os.environ.get("FAKE_ENV_LOG")
    if env_log:  # what the runtime set in its environment, one JSON line per run
        kind = "training" if env["run_training"] else "mining" if env["run_mining"] else "infer"
        with open(env_log, "a") as f:
            seen = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")}
            f.write(json.dumps({"kind": kind, **seen}) + "\n")
    monitor(0.1, 2)
    if MODE == "sleep":
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a grandchild to kill too
        (OUT / "pid").write_text(str(os.getpid()))
        time.sleep(120)
    if MODE == "slow":  # record when it ran, for the GPU-slot test
        log = os.environ.get("FAKE_LOG")
        start = time.time()
        time.sleep(float(os.environ.get("FAKE_SLEEP", "2")))
        if log:
            with open(log, "a") as f:
                f.write(f"{start} {time.time()} {os.environ.get('CUDA_VISIBLE_DEVICES', '')}\n")
    if MODE == "exit3":
        monitor(0.2, 4, 300002, "dataset error: val-index.tsv is empty; add validation assets")
        print("Traceback: something broke", file=sys.stderr)
        return 3
    if MODE == "noresult":
        monitor(1.0, 3)
        return 0
    seen = os.environ.get("FAKE_SEEN")
    if seen and env["run_training"]:  # what a training was given besides its indexes
        config = yaml.safe_load((IN / "config.yaml").read_text())
        pool = env["input"].get("candidate_index_file") or ""
        lines = [ln for ln in local(pool).read_text().splitlines() if ln] if pool else []
        Path(seen).write_text(json.dumps({"pool": lines, "pseudo_labels": config.get("pseudo_labels")}))
    if env["run_training"]:
        stage = OUT / "models" / "epoch_1"
        stage.mkdir(parents=True, exist_ok=True)
        (stage / "weights.bin").write_bytes(b"\x00" * 16)
        metric = 1.7 if MODE == "badmetric" else 0.5
        result = {
            "best_stage_name": "epoch_1",
            "model_stages": {"epoch_1": {"files": ["weights.bin"], "mAP": metric, "timestamp": 1}},
        }
        text = "model_stages: [" if MODE == "badyaml" else yaml.safe_dump(result)
        (OUT / "models" / "result.yaml").write_text(text)
    candidates = []
    if env["run_mining"] or env["run_infer"]:
        candidates = [ln for ln in local(env["input"]["candidate_index_file"]).read_text().splitlines() if ln]
    if env["run_mining"]:
        lines = [f"{c}\t{i / len(candidates):.4f}" for i, c in enumerate(candidates)]  # ascending on purpose
        if MODE == "badtsv":
            lines[0] = "no tab here"
        (OUT / "result.tsv").write_text("\n".join(lines) + "\n")
    if env["run_infer"]:
        config = yaml.safe_load((IN / "config.yaml").read_text())
        name = config["class_names"][0]
        det = {
            Path(c).name: {
                "boxes": [{"box": {"x": 1, "y": 1, "w": 5, "h": 5}, "class_name": name, "score": 0.9}]
            }
            for c in candidates
        }
        (OUT / "infer-result.json").write_text(json.dumps({"detection": det}))
    monitor(1.0, 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())

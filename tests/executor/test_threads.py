"""OMP_NUM_THREADS sets the executor's CPU threads in training, mining and inference; a bad value fails the
task at once, naming the variable.

The runs that succeed go through ``python -m ymir_executor`` in a process of their own: the thread count is
process-wide, and the test process keeps its one thread (tests/executor/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.executor.conftest import CLASSES, TRAIN_CONFIG, monitor_fields, run_task
from tests.executor.workdir import voc_pairs, write_workdir
from ymir_executor import errors
from ymir_executor.threads import requested_threads


def _executor(din: Path, dout: Path, threads: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env |= {"YMIR_EXECUTOR_IN": str(din), "YMIR_EXECUTOR_OUT": str(dout)}
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    proc = subprocess.run(
        [sys.executable, "-m", "ymir_executor"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_training_mining_and_inference_use_the_threads_asked_for(
    data: dict[str, Path], tmp_path: Path
) -> None:
    pairs = voc_pairs(data["train"])[:16]
    config = {**TRAIN_CONFIG, "epochs": 1}
    din, dout = write_workdir(tmp_path / "train", task="training", config=config, train=pairs, val=pairs[:4])
    # 3 threads on a machine of 2 cores: torch, reading the variable itself, would cap it at 2
    proc = _executor(din, dout, "3")
    assert "3 CPU thread(s) for torch operations (OMP_NUM_THREADS=3)" in proc.stderr
    best = yaml.safe_load((dout / "models" / "result.yaml").read_text())["best_stage_name"]

    candidates = [Path(p) for p in (data["pool"] / "index.txt").read_text().split()][:8]
    mine = {
        "class_names": CLASSES,
        "model_params_path": [str(dout / "models" / best / "model.pt")],
        "workers_per_gpu": 0,
        "backend": "onnx",  # onnxruntime gets the count passed on (it does not read the variable)
    }
    din, dout = write_workdir(
        tmp_path / "mine", task="mining", config=mine, candidates=candidates, run_infer=True
    )
    proc = _executor(din, dout, "1")
    assert "1 CPU thread(s) for torch operations (OMP_NUM_THREADS=1)" in proc.stderr
    assert len((dout / "result.tsv").read_text().splitlines()) == len(candidates)
    assert (dout / "infer-result.json").is_file()

    proc = _executor(din, dout, None)  # unset: torch's default, all cores, as before
    default = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert f"{default} CPU thread(s) for torch operations (all cores; set OMP_NUM_THREADS" in proc.stderr


@pytest.mark.parametrize("value", ["0", "-1", "many", "2.5"])
def test_a_bad_thread_count_fails_naming_the_variable(
    value: str, data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused rather than warned about: OpenMP itself warns once on stderr and then uses every core, the
    oversubscription the variable was set to prevent, on a task that may run for hours."""
    pairs = voc_pairs(data["train"])[:8]
    din, dout = write_workdir(tmp_path, task="training", config=TRAIN_CONFIG, train=pairs, val=pairs[:2])
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert run_task(din, dout) != 0
    fields = monitor_fields(dout)
    assert fields[3] == "4" and fields[4] == str(errors.CODE_CONFIG), fields
    assert f"OMP_NUM_THREADS={value!r} is not a positive whole number" in fields[5]
    assert "e.g. OMP_NUM_THREADS=2" in fields[5] and "unset it" in fields[5]
    assert not (dout / "models").exists()  # refused before any work


@pytest.mark.parametrize(("value", "threads"), [("2", 2), (" 4 ", 4), ("4,2", 4), ("", None)])
def test_thread_count_syntax(value: str, threads: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenMP's list form (``4,2``: nested regions get 2) applies its first number; empty means unset."""
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert requested_threads() == threads


def test_training_threads_count_the_cores_this_process_may_use() -> None:
    """Inside a cpuset (a container, ``taskset``) the machine's core count overstates what a process may
    use: a CPU training pinned to one core of a machine with more gets one thread, not one per core."""
    assert (os.cpu_count() or 1) > 1, "needs a machine of two cores or more"
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "os.environ.pop('OMP_NUM_THREADS', None); "
        "from ymir_executor.threads import threads_per_process; print(threads_per_process(1))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=99)
    assert out.stdout.strip() == "1"

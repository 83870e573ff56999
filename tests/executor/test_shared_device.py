"""Several executors on one device at once, and what a failing GPU decoder or a CUDA error does.

Issue 15: a ``cald`` mining task died with "CUDA error: device-side assert triggered" in ``gpu_decode``
while six trainings and minings shared one H100. The cause: torchvision's nvJPEG decode wrote into memory
that kernels of the previous batch, still queued, were about to read (see ``gpu_decode``'s docstring).
``decode_batch`` now waits for the caller's stream before decoding; the GPU side of that is proved by
``test_gpu_shared.py`` on a GPU. Here, without a GPU, six processes run the same decode code path with
Pillow in nvJPEG's place (``gpu_decode.pillow_decode``), and the error paths run with stand-in decoders.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.executor.conftest import CLASSES, Trained, monitor_fields, run_task
from tests.executor.workdir import write_workdir
from ymir_executor import gpu_decode
from ymir_executor.errors import CODE_DEVICE

# Runs one executor process with the GPU decode path switched on, Pillow decoding in nvJPEG's place.
CHILD = """
import sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from ymir_executor import gpu_decode
from ymir_executor.app import run
from ymir_executor.env import Roots
gpu_decode.available = lambda device: True
gpu_decode._decoder = lambda: gpu_decode.pillow_decode
sys.exit(run(Roots(Path(sys.argv[1]), Path(sys.argv[2]), Path("/nonexistent-img-man"))))
"""


def _candidates(data: dict[str, Path]) -> list[Path]:
    return [Path(p) for p in (data["pool"] / "index.txt").read_text().split()][:32]


def _config(trained: Trained, algo: str) -> dict[str, object]:
    return {
        "class_names": CLASSES,
        "model_params_path": [str(trained.stage_dir() / "model.pt")],
        "mining_algorithm": algo,
        "topk": 20,
        "workers_per_gpu": 1,
        "batch_size_per_gpu": 16,
    }


def _result(dout: Path) -> list[tuple[str, float]]:
    rows = [line.split("\t") for line in (dout / "result.tsv").read_text().splitlines()]
    return [(p, float(s)) for p, s in rows]


def test_six_mining_processes_share_the_images(
    trained: Trained, data: dict[str, Path], tmp_path: Path
) -> None:
    algos = ["cald", "cald", "aldd", "balanced", "entropy", "cald"]
    procs = []
    for n, algo in enumerate(algos):
        din, dout = write_workdir(
            tmp_path / f"p{n}", task="mining", config=_config(trained, algo), candidates=_candidates(data)
        )
        cmd = [sys.executable, "-c", CHILD, str(din), str(dout)]
        procs.append((algo, dout, subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)))
    results = {}
    for n, (algo, dout, proc) in enumerate(procs):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (algo, err[-2000:], (dout / "monitor.txt").read_text())
        assert "decoding the rest on the CPU" not in err  # the batched decode path ran, no fallback
        results[n] = _result(dout)
    # the same task in the same pool gives the same scores in every process ...
    assert results[0] == results[1] == results[5]
    # ... and the same as the CPU decode path (Pillow letterbox in the workers) in this process
    din, dout = write_workdir(
        tmp_path / "cpu", task="mining", config=_config(trained, "cald"), candidates=_candidates(data)
    )
    assert run_task(din, dout) == 0
    cpu = _result(dout)
    assert [p for p, _ in cpu] == [p for p, _ in results[0]]
    assert np.allclose([s for _, s in cpu], [s for _, s in results[0]], atol=1e-5)


def _broken_decoder(exc: Exception) -> gpu_decode.Decoder:
    def decode(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        raise exc

    return decode


def test_a_failing_gpu_decoder_falls_back_to_the_cpu(
    trained: Trained, data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    din, dout = write_workdir(
        tmp_path / "ref", task="mining", config=_config(trained, "entropy"), candidates=_candidates(data)
    )
    assert run_task(din, dout) == 0
    reference = _result(dout)
    monkeypatch.setattr(gpu_decode, "available", lambda device: True)
    monkeypatch.setattr(gpu_decode, "_decoder", lambda: _broken_decoder(ValueError("nvjpeg handle lost")))
    din, dout = write_workdir(
        tmp_path / "gpu", task="mining", config=_config(trained, "entropy"), candidates=_candidates(data)
    )
    assert run_task(din, dout) == 0, (dout / "monitor.txt").read_text()
    got = _result(dout)
    assert [p for p, _ in got] == [p for p, _ in reference]
    assert np.allclose([s for _, s in got], [s for _, s in reference], atol=1e-5)


def test_a_cuda_error_ends_the_task_naming_the_step_and_image(
    trained: Trained, data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sticky = RuntimeError("CUDA error: device-side assert triggered\nCUDA kernel errors might be ...")
    monkeypatch.setattr(gpu_decode, "available", lambda device: True)
    monkeypatch.setattr(gpu_decode, "_decoder", lambda: _broken_decoder(sticky))
    din, dout = write_workdir(
        tmp_path, task="mining", config=_config(trained, "cald"), candidates=_candidates(data)
    )
    assert run_task(din, dout) == 1
    fields = monitor_fields(dout)
    assert fields[3] == "4" and fields[4] == str(CODE_DEVICE)  # error state, the device code
    message = (dout / "monitor.txt").read_text()
    first = _candidates(data)[0].name
    assert "JPEG decoding failed on" in message and first in message, message
    assert "device-side assert" in message and "gpu_decode: false" in message
    assert not (dout / "result.tsv").exists()  # nothing half-written

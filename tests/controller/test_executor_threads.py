"""A worker running 2 tasks at once gives each executor on the CPU half the cores (OMP_NUM_THREADS), and our
executor uses that many; a GPU task's executor gets no thread count.

The worker runs on the embedded broker (the one-command default, where this matters: ``./ymir.sh start`` on
a CPU machine), with no OMP_NUM_THREADS of its own: tests/conftest.py sets one for the suite, and a worker's
own setting wins over the share.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator

import pytest

from bench.synthetic import generate_voc
from mir.executors.runtime import fair_share
from mir.ops import history
from tests.controller.conftest import READY_REPO, Engine, _prepare_ready_repo, local_executors, make_engine
from ymir_controller.protocol import TaskResult, TrainRequest

CONCURRENCY = 2
TINY = {
    "model_size": "tiny",
    "img_size": 64,
    "epochs": 1,
    "batch_size_per_gpu": 8,
    "workers_per_gpu": 0,
    "export_onnx": False,
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("workplace-threads")
    logs = root / "executor-logs"
    logs.mkdir()
    # our executor, keeping its log: mir removes a successful task's work folder, log included
    keep_log = (
        '"$0" -m ymir_executor; rc=$?; cp "$YMIR_EXECUTOR_OUT/executor.log" "$1/$(date +%s%N).log"; exit $rc'
    )
    executors = local_executors(root) | {
        "ymir-keep-log": shlex.join(["sh", "-c", keep_log, sys.executable, str(logs)])
    }
    eng = make_engine(
        "embedded",
        root,
        tmp_path_factory.mktemp("gpu-locks"),
        YMIR_WORKER_CONCURRENCY=str(CONCURRENCY),
        YMIR_LOCAL_EXECUTORS=json.dumps(executors),
        FAKE_ENV_LOG=str(root / "fake-env.jsonl"),
    )
    eng.env.pop("OMP_NUM_THREADS", None)
    sharing = root / "sharing"
    for name, n, seed in (("train", 24, 1), ("val", 10, 2), ("pool", 20, 3)):
        generate_voc(sharing / name, n_images=n, seed=seed, image_size=(64, 64), name_prefix=name)
        (sharing / name / "index.txt").unlink()
    history.init(root=root / READY_REPO)
    eng.start(concurrency=CONCURRENCY)
    _prepare_ready_repo(eng)
    yield eng
    eng.kill()  # a throw-away workplace: the warm shutdown is tested in test_engine.py


def _train(engine: Engine, dst: str, executor: str, gpu_count: int = 0) -> TaskResult:
    request = TrainRequest(
        repo=READY_REPO,
        dst_rev=dst,
        src_revs="tv@merged",
        executor=executor,
        gpu_count=gpu_count,
        config=TINY,
    )
    result = engine.client.wait(engine.client.submit(request), timeout=300)
    assert result.state == "done", result.error
    return result


def test_a_cpu_task_gets_its_share_of_the_cores(engine: Engine) -> None:
    share = fair_share(CONCURRENCY)  # this machine's cores // 2, at least 1
    _train(engine, "cpu@t1", "local:ymir-keep-log")
    logs = sorted((engine.settings.root / "executor-logs").glob("*.log"))
    assert len(logs) == 2  # the training, then mir's evaluation of the model (inference)
    for log in logs:
        assert f"{share} CPU thread(s) for torch operations (OMP_NUM_THREADS={share})" in log.read_text()


def test_a_gpu_task_gets_no_thread_count(engine: Engine) -> None:
    env_log = engine.settings.root / "fake-env.jsonl"
    _train(engine, "cpu@f1", "local:fake")
    _train(engine, "gpu@f2", "local:fake", gpu_count=1)  # the worker's GPU "0" (the fake needs none)
    runs = [json.loads(line) for line in env_log.read_text().splitlines()]
    assert [(r["kind"], r["OMP_NUM_THREADS"], r["CUDA_VISIBLE_DEVICES"]) for r in runs] == [
        ("training", str(fair_share(CONCURRENCY)), ""),
        ("infer", str(fair_share(CONCURRENCY)), ""),
        ("training", None, "0"),
        ("infer", None, "0"),
    ]

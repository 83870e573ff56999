"""A real Celery worker process per broker: Redis (the deployment default) and the embedded
filesystem broker (the one-command default). Under CI a missing Redis fails the run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.synthetic import generate_voc
from mir.ops import history
from ymir_controller.app import worker_command
from ymir_controller.client import Client
from ymir_controller.protocol import ImportRequest, ImportSource, MergeRequest, PingRequest
from ymir_controller.settings import Settings

REDIS_DBS = {"redis": (11, 12)}
FAKE = Path(__file__).parents[1] / "command" / "executors" / "fake_executor.py"


def local_executors(root: Path) -> dict[str, str]:
    """The fake executors the test workers register in YMIR_LOCAL_EXECUTORS (tasks name them as
    ``local:<name>``; a command line in a request is refused)."""
    py = f"{sys.executable} {FAKE}"
    return {
        "fake": py,
        "fake-sleep": f"env FAKE_MODE=sleep {py}",
        "fake-slow2": f"env FAKE_MODE=slow FAKE_SLEEP=2 FAKE_LOG={root / 'gpu-runs.txt'} {py}",
        "fake-slow4": f"env FAKE_MODE=slow FAKE_SLEEP=4 {py}",
    }


def _redis_ok() -> bool:
    try:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping())
    except Exception:
        return False


@dataclass
class Engine:
    """A running worker and a client to talk to it."""

    broker: str
    settings: Settings
    client: Client
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None
    log: Path

    def start(self, concurrency: int = 3, **extra_env: str) -> None:
        env = {**self.env, **extra_env}
        self.proc = subprocess.Popen(
            worker_command(f"{self.broker}-{time.time_ns()}@%h", concurrency=concurrency),
            env=env,
            cwd=self.settings.root,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        tid = self.client.submit(PingRequest())
        try:
            self.client.wait(tid, timeout=60)
        except Exception as e:
            raise RuntimeError(f"worker did not start: {self.log.read_text()[-3000:]}") from e

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """Warm shutdown, asked of the main process only: signalling the whole group as well killed the
        pool processes under Celery and made it wait about 20 s for them. The fixtures' teardowns
        :meth:`kill` instead (1.8 to 3 s sooner each); ``test_sigterm_stops_the_worker_warmly`` checks
        the warm shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None:
            # what the main process left of its group (a pool child, an executor): without this sweep,
            # strays of finished modules outlived them, holding memory and CPU for the rest of the run
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


def make_engine(broker: str, root: Path, gpu_lock_dir: Path, **extra_env: str) -> Engine:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YMIR_")}
    env.update(
        {
            "YMIR_WORKPLACE": str(root),
            "YMIR_GPU_IDS": "0",
            "YMIR_GPU_LOCK_DIR": str(gpu_lock_dir),
            "YMIR_HEARTBEAT_SECONDS": "1",
            "YMIR_MAX_UNZIPPED_BYTES": str(50 * 1024**2),
            "MIR_WORKERS": "1",
            "YMIR_LOCAL_EXECUTORS": json.dumps(local_executors(root)),
            "YMIR_FETCH_ALLOW": "127.0.0.2",  # the tests' own web servers listen there
            **extra_env,
        }
    )
    if broker == "redis":
        if not _redis_ok():
            if os.environ.get("CI") == "true":
                pytest.fail("Redis is not reachable at 127.0.0.1:6379 (CI needs it)")
            pytest.skip("Redis is not running here")
        b, r = REDIS_DBS["redis"]
        env["YMIR_REDIS_KEY_PREFIX"] = f"ymir-test-{uuid.uuid4().hex[:12]}:"  # no leftovers, no neighbours
        env["YMIR_BROKER_URL"] = f"redis://127.0.0.1:6379/{b}"
        env["YMIR_RESULT_BACKEND"] = f"redis://127.0.0.1:6379/{r}"
        env["YMIR_VISIBILITY_TIMEOUT"] = "8"
        env["YMIR_RESTORE_INTERVAL"] = "1"
    settings = Settings(
        **{k.removeprefix("YMIR_").lower(): v for k, v in env.items() if k.startswith("YMIR_")}
        | {"local_executors": json.loads(env["YMIR_LOCAL_EXECUTORS"])}
    )
    return Engine(
        broker=broker,
        settings=settings,
        client=Client(settings),
        env=env,
        proc=None,
        log=root / f"worker-{broker}.log",
    )


@pytest.fixture(scope="module", params=["redis", "embedded"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp(f"workplace-{request.param}")
    eng = make_engine(request.param, root, tmp_path_factory.mktemp("gpu-locks"))
    sharing = root / "sharing"
    for name, n, seed in (("train", 24, 1), ("val", 10, 2), ("pool", 20, 3)):
        generate_voc(sharing / name, n_images=n, seed=seed, image_size=(64, 64), name_prefix=name)
        (sharing / name / "index.txt").unlink()
    history.init(root=root / "repos" / "main")
    history.init(root=root / "repos" / READY_REPO.removeprefix("repos/"))
    eng.start()
    _prepare_ready_repo(eng)
    yield eng
    eng.kill()  # a throw-away workplace: the warm shutdown is tested in test_engine.py


READY_REPO = "repos/ready"
"""A repository the fixture fills with ``train@import``, ``val@import``, ``pool@import`` and
``tv@merged`` (train + val), so that every test needing them can run alone, in any order."""


def _prepare_ready_repo(eng: Engine) -> None:
    for name in ("train", "val", "pool"):
        tid = eng.client.submit(
            ImportRequest(
                repo=READY_REPO,
                dst_rev=f"{name}@import",
                source=ImportSource(kind="path", path=name),
                unknown_types_strategy="add",
            )
        )
        assert eng.client.wait(tid, timeout=300).state == "done"
    tid = eng.client.submit(
        MergeRequest(repo=READY_REPO, dst_rev="tv@merged", src_revs="tr:train@import;va:val@import")
    )
    assert eng.client.wait(tid, timeout=300).state == "done"

"""Runtimes, train/mining/infer plumbing and model packages, with a scriptable fake executor.

The real executor runs end to end in test_loop.py; here each way an executor can fail is provoked.
The Docker runtime is driven through a fake Engine client (no Docker engine runs here) that records
what container it was asked to create and runs our real executor in its place.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.synthetic import generate_voc, import_voc
from mir import models
from mir.errors import CancelledError, ExecutorError, InvalidArgsError, ModelError
from mir.ops import history
from mir.ops.executing import TaskOptions
from mir.ops.merge import merge
from mir.ops.mining import infer, mine
from mir.ops.training import train
from mir.store.repo import Repo
from tests.command.conftest import CliResult, tree_bytes

FAKE = f"local:{sys.executable} {Path(__file__).with_name('fake_executor.py')}"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("data")
    for name, n, seed in (("tr", 12, 1), ("va", 6, 2), ("pool", 10, 3)):
        generate_voc(base / name, n_images=n, seed=seed, image_size=(64, 64), name_prefix=name)
    return base


@pytest.fixture
def world(tmp_path: Path, data: Path) -> dict[str, Path]:
    root, media = tmp_path / "repo", tmp_path / "media"
    history.init(root=root)
    for name in ("tr", "va", "pool"):
        import_voc(root, data / name, dst=f"{name}@i", media=media)
    merge(root=root, src_revs="tr:tr@i;va:va@i", dst="tv@m")
    return {"root": root, "media": media, "models": tmp_path / "models", "work": tmp_path / "work"}


def _opts(w: dict[str, Path], executor: str = FAKE, **kw: Any) -> TaskOptions:
    kw.setdefault("work_dir", w["work"])
    return TaskOptions(model_location=w["models"], media_location=w["media"], executor=executor, **kw)


def test_train_records_model_and_our_own_metrics(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, mir: Callable[..., CliResult]
) -> None:
    monkeypatch.setenv("FAKE_MODE", "ok")
    report = train(root=world["root"], src_revs="tv@m", dst="m0@t1", options=_opts(world))
    model = report.commit.task["model"]
    assert model["model_hash"] == report.model_hash and (world["models"] / report.model_hash).is_file()
    assert model["executor_reported"] == {"mAP": 0.5}  # kept, but not what we report
    assert model["executor_map50"] == 0.5
    assert 0.0 <= model["map50_95"] <= 1.0 and model["map50_95"] == report.metrics["map50_95"]
    assert model["train_assets"] == 12 and model["val_assets"] == 6
    assert not world["work"].exists()  # removed on success
    # stages show the executor's claim under its own name, never as a bare "mAP" beside ours
    assert models.stage_metrics(model["stages"]["epoch_1"]) == {"executor_map50": 0.5}
    measured = models.read_metrics(world["models"], report.model_hash)
    assert measured is not None and measured["map50_95"] == model["map50_95"]
    assert measured["map50"] == model["map50"] and measured["executor_map50"] == 0.5
    listed = mir("models", "list", "--model-location", world["models"]).out
    row = next(line for line in listed.splitlines() if line.startswith(report.model_hash))
    assert f"map50 {model['map50']:.4f}" in row and f"map50_95 {model['map50_95']:.4f}" in row
    assert "executor_map50 0.5000" in row and "measured by mir" in listed
    info = models.read_info(world["models"] / report.model_hash)
    assert (
        info["best_stage_name"] == "epoch_1"
        and info["executor_config"]["class_names"] == model["class_names"]
    )


def test_train_passes_unlabeled_images(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``--unlabeled-revs``: the pool's images, less the training and validation ones, reach the executor
    as the candidate index, with pseudo_labels on; the commit records the versions."""
    monkeypatch.setenv("FAKE_MODE", "ok")
    monkeypatch.setenv("FAKE_SEEN", str(tmp_path / "seen.json"))
    report = train(
        root=world["root"], src_revs="tv@m", dst="m0@t1", options=_opts(world), unlabeled_revs="pool@i;tr@i"
    )
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert len(seen["pool"]) == 10 and seen["pseudo_labels"] is True  # the 12 training images left out
    assert all(Path(p).is_absolute() for p in seen["pool"])
    assert report.commit.task["params"]["unlabeled_revs"] == "pool@i;tr@i"
    # without the option nothing is passed and mir sets no key (this executor's templates have none)
    train(root=world["root"], src_revs="tv@m", dst="m1@t2", options=_opts(world))
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen == {"pool": [], "pseudo_labels": None}


def test_cpu_runs_get_their_thread_share(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``cpu_threads`` reaches every executor run without GPUs as OMP_NUM_THREADS (training, its
    evaluation, mining, inference); a GPU run keeps its environment, and the caller's own OMP_NUM_THREADS
    wins over the share."""
    log = tmp_path / "env.jsonl"
    monkeypatch.setenv("FAKE_ENV_LOG", str(log))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # tests/conftest.py sets 1 for the whole suite

    def runs() -> list[dict[str, Any]]:
        seen = [json.loads(line) for line in log.read_text().splitlines()]
        log.unlink()
        return seen

    report = train(root=world["root"], src_revs="tv@m", dst="m0@t1", options=_opts(world, cpu_threads=3))
    mine(
        root=world["root"],
        src_revs="pool@i",
        dst="mined@t2",
        model=report.model_hash,
        options=_opts(world, cpu_threads=3),
        topk=3,
        add_prediction=True,
    )
    assert runs() == [
        {"kind": "training", "OMP_NUM_THREADS": "3", "CUDA_VISIBLE_DEVICES": ""},
        {"kind": "infer", "OMP_NUM_THREADS": "3", "CUDA_VISIBLE_DEVICES": ""},  # mir's own evaluation
        {"kind": "mining", "OMP_NUM_THREADS": "3", "CUDA_VISIBLE_DEVICES": ""},
    ]
    infer(
        root=world["root"],
        src_revs="va@i",
        dst="va@g",
        model=report.model_hash,
        options=_opts(world, cpu_threads=3, gpu_ids=["0"]),
    )
    infer(root=world["root"], src_revs="va@i", dst="va@n", model=report.model_hash, options=_opts(world))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    infer(
        root=world["root"],
        src_revs="va@i",
        dst="va@u",
        model=report.model_hash,
        options=_opts(world, cpu_threads=3),
    )
    assert [r["OMP_NUM_THREADS"] for r in runs()] == [None, None, "1"]  # GPU; no share given; the caller's


def test_fair_share_divides_the_usable_cores() -> None:
    from mir.executors.runtime import fair_share, usable_cores

    cores = usable_cores()
    assert cores == len(os.sched_getaffinity(0))
    assert fair_share(1) == cores and fair_share(2) == max(1, cores // 2)
    assert fair_share(cores + 1) == 1 and fair_share(0) == cores  # never 0 threads, never a division by 0


@pytest.mark.parametrize(
    "mode,message",
    [
        ("exit3", "executor code 300002: dataset error: val-index.tsv is empty"),
        ("noresult", "wrote no result.yaml"),
        ("badyaml", "not valid YAML"),
        ("badmetric", "outside 0..1"),
    ],
)
def test_train_failures_commit_nothing(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, mode: str, message: str
) -> None:
    monkeypatch.setenv("FAKE_MODE", mode)
    before = tree_bytes(world["root"])
    with pytest.raises(ExecutorError) as e:
        train(root=world["root"], src_revs="tv@m", dst="m0@t1", options=_opts(world))
    assert message in str(e.value)
    assert tree_bytes(world["root"]) == before
    assert world["work"].is_dir() and str(world["work"]) in str(e.value)  # kept for debugging
    assert not world["models"].exists() or not any(world["models"].iterdir())
    if mode == "exit3":
        assert e.value.executor_code == 300002 and "Traceback: something broke" in e.value.log_tail


def test_mining_sorts_scores_and_keeps_topk(world: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "ok")
    report = train(root=world["root"], src_revs="tv@m", dst="m0@t1", options=_opts(world))
    mined = mine(
        root=world["root"],
        src_revs="pool@i",
        dst="mined@t2",
        model=f"{report.model_hash}@epoch_1",
        options=_opts(world),
        topk=3,
        add_prediction=True,
    )
    assert (mined.selected, mined.candidates, mined.predictions) == (3, 10, 3)
    r = Repo(world["root"])
    snap = r.read(r.resolve("mined@t2"))
    scores = [float(dict(t)["mining_score"]) for t in snap.assets["tags"].to_pylist()]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(0.9)  # best of 0.0..0.9
    assert snap.pred.num_rows == 3 and r.resolve("mined@t2").pred_meta["model_hash"] == report.model_hash
    inferred = infer(
        root=world["root"], src_revs="va@i", dst="va@inf", model=report.model_hash, options=_opts(world)
    )
    assert inferred.selected == 6 and inferred.predictions == 6
    monkeypatch.setenv("FAKE_MODE", "badtsv")
    with pytest.raises(ExecutorError, match=r"result.tsv:1: expected"):
        mine(
            root=world["root"],
            src_revs="pool@i",
            dst="mined@t3",
            model=report.model_hash,
            options=_opts(world, work_dir=world["work"].with_name("w2")),
            topk=3,
            add_prediction=False,
        )
    with pytest.raises(InvalidArgsError, match="topk"):
        mine(
            root=world["root"],
            src_revs="pool@i",
            dst="mined@t4",
            model=report.model_hash,
            options=_opts(world),
            topk=0,
            add_prediction=False,
        )
    with pytest.raises(ModelError, match="not in"):
        infer(root=world["root"], src_revs="va@i", dst="va@x", model="abcdef123456", options=_opts(world))


def test_cancel_stops_the_executor_within_seconds(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "sleep")
    before = tree_bytes(world["root"])
    cancel = threading.Event()
    seen: list[float] = []

    def progress(value: float, stage: str) -> None:
        seen.append(value)
        if (world["work"] / "out" / "pid").exists():
            cancel.set()

    started = time.monotonic()
    with pytest.raises(CancelledError):
        train(
            root=world["root"],
            src_revs="tv@m",
            dst="m0@t1",
            options=_opts(world, progress=progress, should_cancel=cancel.is_set),
        )
    assert time.monotonic() - started < 30 and cancel.is_set()
    assert seen, "progress was relayed while the executor ran"
    assert tree_bytes(world["root"]) == before and not world["work"].exists()
    leftover = subprocess.run(["pgrep", "-f", "time.sleep\\(120\\)"], capture_output=True, text=True).stdout
    assert leftover.strip() == "", "the executor's child process survived the cancel"


def test_timeout(world: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "sleep")
    with pytest.raises(ExecutorError, match="time limit of 2 s"):
        train(root=world["root"], src_revs="tv@m", dst="m0@t1", options=_opts(world, timeout=2))


class FakeContainer:
    def __init__(self, rc: int) -> None:
        self.rc = rc
        self.status = "exited"
        self.removed = False
        self.killed = False

    def reload(self) -> None:
        pass

    def wait(self) -> dict[str, int]:
        return {"StatusCode": self.rc}

    def logs(self, stream: bool, follow: bool) -> Any:
        return iter([b"container says hello\n"])

    def kill(self) -> None:
        self.killed = True

    def remove(self, force: bool) -> None:
        self.removed = True


class FakeEngine:
    """Records ``containers.run`` calls; runs the real executor with the mounts as its roots."""

    def __init__(self, img_man: Path) -> None:
        self.img_man = img_man
        self.created: list[dict[str, Any]] = []
        self.containers = self
        self.last: FakeContainer | None = None

    def run(self, image: str, command: list[str] | None = None, **kwargs: Any) -> Any:
        if command:  # reading a template: `cat /img-man/x.yaml`
            path = self.img_man / Path(command[-1]).name
            if not path.is_file():
                raise RuntimeError("No such file")
            return path.read_bytes()
        self.created.append({"image": image, **kwargs})
        mounts = {v["bind"]: k for k, v in kwargs["volumes"].items()}
        env = {
            **os.environ,
            **kwargs.get("environment", {}),  # what the container's environment gets
            "YMIR_EXECUTOR_IN": mounts["/in"],
            "YMIR_EXECUTOR_OUT": mounts["/out"],
            "YMIR_EXECUTOR_IMG_MAN": str(self.img_man),
        }
        proc = subprocess.run([sys.executable, "-m", "ymir_executor"], env=env, capture_output=True)
        self.last = FakeContainer(proc.returncode)
        return self.last


def test_docker_runtime_with_a_fake_engine(world: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from mir.executors.runtime import default_img_man

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the worker's own setting would win
    img_man = default_img_man()
    assert img_man is not None
    engine = FakeEngine(img_man)
    config = world["work"].with_name("cfg.yaml")
    config.write_text(
        yaml.safe_dump(
            {
                "epochs": 1,
                "img_size": 64,
                "batch_size_per_gpu": 8,
                "workers_per_gpu": 0,
                "model_size": "tiny",
                "shm_size": "2G",
                "export_onnx": False,
            }
        )
    )
    report = train(
        root=world["root"],
        src_revs="tv@m",
        dst="d@t1",
        task_config_file=config,
        options=_opts(
            world, executor="ymir/executor:latest", docker_client=engine, gpu_ids=[], cpu_threads=1
        ),
    )
    train_call = engine.created[0]
    # a CPU container gets its thread share as OMP_NUM_THREADS, which torch and OpenMP in any image read
    assert train_call["environment"] == {"YMIR_TASK_ID": "t1", "OMP_NUM_THREADS": "1"}
    assert train_call["image"] == "ymir/executor:latest"
    binds = {v["bind"]: v["mode"] for v in train_call["volumes"].values()}
    assert binds == {"/in": "ro", "/out": "rw"}
    assert train_call["user"] == f"{os.getuid()}:{os.getgid()}" and train_call["shm_size"] == "2G"
    assert "device_requests" not in train_call
    assert engine.last is not None and engine.last.removed
    # GPUs are passed as device requests (the fake engine cannot run them; we only check the request)
    from mir.executors.contract import WorkDir
    from mir.executors.runtime import DockerRuntime, RunRequest

    class Recorder(FakeEngine):
        def run(self, image: str, command: list[str] | None = None, **kwargs: Any) -> Any:
            self.created.append(kwargs)
            return FakeContainer(0)

    rec = Recorder(img_man)
    work = WorkDir(world["work"].with_name("gpu")).create()
    DockerRuntime("img", client=rec).run(
        RunRequest(work=work, task_id="t", gpu_ids=["1", "3"], shm_size="32G", cpu_threads=1)
    )
    assert rec.created[0]["environment"] == {"YMIR_TASK_ID": "t"}  # a GPU container: no thread count
    request = rec.created[0]["device_requests"][0]
    assert request["DeviceIDs"] == ["1", "3"] and request["Capabilities"] == [["gpu"]]
    assert rec.created[0]["shm_size"] == "32G"
    assert report.commit.task["executor"] == "ymir/executor:latest"


def _tar(path: Path, entries: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_ymir_model_package_imports(tmp_path: Path) -> None:
    info = {
        "package_version": "2.0.0",
        "best_stage_name": "epoch10",
        "model_hash": "",
        "executor_config": {"class_names": ["person", "cat"], "epochs": 10},
        "task_context": {"mAP": 0.61},
        "stages": {
            "epoch10": {
                "stage_name": "epoch10",
                "files": ["best.pt", "model.yaml"],
                "mAP": 0.61,
                "timestamp": 1680000000,
            },
            "epoch5": {"stage_name": "epoch5", "files": ["last.pt"], "mAP": 0.4, "timestamp": 1},
        },
    }
    pkg = _tar(
        tmp_path / "ymir.tar.gz",
        {
            "ymir-info.yaml": yaml.safe_dump(info).encode(),
            "epoch10/best.pt": b"w",
            "epoch10/model.yaml": b"m",
            "epoch5/last.pt": b"l",
        },
    )
    digest, got = models.import_package(pkg, tmp_path / "models")
    assert got["best_stage_name"] == "epoch10" and (tmp_path / "models" / digest).is_file()
    assert list(models.list_models(tmp_path / "models")) == [digest]
    files = models.extract_stage(tmp_path / "models" / digest, "epoch5", tmp_path / "x")
    assert [f.read_bytes() for f in files] == [b"l"]
    bad = {
        "holds no ymir-info": {"epoch10/best.pt": b"w"},
        "names 'best.pt'": {"ymir-info.yaml": yaml.safe_dump(info).encode(), "epoch5/last.pt": b"l"},
        "unsafe entry": {"ymir-info.yaml": yaml.safe_dump(info).encode(), "../evil": b"x"},
    }
    for message, entries in bad.items():
        with pytest.raises(ModelError, match=message.replace("'", ".")):
            models.import_package(_tar(tmp_path / "bad.tar.gz", entries), tmp_path / "m2")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ModelError, match="not a readable model package"):
        models.import_package(tmp_path / "junk.tar.gz", tmp_path / "m2")


@pytest.mark.parametrize(
    "content,problem",
    [
        ("epochs: [1,\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_broken_task_config_file(world: dict[str, Path], tmp_path: Path, content: str, problem: str) -> None:
    from mir.errors import InputFileError

    config = tmp_path / "train.yaml"
    config.write_text(content)
    before = tree_bytes(world["root"])
    with pytest.raises(InputFileError, match=problem) as e:
        train(root=world["root"], src_revs="tv@m", dst="m0@t1", options=_opts(world), task_config_file=config)
    assert "train.yaml" in str(e.value)
    with pytest.raises(InputFileError, match="does not exist"):
        train(
            root=world["root"],
            src_revs="tv@m",
            dst="m0@t1",
            options=_opts(world),
            task_config_file=tmp_path / "missing.yaml",
        )
    assert tree_bytes(world["root"]) == before


def _gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for a reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_executor_dies_when_its_worker_is_killed(tmp_path: Path) -> None:
    """A worker killed with SIGKILL (OOM killer, kill -9) must not leave its executor running.

    The executor runs in a session of its own (so cancel can stop its whole group); only the
    parent-death signal ties it to the worker process that started it.
    """
    work = tmp_path / "work"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from pathlib import Path\n"
            "from mir.executors.contract import WorkDir, write_env\n"
            "from mir.executors.runtime import RunRequest, runtime_for\n"
            "work = WorkDir(Path(sys.argv[1])).create()\n"
            "write_env(work, task_id='t', run_training=True, container=False)\n"
            "runtime_for(sys.argv[2]).run(RunRequest(work=work, task_id='t'))\n",
            str(work),
            FAKE,
        ],
        env={**os.environ, "FAKE_MODE": "sleep"},
    )
    pid_file = work / "out" / "pid"
    deadline = time.monotonic() + 60
    while not (pid_file.is_file() and pid_file.read_text()):
        assert worker.poll() is None, "the worker stopped before its executor started"
        assert time.monotonic() < deadline, "the executor never started"
        time.sleep(0.1)
    executor = int(pid_file.read_text())
    assert not _gone(executor)

    try:
        worker.kill()
        worker.wait()
        deadline = time.monotonic() + 5
        while not _gone(executor) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(executor), f"executor {executor} still runs 5 s after its worker was killed"
    finally:
        with contextlib.suppress(ProcessLookupError):  # the fake executor's own child (not our contract's)
            os.killpg(executor, signal.SIGKILL)

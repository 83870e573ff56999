"""Scale-out over several worker machines: each "machine" is a network namespace of its own (with its
own hostname), reaching the host's Redis over a veth link; the workplace folder is shared, as a shared
file system would be. Tasks spread over the machines, GPU slots are per machine, and a machine cut off
in the middle of a task (link down, every process on it killed) loses nothing: the task is delivered
again and finishes on the other machine, with no half-written version.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.synthetic import generate_voc, import_voc
from mir.ops import history
from mir.ops.merge import merge
from mir.store.repo import Repo
from tests.deploy.cluster import Cluster, missing_tools
from tests.deploy.cluster import cluster as start_cluster
from ymir_controller.protocol import TrainRequest

FAKE = Path(__file__).parents[1] / "command" / "executors" / "fake_executor.py"
WRAP = Path(__file__).with_name("host_executor.py")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    problem = missing_tools()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("workplace")
    data = tmp_path_factory.mktemp("data")
    history.init(root=root / "repos" / "main")
    for name, n, seed in (("tr", 8, 1), ("va", 4, 2)):
        generate_voc(data / name, n_images=n, seed=seed, image_size=(48, 48), name_prefix=name)
        import_voc(root / "repos" / "main", data / name, dst=f"{name}@i", media=root / "media")
    merge(root=root / "repos" / "main", src_revs="tr:tr@i;va:va@i", dst="tv@m")
    executors = {  # the workers run only registered local executors (YMIR_LOCAL_EXECUTORS)
        f"fake-slow{sleep}": f"env FAKE_MODE=slow FAKE_SLEEP={sleep} "
        f"{sys.executable} {WRAP} {root / log} {FAKE}"
        for sleep, log in ((3, "spread.log"), (5, "cut.log"))
    }
    extra_env = {"MIR_WORKERS": "1", "YMIR_LOCAL_EXECUTORS": json.dumps(executors)}
    with start_cluster(root, machines=2, extra_env=extra_env) as made:
        yield made


def _executor(log: Path, sleep: int) -> str:
    """The registered fake executor sleeping ``sleep`` s that logs to ``log`` (see the fixture)."""
    assert (sleep, log.name) in ((3, "spread.log"), (5, "cut.log"))
    return f"local:fake-slow{sleep}"


def _runs(log: Path) -> list[tuple[str, str, float, str]]:
    rows = []
    for line in log.read_text().splitlines():
        host, what, when, *gpu = line.split()
        rows.append((host, what, float(when), gpu[0] if gpu else ""))
    return rows


def _executor_began(log: Path, timeout: float = 90) -> str:
    """The machine whose executor has begun (its line in the log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        begun = [h for h, w, *_ in _runs(log)] if log.exists() else []
        if begun:
            return begun[0]
        time.sleep(0.1)
    raise AssertionError("the executor did not begin")


def test_tasks_spread_over_machines_with_their_own_gpu_slots(cluster: Cluster) -> None:
    """Two one-GPU trainings at once: each machine's single GPU 0 is held by one of them at the same
    time (slots are per machine; on one machine the second would wait)."""
    log = cluster.root / "spread.log"
    tids = [
        cluster.client.submit(
            TrainRequest(
                repo="repos/main",
                dst_rev=f"spread@s{i}",
                src_revs="tv@m",
                executor=_executor(log, 3),
                gpu_count=1,
            )
        )
        for i in range(2)
    ]
    results = [cluster.client.wait(t, timeout=180) for t in tids]
    assert all(r.state == "done" for r in results), [r.error for r in results]
    runs = _runs(log)
    hosts = {m.name for m in cluster.machines}
    assert {h for h, *_ in runs} == hosts, f"both machines worked: {runs}"
    assert {g for *_, g in runs} == {"0"}
    # the first (training) run on each machine overlapped the other machine's, both on GPU 0
    spans = {}
    for host, _what, when, _gpu in runs:
        spans.setdefault(host, []).append(when)
    (a0, a1, *_), (b0, b1, *_) = (sorted(v) for v in spans.values())
    assert a0 < b1 and b0 < a1, f"the two machines' GPU 0 were busy at the same time: {runs}"


def test_a_machine_cut_off_mid_task_loses_nothing(cluster: Cluster) -> None:
    log = cluster.root / "cut.log"
    repo = cluster.root / "repos" / "main"
    tid = cluster.client.submit(
        TrainRequest(
            repo="repos/main", dst_rev="cut@c1", src_revs="tv@m", executor=_executor(log, 5), gpu_count=1
        )
    )
    host = _executor_began(log)
    st = cluster.client.status(tid)
    assert st.state == "running" and st.progress is not None and st.progress.worker == host
    victim = next(m for m in cluster.machines if m.name == host)
    survivor = next(m for m in cluster.machines if m is not victim)
    victim.cut_off()
    result = cluster.client.wait(tid, timeout=180)
    assert result.state == "done", result.error
    runs = _runs(log)
    assert (victim.name, "begin") in {(h, w) for h, w, *_ in runs}
    assert (victim.name, "end") not in {(h, w) for h, w, *_ in runs}, "the cut-off machine never finished"
    assert [w for h, w, *_ in runs if h == survivor.name][-1] == "end"
    assert result.redelivered
    status = history.status(root=repo)
    assert not status.write_in_progress and status.leftovers == []
    r = Repo(repo)
    cuts = [t for t in r.refs()["tags"] if t.startswith("cut@")]
    assert cuts == ["cut@c1"]
    for tag in r.refs()["tags"]:
        r.read(r.resolve(tag))  # every version reads completely
    assert result.model is not None and (cluster.root / "models" / result.model.model_hash).is_file()

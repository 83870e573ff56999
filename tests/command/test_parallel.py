"""mir's worker pool inside a daemonic process (what a Celery prefork child is): it works, and no
worker outlives a killed parent."""

from __future__ import annotations

import os
import signal
import time

import billiard
import pytest

from mir.parallel import pool


def _square(chunk: list[int]) -> list[int]:
    return [x * x for x in chunk]


def _ppid_of_workers(chunk: list[int]) -> list[int]:
    time.sleep(0.05)
    return [os.getpid()] * len(chunk)


def _sum_in_pool(q: billiard.Queue) -> None:
    try:
        with pool(10_000) as workers:
            q.put(
                sum(
                    sum(r)
                    for r in workers.map(_square, [list(range(i, i + 100)) for i in range(0, 10_000, 100)])
                )
            )
    except Exception as e:  # noqa: BLE001 - the test reads it
        q.put(repr(e))


def _hang_in_pool(q: billiard.Queue) -> None:
    with pool(10_000) as workers:
        q.put(sorted(set(sum(workers.map(_ppid_of_workers, [[i] for i in range(8)]), []))))
        time.sleep(60)


@pytest.fixture(autouse=True)
def _two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIR_WORKERS", "2")
    monkeypatch.delenv("MIR_POOL", raising=False)


def test_pool_runs_inside_a_daemonic_process() -> None:
    q = billiard.Queue()
    p = billiard.Process(target=_sum_in_pool, args=(q,), daemon=True)
    p.start()
    assert q.get(timeout=60) == sum(x * x for x in range(10_000))
    p.join(30)
    assert p.exitcode == 0


def test_pool_workers_die_with_a_killed_parent() -> None:
    q = billiard.Queue()
    p = billiard.Process(target=_hang_in_pool, args=(q,), daemon=True)
    p.start()
    kids = q.get(timeout=60)
    assert len(kids) == 2 and p.pid not in kids
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    deadline = time.monotonic() + 10
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(k) for k in kids), kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False

"""Spreading per-file work over the CPU cores, in order, with one place to size the pool.

mir runs inside other programs' worker processes too: a Celery prefork child is *daemonic*, and
Python refuses to start children from a daemonic process (``AssertionError: daemonic processes are
not allowed to have children``). The rule exists so that children are not orphaned when a daemon
dies; this pool keeps that promise another way: its workers ask the kernel to kill them when their
parent dies (``PR_SET_PDEATHSIG``) and the pool is always shut down before :func:`pool` returns. So
the daemon flag is lifted while the pool starts its workers, and the same forked worker processes
serve the CLI, the controller and the executor's data preparation (measured against threads in
``docs/benchmarks.md``, "mir inside a Celery worker").

``MIR_POOL`` picks the kind: ``process`` (default), ``thread`` or ``serial``; ``MIR_WORKERS`` the size.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

POOL_KINDS = ("process", "thread", "serial")
_START_LOCK = threading.Lock()
_PR_SET_PDEATHSIG = 1


def workers() -> int:
    """Worker processes to use: ``MIR_WORKERS`` or the CPUs this process may run on."""
    env = os.environ.get("MIR_WORKERS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, len(os.sched_getaffinity(0)))


def pool_kind() -> str:
    """``MIR_POOL`` (process, thread or serial); anything else means process."""
    kind = os.environ.get("MIR_POOL", "process").strip().lower()
    return kind if kind in POOL_KINDS else "process"


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """Split ``items`` into lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class Pool:
    """Ordered map over chunks, in workers when there is enough work, else in-process."""

    def __init__(self, executor: Executor | None) -> None:
        self.executor = executor

    def map(self, fn: Callable[[T], R], chunks: list[T]) -> list[R]:
        """Apply ``fn`` to every chunk; results keep the order of ``chunks``."""
        return list(self.imap(fn, chunks))

    def imap(self, fn: Callable[[T], R], chunks: list[T]) -> Iterator[R]:
        """Like :meth:`map`, yielding results as they complete in order (for progress bars)."""
        if self.executor is None or len(chunks) <= 1:
            for chunk in chunks:
                yield fn(chunk)
            return
        yield from self.executor.map(fn, chunks)


def _die_with_parent(parent: int) -> None:
    """Worker initializer: be killed when the parent dies, so no worker outlives a killed task."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the pool still works
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    # a worker is a plain compute process: Ctrl-C goes to the parent, which shuts the pool down
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _children_allowed() -> Iterator[None]:
    """Let a daemonic process (a Celery prefork child) start the pool's workers."""
    current = mp.current_process()
    config = getattr(current, "_config", None)
    if not isinstance(config, dict) or not config.get("daemon"):
        yield
        return
    with _START_LOCK:
        config["daemon"] = False
        try:
            yield
        finally:
            config["daemon"] = True


@contextmanager
def pool(n_items: int, *, min_items: int = 512) -> Iterator[Pool]:
    """A :class:`Pool` sized for ``n_items`` (small jobs stay in this process)."""
    n = workers()
    kind = pool_kind()
    if n <= 1 or n_items < min_items or kind == "serial":
        yield Pool(None)
        return
    if kind == "thread":
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="mir") as tex:
            yield Pool(tex)
        return
    ctx = mp.get_context("fork")
    with _children_allowed():
        ex = ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=_die_with_parent, initargs=(os.getpid(),)
        )
        try:
            # fork start: every worker is started on the first submit; start them now, while allowed
            ex.submit(int).result()
        except BaseException:
            ex.shutdown(wait=True, cancel_futures=True)
            raise
    try:
        yield Pool(ex)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)

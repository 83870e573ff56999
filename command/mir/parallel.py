"""Spreading per-file work over the CPU cores, in order, with one place to size the pool."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers() -> int:
    """Worker processes to use: ``MIR_WORKERS`` or the CPUs this process may run on."""
    env = os.environ.get("MIR_WORKERS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, len(os.sched_getaffinity(0)))


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """Split ``items`` into lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class Pool:
    """Ordered map over chunks, in worker processes when there is enough work, else in-process."""

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


@contextmanager
def pool(n_items: int, *, min_items: int = 512) -> Iterator[Pool]:
    """A :class:`Pool` sized for ``n_items`` (small jobs stay in this process)."""
    n = workers()
    if n <= 1 or n_items < min_items:
        yield Pool(None)
        return
    ctx = mp.get_context("fork")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as ex:
        yield Pool(ex)

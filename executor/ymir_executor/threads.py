"""How many CPU threads the executor's torch operations use (its intra-op threads).

``OMP_NUM_THREADS`` decides, as for any OpenMP program: the platform sets it for an executor that runs on
the CPU next to others (each gets its share of the cores), and a person may set it by hand. Without it
torch uses every core, as before. torch reads the variable itself at start, but caps it at the core count
and falls back to all cores, with one easily missed OpenMP warning, on a value it cannot parse; the
executor therefore applies it explicitly and refuses a bad value, naming the variable.
"""

from __future__ import annotations

import os

import torch

from ymir_executor.errors import ThreadsError

THREADS_VARIABLE = "OMP_NUM_THREADS"


def requested_threads() -> int | None:
    """The thread count ``OMP_NUM_THREADS`` asks for; ``None`` when it is unset or empty.

    OpenMP allows a list (``4,2``: 4 threads, 2 in nested regions); its first number applies here.

    Raises:
        ThreadsError: The value is not a positive whole number (``0``, ``-1``, ``many``).
    """
    raw = os.environ.get(THREADS_VARIABLE)
    if raw is None or not raw.strip():
        return None
    try:
        n = int(raw.split(",")[0].strip())
    except ValueError:
        n = 0
    if n < 1:
        raise ThreadsError(variable=THREADS_VARIABLE, value=raw)
    return n


def use_requested_threads() -> int:
    """Applies ``OMP_NUM_THREADS`` to torch in this process; returns the intra-op threads now in effect."""
    n = requested_threads()
    if n is not None:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container's cpuset, ``taskset``), which can be
    far fewer than ``os.cpu_count()``, the machine's cores (as mir counts them for its share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_process(processes: int) -> int:
    """Intra-op threads for each of ``processes`` CPU training processes: they share the requested
    threads (the usable cores without ``OMP_NUM_THREADS``) instead of each using all of them."""
    budget = requested_threads() or usable_cores()
    return max(1, budget // max(1, processes))


def describe(threads: int) -> str:
    """The log line saying how many threads the task uses and why."""
    n = requested_threads()
    if n is None:
        return (
            f"{threads} CPU thread(s) for torch operations (all cores; set {THREADS_VARIABLE} to use fewer)"
        )
    return f"{threads} CPU thread(s) for torch operations ({THREADS_VARIABLE}={n})"

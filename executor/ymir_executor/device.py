"""Device choice, GPU checks and mixed precision, one code path for CPU and CUDA."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ymir_executor.errors import GpuMismatchError, NoGpuError


@dataclass(frozen=True)
class DevicePlan:
    """Where the task runs: ``n_gpus`` 0 means CPU.

    ``cpu_processes`` > 1 trains on the CPU with DistributedDataParallel over gloo, one process per share:
    the same code path as several GPUs, which is how the tests exercise it on machines without GPUs.
    """

    n_gpus: int
    cpu_processes: int = 1

    @property
    def is_cuda(self) -> bool:
        """True when running on GPUs."""
        return self.n_gpus > 0

    @property
    def world(self) -> int:
        """Number of training processes."""
        return self.n_gpus if self.is_cuda else max(1, self.cpu_processes)

    def device(self, rank: int = 0) -> torch.device:
        """The device of process ``rank``."""
        return torch.device(f"cuda:{rank}") if self.is_cuda else torch.device("cpu")


def plan_devices(*, gpu_count: int, gpu_id: str) -> DevicePlan:
    """Checks the GPUs the task asks for (``gpu_count`` or the ids in ``gpu_id``) are visible.

    Raises:
        NoGpuError: GPUs are asked for and CUDA is not available.
        GpuMismatchError: Fewer GPUs are visible than asked for.
    """
    ids = [i for i in gpu_id.split(",") if i.strip()]
    wanted = gpu_count if gpu_count > 0 else len(ids)
    if wanted == 0:
        return DevicePlan(0)
    if not torch.cuda.is_available():
        raise NoGpuError(wanted=wanted)
    visible = torch.cuda.device_count()
    if visible < wanted:
        raise GpuMismatchError(wanted=wanted, visible=visible)
    return DevicePlan(wanted)


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool, *, cache: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA when ``enabled``; a no-op on the CPU. ``cache`` off for CUDA graph capture."""
    if enabled and device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache):
            yield
    else:
        yield


def is_oom(exc: BaseException) -> bool:
    """True for the device or host out-of-memory errors torch raises."""
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def is_cuda_error(exc: BaseException) -> bool:
    """True for an error of the CUDA context itself (device-side assert, illegal address, launch failure).

    Such an error is sticky: every later call on the device fails too, so no fallback can run on it.
    """
    accel = getattr(torch, "AcceleratorError", None)
    if accel is not None and isinstance(exc, accel):
        return True
    return isinstance(exc, RuntimeError) and "CUDA error" in str(exc)

"""The executor's exceptions; each carries the contract's return code for ``monitor.txt``.

Codes follow YMIR's executor contract (protocol 1.1.0). Every message names what failed and ends with
what to fix, because the platform shows it to the user as the task's error.
"""

from __future__ import annotations

from pathlib import Path

CODE_OK = 0
CODE_CONFIG = 300001
CODE_DATASET_MISSING = 300002
CODE_IMAGE_UNREADABLE = 300003
CODE_MODEL = 300004
CODE_OBJECT_TYPE = 300005
CODE_GPU_MISMATCH = 300101
CODE_NO_GPU = 300102
CODE_OOM = 300103
CODE_DEVICE = 300104
CODE_NAN = 300201
CODE_UNKNOWN = 160004


class ExecutorError(Exception):
    """Base of every error the executor reports; ``code`` goes to ``monitor.txt``."""

    code: int = CODE_UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ExecutorError):
    """A key or value in config.yaml or env.yaml is wrong."""

    code = CODE_CONFIG

    def __init__(self, *, field: str, problem: str, fix: str) -> None:
        self.field = field
        super().__init__(f"config: {field}: {problem}; {fix}")


class ThreadsError(ExecutorError):
    """The environment's thread count (``OMP_NUM_THREADS``) is not a positive whole number.

    Code 300001 like config.yaml's bad values: the task cannot be run as asked. Left alone, OpenMP would
    print one warning and use every core, the oversubscription the variable is there to prevent.
    """

    code = CODE_CONFIG

    def __init__(self, *, variable: str, value: str) -> None:
        self.variable, self.value = variable, value
        super().__init__(
            f"environment: {variable}={value!r} is not a positive whole number of threads; set it to the "
            f"CPU threads this executor may use (e.g. {variable}=2), or unset it to use all cores"
        )


class DatasetError(ExecutorError):
    """An index file, or a file an index names, is missing or malformed."""

    code = CODE_DATASET_MISSING

    def __init__(self, *, path: Path | str, problem: str, fix: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"dataset: {where}: {problem}; {fix}")


class ImageError(ExecutorError):
    """An image cannot be decoded."""

    code = CODE_IMAGE_UNREADABLE

    def __init__(self, *, path: Path | str, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"image: {path}: cannot be read ({problem}); replace or remove this asset")


class ModelError(ExecutorError):
    """The model files are missing, unreadable, or do not fit the task."""

    code = CODE_MODEL

    def __init__(self, *, path: Path | str, problem: str, fix: str) -> None:
        self.path = str(path)
        super().__init__(f"model: {path}: {problem}; {fix}")


class ObjectTypeError(ExecutorError):
    """The task asks for an object type other than detection."""

    code = CODE_OBJECT_TYPE

    def __init__(self, object_type: object) -> None:
        self.object_type = object_type
        super().__init__(
            f"config: object_type: {object_type!r} is not supported; this executor does detection only (2)"
        )


class GpuMismatchError(ExecutorError):
    """Fewer GPUs are visible than the task asks for."""

    code = CODE_GPU_MISMATCH

    def __init__(self, *, wanted: int, visible: int) -> None:
        self.wanted, self.visible = wanted, visible
        super().__init__(
            f"gpu: the task asks for {wanted} GPU(s) but {visible} are visible; "
            "lower gpu_count or pass more devices to the container"
        )


class NoGpuError(ExecutorError):
    """The task demands a GPU and CUDA is not available."""

    code = CODE_NO_GPU

    def __init__(self, *, wanted: int) -> None:
        self.wanted = wanted
        super().__init__(
            f"gpu: the task asks for {wanted} GPU(s) but CUDA is not available; "
            "set gpu_count to 0 to run on the CPU, or run the image with GPUs"
        )


class OutOfMemoryError(ExecutorError):
    """The device ran out of memory."""

    code = CODE_OOM

    def __init__(self, *, where: str, batch_size: int) -> None:
        self.where, self.batch_size = where, batch_size
        super().__init__(
            f"memory: out of memory during {where} at batch_size_per_gpu {batch_size}; "
            "lower batch_size_per_gpu or img_size"
        )


class NanLossError(ExecutorError):
    """Training diverged: the loss became NaN or infinite."""

    code = CODE_NAN

    def __init__(self, *, epoch: int, iteration: int) -> None:
        self.epoch, self.iteration = epoch, iteration
        super().__init__(
            f"training: loss became NaN or infinite at epoch {epoch}, iteration {iteration}; "
            "lower learning_rate or raise warmup_epochs"
        )


class DeviceError(ExecutorError):
    """The GPU reported an error (a device-side assert, an illegal address): its context is unusable.

    CUDA reports kernel errors asynchronously, at the next call that waits for the device, so the message
    names the step and the images in flight when it surfaced, and the step before when that is known.
    """

    code = CODE_DEVICE

    def __init__(self, *, step: str, images: list[str], problem: str) -> None:
        self.step, self.images = step, images
        shown = ", ".join(images[:3]) + (f" and {len(images) - 3} more" if len(images) > 3 else "")
        where = f" on {shown}" if shown else ""
        super().__init__(
            f"gpu: {step} failed{where} ({problem}); rerun with gpu_decode: false (mining, inference), and "
            "with CUDA_LAUNCH_BLOCKING=1 to name the kernel if it fails again"
        )

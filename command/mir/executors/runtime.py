"""Executor runtimes: a local subprocess, or a container through the Docker Engine API.

Both follow the same contract and the same life cycle: start the executor on a prepared work
directory, copy its console output to ``out/executor.log``, hand every change of ``monitor.txt`` to
the progress callback as it happens, stop it on cancel or timeout, and turn a failure into an
:class:`~mir.errors.ExecutorError` that carries the executor's code, its one-line message and
the last lines of its log.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from mir.errors import CancelledError, ExecutorError, InvalidArgsError
from mir.executors.contract import STATE_ERROR, Monitor, WorkDir, read_monitor, tail
from mir.progress import ProgressFn

DEFAULT_EXECUTOR = "ymir-executor"
THREADS_VARIABLE = "OMP_NUM_THREADS"
_POLL = 0.2
_KIND_FILES = {
    "training": "training-template.yaml",
    "mining": "mining-template.yaml",
    "infer": "infer-template.yaml",
}


@dataclass
class RunRequest:
    """One run of an executor on a prepared work directory."""

    work: WorkDir
    task_id: str
    gpu_ids: list[str] = field(default_factory=list)
    shm_size: str = "16G"
    progress: ProgressFn | None = None
    should_cancel: Callable[[], bool] | None = None
    timeout: float | None = None
    # CPU threads for a run without GPUs, given as OMP_NUM_THREADS unless the caller's own environment
    # sets it; None: the executor's default (every core). GPU runs are left as they are.
    cpu_threads: int | None = None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def fair_share(concurrent: int) -> int:
    """CPU threads for one of ``concurrent`` executors running at once on this machine's cores.

    Each executor using every core makes ``concurrent`` OpenMP pools spin against each other: on two cores,
    two trainings of four threads each ran several times slower than their share of the cores explains.
    """
    return max(1, usable_cores() // max(1, concurrent))


def executor_threads(request: RunRequest) -> str | None:
    """The OMP_NUM_THREADS an executor run gets, or ``None`` to leave its environment alone.

    Only CPU runs get one: the caller's own OMP_NUM_THREADS (a person's explicit setting wins), else the
    request's ``cpu_threads``.
    """
    if request.gpu_ids:
        return None
    own = os.environ.get(THREADS_VARIABLE, "").strip()
    if own:
        return own
    return str(request.cpu_threads) if request.cpu_threads else None


class Runtime(Protocol):
    """What train, mining and infer need from a runtime."""

    container: bool
    name: str

    def templates(self) -> dict[str, dict[str, Any]]:
        """The executor's templates by kind (training, mining, infer): its defaults and capabilities."""
        ...

    def run(self, request: RunRequest) -> None:
        """Run to completion; raise ExecutorError on failure, CancelledError when cancelled."""
        ...


def _read_templates(folder: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind, name in _KIND_FILES.items():
        path = folder / name
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if isinstance(data, dict):
                out[kind] = data
    return out


class _Follower:
    """Relays monitor.txt changes to the progress callback."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.last: tuple[float, int] | None = None
        self.monitor: Monitor | None = None

    def poll(self) -> None:
        mon = read_monitor(self.request.work.output / "monitor.txt")
        if mon is None:
            return
        self.monitor = mon
        key = (mon.percent, mon.state)
        if key != self.last:
            self.last = key
            if self.request.progress is not None:
                self.request.progress(
                    mon.percent, "executor running" if mon.state != STATE_ERROR else "executor failed"
                )


def _failure(request: RunRequest, rc: int | None, follower: _Follower, what: str) -> ExecutorError:
    mon = follower.monitor or read_monitor(request.work.output / "monitor.txt")
    code = mon.code if mon and mon.code else None
    message = (mon.message.splitlines()[0] if mon and mon.message else "").strip()
    text = f"{what} exited with status {rc}" if rc is not None else what
    if code:
        text += f", executor code {code}"
    if message:
        text += f": {message}"
    return ExecutorError(
        text, executor_code=code, log_tail=tail(request.work.log), work_dir=request.work.root
    )


def default_img_man() -> Path | None:
    """Where our own executor's ``img-man`` folder is (``YMIR_EXECUTOR_IMG_MAN`` wins).

    Only the package's location is looked up (``find_spec`` runs none of its code): mir imports
    nothing of the executor.
    """
    env = os.environ.get("YMIR_EXECUTOR_IMG_MAN")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("ymir_executor")
    if spec is None or spec.origin is None:
        return None
    pkg = Path(spec.origin).parent
    for candidate in (pkg / "img-man", pkg.parent / "img-man"):
        if candidate.is_dir():
            return candidate
    return None


class LocalRuntime:
    """Runs an executor command as a subprocess in its own process group.

    The contract's folders are the work directory's ``in``/``out`` (named by ``YMIR_EXECUTOR_IN`` and
    ``YMIR_EXECUTOR_OUT``); GPUs are chosen with ``CUDA_VISIBLE_DEVICES``, and a CPU run's threads with
    ``OMP_NUM_THREADS`` (:func:`executor_threads`).
    """

    container = False

    def __init__(self, command: list[str], *, img_man: Path | None = None, name: str = "") -> None:
        if not command:
            raise InvalidArgsError("empty local executor command", fix="write --executor 'local:<command>'")
        self.command = command
        self.img_man = img_man
        self.name = name or "local:" + shlex.join(command)

    def templates(self) -> dict[str, dict[str, Any]]:
        """Templates from the executor's img-man folder (none known: empty)."""
        return _read_templates(self.img_man) if self.img_man else {}

    def run(self, request: RunRequest) -> None:
        """Start, follow, and check the executor process."""
        work = request.work
        env = dict(os.environ)
        env.update(
            {
                "YMIR_EXECUTOR_IN": str(work.input),
                "YMIR_EXECUTOR_OUT": str(work.output),
                "CUDA_VISIBLE_DEVICES": ",".join(request.gpu_ids),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.img_man:
            env["YMIR_EXECUTOR_IMG_MAN"] = str(self.img_man)
        threads = executor_threads(request)
        if threads:
            env[THREADS_VARIABLE] = threads
        follower = _Follower(request)
        deadline = time.monotonic() + request.timeout if request.timeout else None
        with open(work.log, "ab") as log:
            try:
                proc = subprocess.Popen(
                    self.command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=work.root,
                    start_new_session=True,
                    preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509 - only calls a bound prctl
                )
            except OSError as e:
                raise ExecutorError(
                    f"cannot start the executor {self.command[0]!r}: {e.strerror}", work_dir=work.root
                ) from e
            try:
                while proc.poll() is None:
                    follower.poll()
                    if request.should_cancel is not None and request.should_cancel():
                        _kill_group(proc)
                        raise CancelledError("the task was cancelled; the executor was stopped")
                    if deadline is not None and time.monotonic() > deadline:
                        _kill_group(proc)
                        raise ExecutorError(
                            f"the executor ran past its time limit of {request.timeout:.0f} s",
                            log_tail=tail(work.log),
                            work_dir=work.root,
                        )
                    time.sleep(_POLL)
            except BaseException:
                if proc.poll() is None:
                    _kill_group(proc)
                raise
        follower.poll()
        if proc.returncode != 0:
            raise _failure(request, proc.returncode, follower, "the executor")
        if follower.monitor is not None and follower.monitor.state == STATE_ERROR:
            raise _failure(request, 0, follower, "the executor reported an error and")


def _bind_prctl() -> Any:
    """libc's ``prctl``, looked up once in the parent: the child must not load libraries between fork
    and exec (another thread of the worker may hold the loader's lock)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: executors then only stop on cancel or timeout
        return None


_PRCTL = _bind_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking Linux to SIGKILL the executor when the worker process that started it
    dies, so a worker killed with SIGKILL (OOM killer, ``kill -9``, a lost machine) leaves no executor
    holding a GPU and writing into a work folder nobody will read.

    The executor runs in its own session (so cancel can kill its whole group), which is why it does not
    die with the worker's process group by itself. If the worker died before the request took effect,
    the child is already orphaned and exits at once.
    """

    def arm() -> None:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return arm


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the executor's whole process group, SIGKILL what is left after 5 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class DockerRuntime:
    """Runs an executor image through the Docker Engine API (the ``docker`` package).

    ``/in`` is mounted read-only and ``/out`` writable, the container runs as the calling user (not
    root), GPUs are passed as device requests, a CPU run's threads as ``OMP_NUM_THREADS`` (which torch
    and OpenMP in any image read), the shared-memory size comes from the config, and the container is
    removed afterwards whatever happened.
    """

    container = True

    def __init__(self, image: str, *, client: Any = None, run_as_root: bool = False) -> None:
        self.image = image
        self.name = image
        self._client = client
        self.run_as_root = run_as_root

    @property
    def client(self) -> Any:
        """The Engine client (created on first use)."""
        if self._client is None:
            try:
                import docker
            except ImportError as e:  # pragma: no cover - docker is a dependency
                raise ExecutorError("the docker package is not installed") from e
            try:
                self._client = docker.from_env()
            except Exception as e:
                raise ExecutorError(
                    f"cannot reach the Docker Engine ({e})",
                    fix="start the Docker daemon (or point DOCKER_HOST at a running Engine, e.g. podman's "
                    "socket) and make sure the worker's user may use it",
                ) from e
        return self._client

    def templates(self) -> dict[str, dict[str, Any]]:
        """Read ``/img-man/*-template.yaml`` from the image (a template's presence = a capability)."""
        out: dict[str, dict[str, Any]] = {}
        for kind, name in _KIND_FILES.items():
            try:
                raw = self.client.containers.run(self.image, ["cat", f"/img-man/{name}"], remove=True)
            except Exception:  # noqa: BLE001 - a missing template only means "cannot do this"
                continue
            data = yaml.safe_load(raw) if raw else None
            if isinstance(data, dict):
                out[kind] = data
        return out

    def run(self, request: RunRequest) -> None:
        """Create, follow and remove the container."""
        work = request.work
        kwargs: dict[str, Any] = {
            "detach": True,
            "name": f"ymir-{request.task_id}",
            "volumes": {
                str(work.input): {"bind": "/in", "mode": "ro"},
                str(work.output): {"bind": "/out", "mode": "rw"},
            },
            "shm_size": request.shm_size,
            "environment": {"YMIR_TASK_ID": request.task_id},
        }
        threads = executor_threads(request)
        if threads:
            kwargs["environment"][THREADS_VARIABLE] = threads
        if not self.run_as_root:
            kwargs["user"] = f"{os.getuid()}:{os.getgid()}"
        if request.gpu_ids:
            from docker.types import DeviceRequest

            kwargs["device_requests"] = [
                DeviceRequest(device_ids=list(request.gpu_ids), capabilities=[["gpu"]])
            ]
        follower = _Follower(request)
        try:  # a container left by a worker that died running this task before
            self.client.containers.get(kwargs["name"]).remove(force=True)
        except Exception:  # noqa: BLE001 - usually "no such container"
            pass
        try:
            container = self.client.containers.run(self.image, **kwargs)
        except ExecutorError:
            raise
        except Exception as e:
            raise ExecutorError(f"cannot start a container of {self.image}: {e}", work_dir=work.root) from e
        logger = threading.Thread(target=_copy_logs, args=(container, work.log), daemon=True)
        logger.start()
        deadline = time.monotonic() + request.timeout if request.timeout else None
        try:
            while True:
                container.reload()
                if container.status in ("exited", "dead"):
                    break
                follower.poll()
                if request.should_cancel is not None and request.should_cancel():
                    container.kill()
                    raise CancelledError("the task was cancelled; the container was stopped")
                if deadline is not None and time.monotonic() > deadline:
                    container.kill()
                    raise ExecutorError(
                        f"the container ran past its time limit of {request.timeout:.0f} s",
                        log_tail=tail(work.log),
                        work_dir=work.root,
                    )
                time.sleep(_POLL)
            rc = int(container.wait().get("StatusCode", 1))
            logger.join(timeout=5)
            follower.poll()
            if rc != 0:
                raise _failure(request, rc, follower, f"the container of {self.image}")
            if follower.monitor is not None and follower.monitor.state == STATE_ERROR:
                raise _failure(request, 0, follower, f"the container of {self.image} reported an error and")
        finally:
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - removal is best effort once the run is decided
                pass


def _copy_logs(container: Any, path: Path) -> None:
    try:
        with open(path, "ab") as log:
            for chunk in container.logs(stream=True, follow=True):
                log.write(chunk)
                log.flush()
    except Exception:  # noqa: BLE001 - the log is a convenience; the exit status decides
        return


# A container image reference as Docker writes it: [registry[:port]/]path[:tag][@sha256:digest].
# Nothing else reaches the Docker Engine as an image (no spaces, no options, no shell words).
_IMAGE_REFERENCE = re.compile(
    r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)"
    r"(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
_LOCAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LOCAL_PREFIX = "local:"
LOCAL_EXECUTORS_SETTING = "YMIR_LOCAL_EXECUTORS"


def is_image_reference(name: str) -> bool:
    """Whether ``name`` is a well-formed container image reference (``team/det:1.0``)."""
    return len(name) <= 255 and _IMAGE_REFERENCE.fullmatch(name) is not None


def executor_problem(spec: str, local_executors: Mapping[str, str]) -> str | None:
    """Why a platform may not run ``spec`` (``None``: it may).

    On the platform an executor is our own (empty or ``ymir-executor``), a container image
    reference, or ``local:<name>`` of a local executor the server's own configuration registers
    (``local_executors``: name -> command line). A command line never comes from a request.
    """
    spec = spec.strip()
    if not spec or spec == DEFAULT_EXECUTOR:
        return None
    if spec.startswith(LOCAL_PREFIX):
        name = spec.removeprefix(LOCAL_PREFIX)
        if name in local_executors:
            return None
        known = ", ".join(sorted(local_executors)) or "none"
        shown = name if _LOCAL_NAME.fullmatch(name) else "a command line"
        return (
            f"'local:' names a local executor registered in the server's {LOCAL_EXECUTORS_SETTING}, "
            f"and {shown!r} is not one of them (registered: {known}); "
            f"give a container image such as 'registry.example.com/team/detector:1.0', or ask the "
            f"server's operator to add the executor to {LOCAL_EXECUTORS_SETTING} and name it 'local:<name>'"
        )
    if not is_image_reference(spec):
        return (
            f"{spec[:80]!r} is not a container image reference; give one such as "
            "'registry.example.com/team/detector:1.0' (lower-case path, optional :tag or @sha256:digest)"
        )
    return None


def runtime_for(
    executor: str | None, *, docker_client: Any = None, local_executors: Mapping[str, str] | None = None
) -> Runtime:
    """``local:<command>`` → a subprocess; an image name → Docker; empty → our own executor locally.

    With ``local_executors`` (the platform's workers pass their configured ones), ``local:<name>``
    must name one of them and runs its configured command; a command line in ``executor`` is refused,
    and so is anything else that is not an image reference. Without it (the ``mir`` CLI, run by the
    machine's own user) ``local:<command>`` runs that command.
    """
    spec = (executor or "").strip()
    if not spec or spec == DEFAULT_EXECUTOR:
        return LocalRuntime(
            [sys.executable, "-m", "ymir_executor"], img_man=default_img_man(), name=DEFAULT_EXECUTOR
        )
    img_man = os.environ.get("YMIR_EXECUTOR_IMG_MAN")
    if local_executors is not None:
        problem = executor_problem(spec, local_executors)
        if problem:
            raise InvalidArgsError(f"executor {problem}")
        if spec.startswith(LOCAL_PREFIX):
            command = shlex.split(local_executors[spec.removeprefix(LOCAL_PREFIX)])
            return LocalRuntime(command, img_man=Path(img_man) if img_man else None, name=spec)
        return DockerRuntime(spec, client=docker_client)
    if spec.startswith(LOCAL_PREFIX):
        command = shlex.split(spec.removeprefix(LOCAL_PREFIX))
        return LocalRuntime(command, img_man=Path(img_man) if img_man else None, name=spec)
    return DockerRuntime(spec, client=docker_client)

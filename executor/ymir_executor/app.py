"""The executor's entry point: read env.yaml, run the task, report through monitor.txt.

Every failure ends the same way: ``monitor.txt`` in state 4 with the contract's return code and a one-line
message that says what to fix, the traceback on the following lines, and a non-zero exit status.
"""

from __future__ import annotations

import logging
import sys
import traceback

from ymir_executor.config import load_predict_config, load_train_config
from ymir_executor.device import is_cuda_error, is_oom
from ymir_executor.env import Roots, default_monitor_file, load_env
from ymir_executor.errors import CODE_OOM, CODE_UNKNOWN, DeviceError, ExecutorError
from ymir_executor.monitor import Monitor
from ymir_executor.predict import run_predict
from ymir_executor.threads import describe, use_requested_threads
from ymir_executor.train import run_training

log = logging.getLogger("ymir_executor")


def run(roots: Roots | None = None) -> int:
    """Runs the task described by ``<input root>/env.yaml``; returns the process exit status."""
    roots = roots or Roots.from_environ()
    monitor = Monitor(default_monitor_file(roots), "default-task")
    step = "the task"
    try:
        env = load_env(roots)
        monitor = Monitor(env.monitor_file, env.task_id)
        monitor.progress(0.0, force=True)
        log.info("%s", describe(use_requested_threads()))
        if env.run_training:
            step = "training"
            run_training(env, load_train_config(env.config_file), monitor)
        else:
            run_predict(env, load_predict_config(env.config_file), monitor)
    except ExecutorError as exc:
        log.error("%s (code %d)", exc.message, exc.code)
        monitor.error(code=exc.code, message=exc.message, detail=traceback.format_exc())
        return 1
    except Exception as exc:  # anything unforeseen still reaches the platform as an error state
        code = CODE_OOM if is_oom(exc) else CODE_UNKNOWN
        message = f"unexpected {type(exc).__name__}: {exc}; see the traceback in the executor log"
        if is_cuda_error(exc):  # training's CUDA errors (mining and inference name their images already)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            err = DeviceError(step=step, images=[], problem=first)
            code, message = err.code, err.message
        log.exception("unexpected error")
        monitor.error(code=code, message=message, detail=traceback.format_exc())
        return 1
    monitor.done()
    return 0


USAGE = """usage: ymir-executor   (or: python -m ymir_executor)

Runs the task that <input root>/env.yaml describes (training, mining or inference) and reports its
progress and result in the monitor file env.yaml names. It takes no arguments. In a container the roots
are /in, /out and /img-man; run as a local process, YMIR_EXECUTOR_IN, YMIR_EXECUTOR_OUT and
YMIR_EXECUTOR_IMG_MAN name them. The training and mining options are in config.yaml (the template:
/img-man/training-template.yaml, /img-man/mining-template.yaml)."""


def main(argv: list[str] | None = None) -> None:
    """Console entry (``ymir-executor`` / ``python -m ymir_executor``).

    An argument is answered with the usage and nothing else: ``--help`` once ran a task in the default
    roots, writing a failed ``/out/monitor.txt`` on the host, where a later local run took it for its own.
    """
    args = sys.argv[1:] if argv is None else argv
    if args:
        asked = args[0] in ("-h", "--help")
        print(
            USAGE if asked else f"ymir-executor takes no arguments (got {args[0]!r})\n\n{USAGE}",
            file=sys.stdout if asked else sys.stderr,
        )
        sys.exit(0 if asked else 2)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    sys.exit(run())

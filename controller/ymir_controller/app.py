"""The Celery application, configured from :class:`~ymir_controller.settings.Settings`.

Reliability settings, and why (see Celery's task guide):
- ``task_acks_late``: a task is acknowledged after it ran, so a worker dying mid-task does not lose
  it; tasks are idempotent by their ``dst_rev`` (a rerun returns what the first run committed).
- ``task_reject_on_worker_lost``: when a pool process is killed, the message goes back to the queue
  at once instead of being acknowledged as failed.
- ``worker_prefetch_multiplier = 1``: a worker never hoards long trainings it cannot start.
- GPU tasks go to the ``gpu`` queue and everything else to ``cpu``, so workers can be placed apart.
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery

from ymir_controller.protocol import celery_client_config
from ymir_controller.settings import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    """Broker, result backend and task options for these settings."""
    conf = celery_client_config(
        workplace=settings.root,
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        visibility_timeout=settings.visibility_timeout,
        restore_interval=settings.restore_interval,
        key_prefix=settings.redis_key_prefix,
    )
    conf.update(
        {
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "task_track_started": True,
            "result_extended": True,
            "worker_hijack_root_logger": False,
        }
    )
    return conf


def make_app(settings: Settings) -> Celery:
    """A Celery app for ``settings`` (tasks are registered by :mod:`ymir_controller.tasks`)."""
    app = Celery("ymir")
    app.conf.update(celery_config(settings))
    return app


def worker_command(name: str, *, concurrency: int, queues: str = "cpu,gpu") -> list[str]:
    """The command line starting a worker under this Python: ``celery -A ymir_controller.worker
    worker`` on ``queues`` with ``concurrency`` prefork processes, named ``name`` (``%h``: the host).
    Tests and benchmarks start their workers with it."""
    return [
        *(sys.executable, "-m", "celery", "-A", "ymir_controller.worker", "worker"),
        *("-Q", queues, "-c", str(concurrency), "--pool", "prefork", "--loglevel", "INFO", "-n", name),
    ]

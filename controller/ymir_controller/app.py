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

from typing import Any

from celery import Celery

from ymir_controller.protocol import GPU_KINDS, TASK_NAMES
from ymir_controller.settings import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    """Broker, result backend and task options for these settings."""
    if settings.broker_url:
        broker = settings.broker_url
        transport: dict[str, Any] = {
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": settings.restore_interval,
            "unacked_restore_throttle": 1,
        }
    else:  # the embedded, no-server broker: message files in the workplace
        folder = settings.internal / "broker"
        for sub in ("in", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        broker = "filesystem://"
        transport = {
            "data_folder_in": str(folder / "in"),
            "data_folder_out": str(folder / "in"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "control_folder": str(folder / "control"),
        }
    if settings.result_backend:
        backend = settings.result_backend
    else:
        results = settings.internal / "results"
        results.mkdir(parents=True, exist_ok=True)
        backend = f"file://{results}"
    return {
        "broker_url": broker,
        "broker_transport_options": transport,
        "result_backend": backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "result_extended": True,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": "cpu",
        "task_routes": {TASK_NAMES[k]: {"queue": "gpu"} for k in GPU_KINDS},
        "worker_hijack_root_logger": False,
    }


def make_app(settings: Settings) -> Celery:
    """A Celery app for ``settings`` (tasks are registered by :mod:`ymir_controller.tasks`)."""
    app = Celery("ymir")
    app.conf.update(celery_config(settings))
    return app

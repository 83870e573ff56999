"""The embedded broker's transport: a worker waiting for work wakes up often enough to stop at once."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from time import monotonic
from typing import Any

import pytest
from kombu import Connection, Queue

from ymir_controller.fstransport import DRAIN_SECONDS, SCHEME


def _connection(root: Path) -> Connection:
    folder = root / "in"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(root / "control"),  # kombu's default is ./control
        "polling_interval": 0.05,
    }
    return Connection(f"{SCHEME}://", transport_options=options)


def test_an_empty_queue_ends_a_drain_within_drain_seconds(tmp_path: Path) -> None:
    """Celery's worker loop asks for drains of 2 s and checks for a warm shutdown only between them."""
    with _connection(tmp_path) as conn, conn.Consumer(Queue("cpu"), callbacks=[]):
        start = monotonic()
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=2.0)
        assert monotonic() - start < 1.0 and DRAIN_SECONDS < 1.0


def test_messages_still_arrive_through_short_drains(tmp_path: Path) -> None:
    got: list[Any] = []

    def received(body: Any, message: Any) -> None:
        got.append(body)
        message.ack()

    queue = Queue("cpu", routing_key="cpu")
    with _connection(tmp_path) as conn, conn.Consumer(queue, callbacks=[received]):
        conn.Producer().publish({"kind": "ping"}, routing_key="cpu", declare=[queue])
        deadline = monotonic() + 30
        while not got and monotonic() < deadline:
            with contextlib.suppress(socket.timeout):
                conn.drain_events(timeout=2.0)
    assert got == [{"kind": "ping"}]

"""The embedded broker: kombu's filesystem transport with atomic message files.

kombu's own transport creates a message file and then writes into it, so a consumer polling the
folder can pick up an empty or half-written file, fail to decode it, and the worker stops with
"Unrecoverable error" (seen under load here). We write each message under a name no queue matches
and rename it into place, so consumers only ever see complete messages.

Celery's worker loop for transports like this one (``synloop``) checks for a shutdown between drains of
up to 2 s, and drains once more after it decided to stop: a warm shutdown (``./ymir.sh stop``, the end
of a test module) sat 2 to 4 s in those drains before it began. Our transport drains at most
:data:`DRAIN_SECONDS` at a time, so the worker starts stopping within that.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.filesystem import Channel as _FsChannel
from kombu.transport.filesystem import Transport as _FsTransport
from kombu.utils.json import dumps

SCHEME = "ymirfs"
DRAIN_SECONDS = 0.2  # the longest a drain waits for a message; new messages are polled every 0.05 s


class Channel(_FsChannel):  # type: ignore[misc]
    """A filesystem channel whose messages appear atomically."""

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        tmp = os.path.join(self.data_folder_out, f".{name}.part")  # matches no queue while being written
        with open(tmp, "wb") as f:
            f.write(dumps(payload).encode())  # type: ignore[no-untyped-call]
        os.replace(tmp, final)


class Transport(_FsTransport):  # type: ignore[misc]
    """The filesystem transport using :class:`Channel`."""

    Channel = Channel

    def drain_events(self, connection: Any, timeout: float | None = None) -> Any:  # type: ignore[override]
        """Waits for a message at most ``timeout`` or :data:`DRAIN_SECONDS`, whichever is shorter (no
        ``timeout``: until one comes, as kombu does); the caller (Celery's loop) drains again, having
        checked whether it must stop."""
        short = timeout if timeout is None else min(timeout, DRAIN_SECONDS)
        return super().drain_events(connection, timeout=short)  # type: ignore[no-untyped-call]


TRANSPORT_ALIASES.setdefault(SCHEME, "ymir_controller.fstransport:Transport")

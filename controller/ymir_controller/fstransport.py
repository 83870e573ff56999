"""The embedded broker: kombu's filesystem transport with atomic message files.

kombu's own transport creates a message file and then writes into it, so a consumer polling the
folder can pick up an empty or half-written file, fail to decode it, and the worker stops with
"Unrecoverable error" (seen under load here). We write each message under a name no queue matches
and rename it into place, so consumers only ever see complete messages.
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


TRANSPORT_ALIASES.setdefault(SCHEME, "ymir_controller.fstransport:Transport")

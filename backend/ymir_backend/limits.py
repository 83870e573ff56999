"""Refusing oversized request bodies before they are read.

Starlette parses a multipart upload to a temporary file before the route runs, so a route's own size
check (``services.uploads``) only stops what comes after: a 50 GB upload would first fill the server's
temporary folder. Clients that announce their size (browsers, curl, httpx: ``Content-Length``) are
answered 413 here at once, and nothing is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ymir_backend.config import BackendSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPART_SLACK = 1 << 20  # form fields and part headers around the file itself
_VERIFY = re.compile(r"^/api/v1/models/[^/]+/verify$")


class BodyLimit:
    """ASGI middleware: 413 for a request whose ``Content-Length`` exceeds what its route accepts."""

    def __init__(self, app: App, settings: BackendSettings) -> None:
        self.app = app
        self.settings = settings

    def limit(self, path: str) -> tuple[int, str]:
        """The largest body accepted at ``path`` and the setting that raises it."""
        if _VERIFY.match(path):
            return self.settings.verify_max_image_bytes + MULTIPART_SLACK, "YMIR_VERIFY_MAX_IMAGE_BYTES"
        return self.settings.max_upload_bytes + MULTIPART_SLACK, "YMIR_MAX_UPLOAD_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit():
                limit, setting = self.limit(scope["path"])
                if int(length) > limit:
                    await _too_large(send, int(length), limit, setting)
                    return
        await self.app(scope, receive, send)


async def _too_large(send: Send, length: int, limit: int, setting: str) -> None:
    body = json.dumps(
        {
            "detail": f"the request body is {length} bytes, more than the {limit} accepted here; "
            f"send a smaller file (or raise {setting})",
            "code": "upload_too_large",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})

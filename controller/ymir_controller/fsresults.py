"""The embedded result backend: Celery's file results, written atomically.

Celery's own file backend rewrites a result file in place (truncate, then write), so a client
reading at that moment sees an empty file and a running task looks ``queued`` (or a half-written
one fails to decode). Writing to a temporary name and renaming makes every read see a whole record.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from celery.backends.filesystem import FilesystemBackend
from kombu.utils.encoding import ensure_bytes


class AtomicFilesystemBackend(FilesystemBackend):  # type: ignore[misc]
    """File results that appear all at once."""

    def set(self, key: Any, value: Any) -> None:
        final = self._filename(key)
        tmp = final + b".part-" + uuid.uuid4().hex.encode()
        with open(tmp, "wb") as out:
            out.write(ensure_bytes(value))  # type: ignore[no-untyped-call]
        os.replace(tmp, final)


#: result_backend URL prefix selecting this class (``<class>+file:///path``)
BACKEND = "ymir_controller.fsresults:AtomicFilesystemBackend"

"""Messages leaving the server (task errors, API answers): paths relative to a root folder (the
workplace), never the server's absolute paths; an unexpected failure gets an id to quote, its
detail staying in the server's log."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

# an absolute path not part of a URL (``http://host/a`` has ``:``, ``/`` or a letter before its slashes)
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+,=-]+/)*[\w.@+,=-]+/?")


def workplace_relative(text: str, root: Path) -> str:
    """``text`` with every path under the workplace made relative to it and any other absolute
    path cut to its last part (``…/name``)."""
    if not text:
        return text
    for base in sorted({str(root), os.path.realpath(root)}, key=len, reverse=True):
        base = base.rstrip("/")
        text = text.replace(base + "/", "").replace(base, ".")
    return _ABSOLUTE.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def error_id() -> str:
    """A short id a user quotes and an operator finds in the worker's log."""
    return uuid.uuid4().hex[:12]

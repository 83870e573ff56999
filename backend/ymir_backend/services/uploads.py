"""Receiving uploaded files.

A dataset or model upload is parsed *here*, from the raw request stream, after the route has checked
who is asking and that the project exists: nothing is read before that. The file part goes straight
into ``<workplace>/uploads/`` as a ``.part`` file named after this host and process (so a restarted
API can tell its dead predecessor's leftovers from a neighbour's upload in progress), every byte is
counted as it arrives (chunked bodies too) and the upload is cut at ``YMIR_MAX_UPLOAD_BYTES`` with
413; a full disk ends it with 507 and a message naming the folder and its free space. Whatever
happens, a refused or broken upload leaves no file behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from fastapi import Request, UploadFile
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError

FIELD_LIMIT = 64 * 1024  # a form field (group name, strategy) is never longer
MULTIPART_SLACK = 1 << 20  # part headers and form fields around the file itself
STALE_PART_SECONDS = 24 * 3600.0  # another host's .part untouched this long is abandoned
_HOST = socket.gethostname().replace("-", "_")[:40] or "host"


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def disk_full(folder: Path) -> ApiError:
    """507 naming the folder and what is left on it."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    return ApiError(
        507,
        "disk_full",
        f"disk full at {folder.name}/ in the workplace, free {_gb(free)}; "
        "free some space (or import from the sharing folder) and upload again",
    )


def check_free_space(folder: Path, need: int) -> None:
    """Refuse (507) an upload of ``need`` bytes that cannot fit in ``folder`` with 1 % to spare."""
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return
    if need > usage.free - usage.total // 100:
        raise ApiError(
            507,
            "disk_full",
            f"the upload is {_gb(need)} but {folder.name}/ in the workplace has {_gb(usage.free)} free; "
            "free some space (or import from the sharing folder) and upload again",
        )


def part_name(pid: int | None = None) -> str:
    """Prefix of an upload in progress: ``upload-<host>-<pid>-``."""
    return f"upload-{_HOST}-{pid if pid is not None else os.getpid()}-"


def sweep_partial_uploads(uploads: Path, *, now: float | None = None) -> list[Path]:
    """Remove ``.part`` files left by a dead API process: this host's whose process is gone, any
    host's untouched for :data:`STALE_PART_SECONDS`. Returns what was removed."""
    removed: list[Path] = []
    if not uploads.is_dir():
        return removed
    now = time.time() if now is None else now
    for p in uploads.glob("upload-*.part"):
        bits = p.name.split("-")
        mine = len(bits) >= 4 and bits[1] == _HOST and bits[2].isdigit()
        try:
            stale = now - p.stat().st_mtime > STALE_PART_SECONDS
        except FileNotFoundError:
            continue
        dead = mine and os.path.isdir("/proc") and not os.path.exists(f"/proc/{bits[2]}")
        if stale or dead:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


class _Form:
    """Callbacks of the multipart parser: the file part to disk, small text fields to memory."""

    def __init__(self, file_field: str) -> None:
        self.file_field = file_field
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.pending: list[bytes] = []  # file bytes of the last chunk, written outside the parser
        self.file_seen = False
        self.file_bytes = 0
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._is_file = False
        self._buf = bytearray()
        self.problem = ""

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self._headers, self._buf, self._name, self._is_file = {}, bytearray(), "", False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._is_file = self._name == self.file_field and filename is not None
        if self._is_file:
            if self.file_seen:
                self.problem = f"send one '{self.file_field}' part, not several"
            self.file_seen = True
            self.filename = filename.decode("utf-8", "replace") if filename is not None else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.pending.append(data[start:end])
            self.file_bytes += end - start
        elif len(self._buf) + end - start > FIELD_LIMIT:
            self.problem = f"form field {self._name!r} is longer than {FIELD_LIMIT} bytes"
        else:
            self._buf += data[start:end]

    def on_part_end(self) -> None:
        if not self._is_file and self._name:
            self.fields[self._name] = self._buf.decode("utf-8", "replace")


async def receive_upload(
    request: Request, settings: BackendSettings, *, suffix: str, file_field: str = "file"
) -> tuple[Path, dict[str, str]]:
    """Stream a ``multipart/form-data`` body into ``<workplace>/uploads``: (the file, the text fields).

    Call it only after the caller is authorised: this is where the body is first read."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(
            422,
            "invalid_request",
            f"the body must be multipart/form-data with a '{file_field}' part (a file) and the form fields",
        )
    cap = settings.max_upload_bytes + MULTIPART_SLACK
    uploads = settings.root / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    length = request.headers.get("content-length", "")
    if length.isdigit():
        if int(length) > cap:
            raise _too_large(settings)
        check_free_space(uploads, int(length))
    form = _Form(file_field)
    parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
    fd, tmp_name = tempfile.mkstemp(dir=uploads, prefix=part_name(), suffix=".part")
    tmp = Path(tmp_name)
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if received > cap:
                    raise _too_large(settings)
                try:
                    parser.write(chunk)
                except FormParserError as e:
                    raise ApiError(422, "invalid_request", f"the multipart body is malformed: {e}") from e
                if form.file_bytes > settings.max_upload_bytes:
                    raise _too_large(settings)
                if form.problem:
                    raise ApiError(422, "invalid_request", form.problem)
                if form.pending:
                    await run_in_threadpool(_write_all, out, form.pending)
                    form.pending = []
            parser.finalize()
        if not form.file_seen:
            raise ApiError(
                422, "invalid_request", f"field '{file_field}': no file was sent; attach it as a file part"
            )
        final = tmp.with_name(tmp.name.removesuffix(".part").replace("upload-", "", 1) + suffix)
        tmp.rename(final)
        return final, form.fields
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno == errno.ENOSPC:
            raise disk_full(uploads) from e
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_all(out: object, pieces: Iterable[bytes]) -> None:
    for piece in pieces:
        out.write(piece)  # type: ignore[attr-defined]


def _too_large(settings: BackendSettings) -> ApiError:
    return ApiError(
        413,
        "upload_too_large",
        f"the upload exceeds {settings.max_upload_bytes} bytes; "
        "import large datasets from the sharing folder instead (or raise YMIR_MAX_UPLOAD_BYTES)",
    )


async def read_small_upload(file: UploadFile, *, limit: int, what: str, setting: str) -> bytes:
    """The bytes of a small upload (an image to verify), read in chunks and refused with 413 as soon as
    they pass ``limit``, so a huge file never sits in memory; ``setting`` names the variable to raise."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413,
                "upload_too_large",
                f"the {what} exceeds {limit} bytes; send a smaller one (or raise {setting})",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def upload_form(
    file_description: str, fields: dict[str, dict[str, object]], required: list[str]
) -> dict[str, object]:
    """OpenAPI ``requestBody`` of a route that parses its multipart body itself (after its checks)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary", "description": file_description},
                            **fields,
                        },
                        "required": ["file", *required],
                    }
                }
            },
        }
    }


def form_text(
    fields: dict[str, str],
    name: str,
    *,
    default: str | None = None,
    max_length: int = 120,
    choices: tuple[str, ...] = (),
) -> str:
    """A text field of an upload form, checked like a declared ``Form`` field (422 naming it)."""
    value = fields.get(name, default)
    if value is None:
        raise ApiError(422, "invalid_request", f"field '{name}' is required; add it to the form")
    if not 1 <= len(value) <= max_length:
        raise ApiError(422, "invalid_request", f"field '{name}' must be 1 to {max_length} characters long")
    if "\x00" in value:  # PostgreSQL cannot store it; no name needs it
        raise ApiError(422, "invalid_request", f"field '{name}' contains a NUL character; remove it")
    if choices and value not in choices:
        raise ApiError(
            422, "invalid_request", f"field '{name}' must be one of {', '.join(choices)}; got {value!r}"
        )
    return value

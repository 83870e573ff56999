"""What a failed task shows its user: workplace-relative paths, and for an unexpected failure what
failed plus an error id, the traceback staying in the worker's log."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mir.errors import InputFileError
from mir.messages import workplace_relative
from ymir_controller import handlers
from ymir_controller.handlers.context import Context
from ymir_controller.protocol import (
    CopyRequest,
    ExportRequest,
    Kind,
    MergeRequest,
    ModelExportRequest,
    ModelImportRequest,
)
from ymir_controller.settings import Settings


def test_paths_are_shown_relative_to_the_workplace(tmp_path: Path) -> None:
    root = tmp_path / "workplace"
    text = f"{root}/uploads/a.zip: bad; see {root}/work/t1 and /usr/lib/python3/x.py, {root}"
    shown = workplace_relative(text, root)
    assert shown == "uploads/a.zip: bad; see work/t1 and …/x.py, ."
    assert workplace_relative("fetch http://host/a/b failed", root) == "fetch http://host/a/b failed"


@pytest.mark.parametrize(
    ("request_type", "fields", "path_field"),
    [
        (MergeRequest, {"dst_rev": "a@t", "src_revs": "b@t"}, "repo"),
        (CopyRequest, {"repo": "r", "dst_rev": "a@t", "src_revs": "b@t"}, "src_repo"),
        (ExportRequest, {"repo": "r", "src_rev": "a@t"}, "dst_dir"),
        (ModelImportRequest, {}, "package"),
        (ModelExportRequest, {"model_hash": "h"}, "dst"),
    ],
)
def test_a_request_naming_a_path_outside_the_workplace_is_refused(
    request_type: type, fields: dict[str, str], path_field: str
) -> None:
    assert getattr(request_type(**fields, **{path_field: "in/side"}), path_field) == "in/side"
    for outside in ("/etc", "a/../../etc"):
        with pytest.raises(ValidationError, match=rf"{path_field}[\s\S]*must be a path inside the workplace"):
            request_type(**fields, **{path_field: outside})


@pytest.mark.parametrize("error", [RuntimeError, InputFileError])
def test_a_failed_task_names_no_server_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: type
) -> None:
    ctx = Context(settings=Settings(workplace=tmp_path / "wp"), task_id="t1")
    where = ctx.settings.root / "repos" / "r" / ".mir" / "db"

    def broken(req: object, ctx: Context) -> None:
        if error is RuntimeError:
            raise RuntimeError(f"cannot open {where}")
        raise InputFileError(where, "is damaged", fix=f"remove {where}")

    monkeypatch.setitem(handlers.HANDLERS, Kind.MERGE, broken)
    result = handlers.run(MergeRequest(repo="repos/r", dst_rev="m@1", src_revs="a").model_dump(), ctx)
    assert result.state == "failed" and result.error is not None
    shown = f"{result.error.message} {result.error.fix} {result.error.log_tail}"
    assert str(tmp_path) not in shown and "repos/r/.mir/db" in shown, shown
    if error is RuntimeError:
        assert "unexpected error" not in shown
        assert result.error.message.startswith("the merge task failed in the worker: RuntimeError")
        eid = result.error.fix.split("error id ")[1].split()[0]
        assert any(eid in r.getMessage() for r in caplog.records)

"""A task delivered again after it ended well (Redis redelivers a task that ran longer than its
visibility timeout) returns its first result instead of running again: handler tests over
:func:`handlers.run`, without Celery."""

from __future__ import annotations

from pathlib import Path

from bench.synthetic import generate_voc
from mir.ops import history
from ymir_controller import handlers
from ymir_controller.handlers.context import Context
from ymir_controller.protocol import ExportRequest, ImportRequest, ImportSource, TaskResult
from ymir_controller.settings import Settings


def _run(settings: Settings, request: ImportRequest | ExportRequest, task_id: str) -> TaskResult:
    return handlers.run(request.model_dump(mode="json"), Context(settings=settings, task_id=task_id))


def test_an_export_delivered_again_is_not_done_twice(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    generate_voc(root / "sharing" / "d", n_images=4, seed=5, image_size=(32, 32))
    settings = Settings(workplace=root)
    history.init(root=root / "repos" / "p")
    imp = ImportRequest(
        repo="repos/p",
        dst_rev="a@i1",
        source=ImportSource(kind="path", path="d"),
        unknown_types_strategy="add",
    )
    assert _run(settings, imp, "i1").state == "done"
    export = ExportRequest(repo="repos/p", src_rev="a@i1", dst_dir="exports/e1/d", anno_format="voc")
    first = _run(settings, export, "e1")
    assert first.state == "done" and first.output == "exports/e1/d.zip" and not first.redelivered
    (root / first.output).unlink()  # were it run again, the zip would be back

    again = _run(settings, export, "e1")
    assert again.state == "done" and again.redelivered and again.output == first.output
    assert not (root / first.output).exists() and not (root / "work" / "e1").exists()
    # a task that failed is run again when delivered again (it may work now)
    broken = ExportRequest(repo="repos/p", src_rev="nope@x", dst_dir="exports/e2/d", anno_format="voc")
    assert _run(settings, broken, "e2").state == "failed"
    assert not handlers.ended_mark(settings.internal, "e2").exists()

"""The engine makes a project's repository and keeps its label file in step with the project's labels
(the API never writes a repository): handler tests, without Celery, over :func:`handlers.run`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bench.synthetic import generate_voc
from mir.store.repo import Repo
from ymir_controller import handlers
from ymir_controller.handlers.context import Context
from ymir_controller.handlers.repos import prepare_repo
from ymir_controller.protocol import ImportRequest, ImportSource, LabelSpec, SamplingRequest, TaskResult
from ymir_controller.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    root = tmp_path / "ws"
    # the dataset calls circles "kreis": only the project's alias makes them circles
    generate_voc(
        root / "sharing" / "shapes", n_images=4, seed=5, classes=("kreis", "square"), image_size=(48, 48)
    )
    return Settings(workplace=root)


def _run(settings: Settings, request: ImportRequest | SamplingRequest, task_id: str) -> TaskResult:
    return handlers.run(request.model_dump(mode="json"), Context(settings=settings, task_id=task_id))


def _import(labels: list[LabelSpec] | None, dst: str = "a@import") -> ImportRequest:
    return ImportRequest(
        repo="repos/project-1", dst_rev=dst, source=ImportSource(kind="path", path="shapes"), labels=labels
    )


def _classes(settings: Settings) -> dict[str, tuple[int, list[str]]]:
    labels = Repo(settings.path("repos/project-1")).labels().labels
    return {lb.name: (lb.id, list(lb.aliases)) for lb in labels}


def test_the_first_task_creates_the_repository_with_the_projects_labels(settings: Settings) -> None:
    labels = [LabelSpec(name="circle", aliases=["kreis"]), LabelSpec(name="square")]
    result = _run(settings, _import(labels), "t1")
    assert result.state == "done", result.error
    assert result.version is not None and set(result.version.gt) == {"circle", "square"}
    assert _classes(settings) == {"circle": (0, ["kreis"]), "square": (1, [])}


def test_a_labels_change_reaches_the_repository_with_the_next_task(settings: Settings) -> None:
    first = _run(
        settings, _import([LabelSpec(name="square"), LabelSpec(name="circle", aliases=["kreis"])]), "t1"
    )
    assert first.state == "done", first.error
    changed = [
        LabelSpec(name="square", aliases=["box"]),
        LabelSpec(name="circle", aliases=["kreis"]),
        LabelSpec(name="star"),
    ]
    sample = SamplingRequest(
        repo="repos/project-1", dst_rev="s@sample", src_revs="a@import", count=2, labels=changed
    )
    assert _run(settings, sample, "t2").state == "done"
    # ids stay what they were; the new alias and the new class are there
    assert _classes(settings) == {"square": (0, ["box"]), "circle": (1, ["kreis"]), "star": (2, [])}


def test_labels_the_repository_cannot_take_fail_the_task_and_change_nothing(settings: Settings) -> None:
    first = [LabelSpec(name="circle", aliases=["kreis"]), LabelSpec(name="square")]
    assert _run(settings, _import(first), "t1").state == "done"
    before = Repo(settings.path("repos/project-1")).labels_path.read_bytes()
    # "triangle" is new and fine; "kreis" as a class of its own clashes with circle's alias
    bad = [LabelSpec(name="triangle"), LabelSpec(name="kreis")]
    result = _run(settings, _import(bad, dst="b@import"), "t2")
    assert result.state == "failed" and result.error is not None
    assert "project's labels" in result.error.message and "'kreis'" in result.error.message
    assert "change the project's labels" in result.error.fix
    assert Repo(settings.path("repos/project-1")).labels_path.read_bytes() == before  # not even "triangle"
    assert "b@import" not in Repo(settings.path("repos/project-1")).refs()["tags"]


def test_a_request_without_labels_leaves_a_missing_repository_missing(settings: Settings) -> None:
    result = _run(settings, _import(None), "t1")
    assert result.state == "failed" and result.error is not None
    assert not (settings.path("repos/project-1") / ".mir").exists()


def test_first_tasks_arriving_together_make_one_repository(settings: Settings) -> None:
    root = settings.path("repos/project-1")
    errors: list[BaseException] = []

    def prepare(i: int) -> None:
        try:
            prepare_repo(root, [LabelSpec(name=f"class{i % 2}")], internal=settings.internal)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=prepare, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    repo = Repo(root)
    assert list(repo.refs()["branches"]) == ["master"]  # one init, not one per task
    assert sorted(_classes(settings)) == ["class0", "class1"]

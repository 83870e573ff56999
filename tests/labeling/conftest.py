"""A real Celery worker on Redis that runs labeling tasks against the run's one real Label Studio (the
``label_studio`` fixture of ``tests/label_studio.py``, started by ``label_studio/ls.sh``).

``./ymir.sh test`` installs Label Studio before pytest runs. Without it (or without Redis) these tests
skip on a developer's machine and FAIL under ``CI=true``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.synthetic import generate_voc
from mir.ops import history
from tests.controller.conftest import Engine, make_engine
from tests.label_studio import TOKEN, LabelStudioServer
from ymir_controller.protocol import ImportRequest, ImportSource

CLASSES = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def labeling_engine(
    label_studio: LabelStudioServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A worker on Redis (a killed worker's task comes back) whose labeling tasks talk to ``label_studio``."""
    root = tmp_path_factory.mktemp("workplace-labeling")
    eng = make_engine("redis", root, tmp_path_factory.mktemp("gpu-locks"))
    extra = {
        "YMIR_LABEL_STUDIO_URL": label_studio.url,
        "YMIR_LABEL_STUDIO_TOKEN": TOKEN,
        "YMIR_LABEL_POLL_SECONDS": "0.5",
        "YMIR_PUBLIC_URL": "http://127.0.0.1:9",  # images are never fetched in these tests
    }
    extra["YMIR_VISIBILITY_TIMEOUT"] = "15"  # a killed worker's task comes back within ~16 s
    eng.env.update(extra)
    eng.settings = eng.settings.model_copy(
        update={
            "label_studio_url": label_studio.url,
            "label_studio_token": TOKEN,
            "label_poll_seconds": 0.5,
            "public_url": "http://127.0.0.1:9",
        }
    )
    generate_voc(root / "sharing" / "pool", n_images=6, seed=7, image_size=(80, 60), name_prefix="pool")
    (root / "sharing" / "pool" / "index.txt").unlink()
    history.init(root=root / "repos" / "main")
    for name in CLASSES:
        history.add_label(
            root=root / "repos" / "main", name=name, aliases=["sq"] if name == "square" else None
        )
    eng.start()
    tid = eng.client.submit(
        ImportRequest(repo="repos/main", dst_rev="pool@imp", source=ImportSource(kind="path", path="pool"))
    )
    result = eng.client.wait(tid, timeout=120)
    assert result.state == "done", result.error
    yield eng
    eng.kill()  # a throw-away workplace: the warm shutdown is tested in test_engine.py


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or predicate}")

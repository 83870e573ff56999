"""Container engines for the deployment tests: podman's Docker Engine API on a socket of the test's own.

Tests marked ``containers`` need podman and the images that ``deploy/images.sh`` builds (several minutes:
too slow for the suite's budget). They run when ``YMIR_TEST_CONTAINERS=1`` is set; then a missing podman
or image FAILS with the command that fixes it. Without that variable they are skipped with that hint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "deploy" / "containers.conf"
EXECUTOR_IMAGE = "localhost/ymir-executor:0.1.0"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("YMIR_TEST_CONTAINERS") == "1":
        return
    skip = pytest.mark.skip(
        reason="container test: build the images (deploy/images.sh all), then YMIR_TEST_CONTAINERS=1"
    )
    for item in items:
        if "containers" in item.keywords:
            item.add_marker(skip)


def podman_env() -> dict[str, str]:
    """The environment podman runs in here: runc and ulimits from deploy/containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def require_image(image: str, build: str) -> None:
    """Fail (never skip: the test was asked for) when podman or ``image`` is missing."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: apt-get install -y podman runc debootstrap")
    found = subprocess.run(["podman", "image", "exists", image], env=podman_env()).returncode == 0
    if not found:
        pytest.fail(f"the image {image} is not built: run {build}")


@pytest.fixture(scope="module")
def podman_socket() -> Iterator[str]:
    """``podman system service`` on a private socket; yields its DOCKER_HOST URL.

    The socket is opened to every local user, so a test can drive it as a non-root caller.
    """
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: apt-get install -y podman runc debootstrap")
    folder = Path(tempfile.mkdtemp(prefix="ymir-podman-", dir="/var/tmp"))  # pytest's temp is 0700
    folder.chmod(0o755)
    sock = folder / "podman.sock"
    log = open(folder / "service.log", "wb")
    proc = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        env=podman_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"podman system service did not start: {(folder / 'service.log').read_text()}")
        time.sleep(0.1)
    sock.chmod(0o666)
    try:
        yield f"unix://{sock}"
    finally:
        stop(proc)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder other local users may enter (pytest's own are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="ymir-test-", dir="/var/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)

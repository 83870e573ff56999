"""Worker "machines" on one host, for the scale-out test and bench: each machine is a network namespace
with a hostname of its own (``unshare --uts``) and a veth link to the host, where a Redis server listens
on the host's end of every link. The workplace folder is shared by all (as a shared file system would
be); the GPU slot folder is each machine's own. Needs root, ``ip``, ``unshare`` and ``redis-server``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ymir_controller.app import worker_command
from ymir_controller.client import Client
from ymir_controller.protocol import PingRequest
from ymir_controller.settings import Settings


def sh(*cmd: str) -> None:
    """Run a command; raise with its error output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")


def missing_tools() -> str:
    """Why machines cannot be made here ("" when they can)."""
    if os.getuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare", "redis-server"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y iproute2 util-linux redis-server)"
    return ""


@dataclass
class Machine:
    """One worker machine: a network namespace, its veth link to the host, and its worker process."""

    name: str
    netns: str
    host_if: str
    host_ip: str
    lock_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def pids(self) -> list[int]:
        """Every process running on this machine."""
        out = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def cut_off(self) -> None:
        """The machine drops off the network and dies: link down, every process on it killed."""
        sh("ip", "link", "set", self.host_if, "down")
        self.kill_all()

    def kill_all(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            self.proc.wait(timeout=30)


@dataclass
class Cluster:
    machines: list[Machine]
    client: Client
    root: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(host: str, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on {host}:{port}")


@contextmanager
def cluster(
    root: Path,
    *,
    machines: int = 2,
    concurrency: int = 1,
    gpu_ids: str = "0",
    visibility_timeout: float = 6,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """Start ``machines`` worker machines on the workplace ``root``; everything is removed on exit."""
    tag = uuid.uuid4().hex[:6]
    net = 200 + int(tag, 16) % 50  # 10.<net>.<machine>.0/24, unlikely to meet another run
    port = _free_port()
    made: list[Machine] = []
    redis: subprocess.Popen[bytes] | None = None
    try:
        for i in range(1, machines + 1):
            m = Machine(
                name=f"machine-{i}-{tag}",
                netns=f"ymir-{tag}-m{i}",
                host_if=f"yh{tag}{i}",
                host_ip=f"10.{net}.{i}.1",
                lock_dir=root / ".machines" / f"m{i}-gpu-slots",
                log=root / ".machines" / f"worker-{tag}-m{i}.log",  # one file per run
            )
            m.lock_dir.mkdir(parents=True, exist_ok=True)
            made.append(m)
            peer = f"yn{tag}{i}"
            sh("ip", "netns", "add", m.netns)
            sh("ip", "link", "add", m.host_if, "type", "veth", "peer", "name", peer)
            sh("ip", "link", "set", peer, "netns", m.netns)
            sh("ip", "addr", "add", f"{m.host_ip}/24", "dev", m.host_if)
            sh("ip", "link", "set", m.host_if, "up")
            ns = ("ip", "netns", "exec", m.netns)
            sh(*ns, "ip", "addr", "add", f"10.{net}.{i}.2/24", "dev", peer)
            sh(*ns, "ip", "link", "set", peer, "up")
            sh(*ns, "ip", "link", "set", "lo", "up")
        # the host's Redis, listening on the host's end of every machine's link
        binds = ["127.0.0.1", *(m.host_ip for m in made)]
        redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                *binds,
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--dir",
                str(root / ".machines"),
            ],
            stdout=open(root / ".machines" / "redis.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        _wait_port("127.0.0.1", port)
        base = {k: v for k, v in os.environ.items() if not k.startswith("YMIR_")}
        base.update(
            {
                "YMIR_WORKPLACE": str(root),
                "YMIR_GPU_IDS": gpu_ids,
                "YMIR_HEARTBEAT_SECONDS": "1",
                "YMIR_VISIBILITY_TIMEOUT": str(visibility_timeout),
                "YMIR_RESTORE_INTERVAL": "1",
                **(extra_env or {}),
            }
        )
        worker = worker_command("w@%h", concurrency=concurrency)
        for m in made:
            env = {
                **base,
                "YMIR_BROKER_URL": f"redis://{m.host_ip}:{port}/0",
                "YMIR_RESULT_BACKEND": f"redis://{m.host_ip}:{port}/1",
                "YMIR_GPU_LOCK_DIR": str(m.lock_dir),
            }
            m.proc = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    m.netns,
                    "unshare",
                    "--uts",
                    "sh",
                    "-c",
                    f'hostname {m.name} && exec "$@"',
                    "sh",
                    *worker,
                ],
                env=env,
                cwd=root,
                stdout=open(m.log, "ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        settings = Settings(
            workplace=root,
            broker_url=f"redis://127.0.0.1:{port}/0",
            result_backend=f"redis://127.0.0.1:{port}/1",
            heartbeat_seconds=1,
            visibility_timeout=visibility_timeout,
            restore_interval=1,
        )
        client = Client(settings)
        # every machine answers: as many pings held at once as there are worker processes
        pings = [client.submit(PingRequest(sleep=1.5)) for _ in range(machines * concurrency)]
        for tid in pings:
            if client.wait(tid, timeout=120).state != "done":
                raise RuntimeError("a worker machine did not start: " + made[0].log.read_text()[-2000:])
        yield Cluster(machines=made, client=client, root=root)
    finally:
        for m in made:
            m.kill_all()
            subprocess.run(["ip", "netns", "del", m.netns], capture_output=True)
            subprocess.run(["ip", "link", "del", m.host_if], capture_output=True)
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=20)

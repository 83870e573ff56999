"""The API under load (issue 6): asset pages of a 1,000,000-image version, login, project list.

What it does:

1. makes a fresh PostgreSQL database (``ymir_bench_<random>`` at 127.0.0.1:5432) and a temporary
   workplace, and commits a synthetic ``--assets``-image version straight into a mir repository
   (``repos/project-1``, ``dataset-1@t1``: random 40-hex asset ids, ~``--boxes`` gt boxes per asset over
   ``--classes`` classes; no image files, browsing does not read them);
2. migrates the database in-process (``create_app``), then adds a user, project 1, dataset group 1 and
   the ``ready`` dataset version 1 that points at that revision, plus ``--extra-projects`` projects so
   the project list returns a full page;
3. measures the CPU per request of the app called in-process (``--inprocess`` sequential asset pages
   and project lists through the ASGI app: no HTTP server, no load generator, the least noisy figure);
4. for each ``--workers`` value starts a real server,
   ``python -m uvicorn ymir_backend.main:app --port P <ymir.sh's flags> --workers N`` (the HTTP parser and
   event loop flags are read from ``ymir.sh``; access log on, as there), times the first (cold) asset
   page, warms every worker, and runs ``wrk`` (``apt-get install wrk``) for ``--duration`` s per scenario,
   recording the CPU seconds the server, PostgreSQL's backends and wrk used per request:

   * ``GET /api/v1/datasets/1/assets?offset=<random>&limit=20`` with ``--connections`` clients;
   * the same with ``class_name=<one class>`` (offset random within that filter's total);
   * ``GET /api/v1/projects`` with ``--connections`` clients;
   * ``POST /api/v1/auth/login`` with ``--login-connections`` clients (argon2id, 64 MiB per hash).

5. prints a Markdown table and writes ``bench/out/api-bench.json``; the server is stopped, the
   database dropped and the workplace removed at the end, also on failure.

Run: ``.venv/bin/python -m bench.api_bench`` (about 5 min; add ``--assets 10000`` for a smoke test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pyarrow as pa

from mir.labels import Labels
from mir.ops import history
from mir.ops.common import annotations_table
from mir.revs import Rev
from mir.store import schema
from mir.store.repo import Repo, Snapshot, Task

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "host=127.0.0.1 user=postgres dbname=postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"
SECRET = "api-bench-secret-key-0123456789abcdef"
EMAIL, PASSWORD = "bench@example.com", "bench-pass-123"
CLASSES = ("person", "car", "dog", "cat", "bicycle", "bus", "truck", "bird", "boat", "chair")

# wrk script: init(args) = mode, token, max offset, class name; done() prints one JSON line.
WRK_LUA = r"""
local counter = 0
local threads = {}
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local mode, token, max_offset, class_name
function init(args)
  mode, token, max_offset, class_name = args[1], args[2], tonumber(args[3]), args[4]
  math.randomseed(os.time() * 100 + tid)
end

function request()
  if mode == "login" then
    return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"},
      '{"email": "EMAIL", "password": "PASSWORD"}')
  end
  local headers = {["Authorization"] = "Bearer " .. token}
  if mode == "projects" then
    return wrk.format("GET", "/api/v1/projects", headers)
  end
  local path = "/api/v1/datasets/1/assets?limit=20&offset=" .. math.random(0, max_offset)
  if class_name ~= "" then
    path = path .. "&class_name=" .. class_name
  end
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "err_connect": %d, "err_read": %d, ' ..
    '"err_write": %d, "err_status": %d, "err_timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency.max, latency.mean, e.connect, e.read,
    e.write, e.status, e.timeout))
end
""".replace("EMAIL", EMAIL).replace("PASSWORD", PASSWORD)


# -- the data -----------------------------------------------------------------------------------------
def build_version(root: Path, n: int, boxes_per_asset: float, n_classes: int, seed: int) -> dict[str, Any]:
    """Commit an ``n``-asset version ``dataset-1@t1`` with ~``boxes_per_asset`` gt boxes per asset."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    history.init(root=root)
    hexed = rng.integers(0, 256, size=n * 20, dtype=np.uint8).tobytes().hex()
    ids = [hexed[i : i + 40] for i in range(0, 40 * n, 40)]
    per_asset = rng.poisson(boxes_per_asset - 1, n).astype(np.int64) + 1  # at least one box each
    n_boxes = int(per_asset.sum())
    owner = np.repeat(np.arange(n), per_asset)
    widths = rng.integers(320, 1921, n).astype(np.int32)
    heights = rng.integers(240, 1081, n).astype(np.int32)
    bw = rng.uniform(0.05, 0.5, n_boxes) * widths[owner]
    bh = rng.uniform(0.05, 0.5, n_boxes) * heights[owner]
    bx = rng.uniform(0, 1, n_boxes) * (widths[owner] - bw)
    by = rng.uniform(0, 1, n_boxes) * (heights[owner] - bh)
    class_ids = rng.integers(0, n_classes, n_boxes).astype(np.int32)
    id_array = pa.array(ids, pa.string())
    assets = pa.Table.from_arrays(
        [
            id_array,
            pa.array(widths),
            pa.array(heights),
            pa.array(np.full(n, 3, np.int8)),
            pa.array(["jpeg"] * n, pa.string()),
            pa.array(rng.integers(20_000, 400_000, n)),
            pa.array(rng.choice(np.array([1, 1, 1, 2, 3], np.int8), n)),
            pa.array([f"img_{i:07d}.jpg" for i in range(n)], pa.string()),
            pa.array(np.full(n, 1_700_000_000, np.int64)),
            pa.nulls(n, schema.TAGS_TYPE),
        ],
        schema=schema.ASSETS,
    )
    gt = annotations_table(
        {
            "asset_id": id_array.take(pa.array(owner)),
            "class_id": pa.array(class_ids),
            "x": pa.array(bx.astype(np.float32)),
            "y": pa.array(by.astype(np.float32)),
            "w": pa.array(bw.astype(np.float32)),
            "h": pa.array(bh.astype(np.float32)),
        }
    )
    t_gen = time.perf_counter() - t0

    def build(labels: Labels) -> Snapshot:
        for name in CLASSES[:n_classes]:
            labels.add(name)
        return Snapshot(assets=assets, gt=gt)

    Repo(root).commit(dst=Rev("dataset-1", "t1"), task=Task(type="import", tid="t1"), build=build)
    per_class = np.bincount(class_ids, minlength=n_classes)
    return {
        "assets": n,
        "gt_boxes": n_boxes,
        "generate_s": round(t_gen, 2),
        "generate_and_commit_s": round(time.perf_counter() - t0, 2),
        "boxes_per_class": {CLASSES[i]: int(c) for i, c in enumerate(per_class)},
    }


def create_database() -> str:
    """A fresh database; returns its name."""
    name = f"ymir_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    """Drop ``name`` (kicking out any session left)."""
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed_database(workplace: Path, url: str, n_assets: int, extra_projects: int) -> None:
    """Migrate (through ``create_app``), then the user, project 1, group 1 and ready version 1."""
    from ymir_backend.config import BackendSettings
    from ymir_backend.main import create_app
    from ymir_backend.models import DatasetGroup, DatasetVersion, Project, User
    from ymir_backend.models.users import UserState
    from ymir_backend.security import hash_password

    settings = BackendSettings(workplace=workplace, database_url=url, secret_key=SECRET, run_monitor=False)
    app = create_app(settings)  # migrations, first admin, built-in image
    db = app.state.db
    with db.sessions() as s:
        user = User(
            email=EMAIL, username="bench", password_hash=hash_password(PASSWORD), state=UserState.ACTIVE
        )
        s.add(user)
        s.flush()
        project = Project(owner_id=user.id, name="bench-1m", training_classes=list(CLASSES))
        s.add(project)
        s.flush()
        assert project.id == 1, project.id  # repos/project-1 holds the version
        group = DatasetGroup(project_id=project.id, name="bench")
        s.add(group)
        s.flush()
        assert group.branch == "dataset-1", group.branch
        s.add(
            DatasetVersion(
                group_id=group.id,
                project_id=project.id,
                version_num=1,
                rev=f"{group.branch}@t1",
                state="ready",
                asset_count=n_assets,
            )
        )
        for i in range(extra_projects):
            s.add(Project(owner_id=user.id, name=f"other-{i}", description="x" * 40))
        s.commit()
    db.engine.dispose()


# -- the server ---------------------------------------------------------------------------------------
def ymir_sh_server_flags() -> list[str]:
    """The uvicorn flags ``ymir.sh start`` adds after ``--port`` (HTTP parser, event loop), so the bench
    runs the server exactly as deployed."""
    text = (ROOT / "ymir.sh").read_text().replace("\\\n", " ")
    m = re.search(r'-m uvicorn ymir_backend\.main:app .*?--port "\$port"([^\n]*)', text)
    if m is None:
        raise RuntimeError("ymir.sh: no uvicorn command line found")
    return shlex.split(m.group(1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``uvicorn ymir_backend.main:app --workers N`` in its own process group."""

    def __init__(self, workplace: Path, url: str, workers: int, log: Path, access_log: bool) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            YMIR_WORKPLACE=str(workplace),
            YMIR_DATABASE_URL=url,
            YMIR_RUN_MONITOR="false",
            YMIR_SECRET_KEY=SECRET,
            YMIR_LOGIN_ATTEMPTS_PER_MINUTE="100000000",
        )
        cmd = [
            sys.executable, "-m", "uvicorn", "ymir_backend.main:app",
            "--host", "127.0.0.1", "--port", str(self.port), *ymir_sh_server_flags(),
            "--workers", str(workers),
        ]  # fmt: skip
        if not access_log:
            cmd.append("--no-access-log")
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            cmd, cwd=workplace, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("uvicorn did not answer /health")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def login(base: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    r = httpx.post(base + "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return str(r.json()["access_token"]), time.perf_counter() - t0


def timed_get(base: str, path: str, token: str, timeout: float = 600) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    r = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    r.raise_for_status()
    return time.perf_counter() - t0, r.json()


def warm_all(base: str, paths: list[str], token: str, workers: int) -> list[float]:
    """Concurrent bursts until no request of a burst is slow (every worker process has its index)."""
    slowest: list[float] = []
    for _ in range(20):
        times: list[float] = []

        def hit(p: str, times: list[float] = times) -> None:
            times.append(timed_get(base, p, token)[0])

        threads = [threading.Thread(target=hit, args=(p,)) for p in paths for _ in range(4 * workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        slowest.append(round(max(times), 3))
        if max(times) < 0.5 and len(slowest) >= 2:
            break
    return slowest


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            pass
    return out


def _pg_backends(dbname: str) -> list[int]:
    """PostgreSQL backend processes serving ``dbname`` (their title names the database)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if dbname.encode() in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


class CpuMeter:
    """CPU seconds used by the server's processes and by PostgreSQL's backends for the bench database
    between :meth:`start` and :meth:`stop`: cost per request, less noisy than latency on shared cores."""

    def __init__(self, server_pid: int, dbname: str) -> None:
        self.server_pid, self.dbname = server_pid, dbname

    def _sample(self) -> dict[str, dict[int, float]]:
        return {
            "server": {p: _cpu_s(p) for p in _tree(self.server_pid)},
            "postgres": {p: _cpu_s(p) for p in _pg_backends(self.dbname)},
        }

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        return {k: round(sum(v - self.before[k].get(p, 0.0) for p, v in after[k].items()), 2) for k in after}


def run_wrk(
    base: str, path: str, args: list[str], connections: int, duration: int, lua: Path, meter: CpuMeter
) -> dict[str, Any]:
    """``wrk`` with the bench script; its done() line parsed, plus the CPU each side used per request."""
    cmd = [
        "wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--timeout", "30s",
        "-s", str(lua), base + path, "--", *args,
    ]  # fmt: skip
    meter.start()
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(min(3, duration / 2))
    split = connections_per_process(int(base.rsplit(":", 1)[1]))
    out, err = proc.communicate()
    cpu = meter.stop()
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu["wrk"] = round(wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime, 2)
    if proc.returncode:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err}")
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    secs = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "duration_s": round(secs, 1),
        "requests": raw["requests"],
        "rps": round(raw["requests"] / secs, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "non_2xx": raw["err_status"],
        "errors": raw["err_connect"] + raw["err_read"] + raw["err_write"] + raw["err_timeout"],
        "kb_per_request": round(raw["bytes"] / max(raw["requests"], 1) / 1024, 2),
        "connections_per_worker": split,
        "cpu_s": cpu,
        "cpu_ms_per_request": {k: round(1000 * v / max(raw["requests"], 1), 3) for k, v in cpu.items()},
    }


def connections_per_process(port: int) -> list[int]:
    """How the load generator's keep-alive connections are spread over the server's processes."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True
    ).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        for pid in re.findall(r"pid=(\d+)", line)[:1]:
            counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def _rss_mb(pid: int) -> float:
    """Summed RSS of ``pid`` and its children (MB)."""
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def bench_server(
    workplace: Path, url: str, workers: int, args: argparse.Namespace, lua: Path, class_name: str
) -> dict[str, Any]:
    dbname = url.rsplit("/", 1)[1]
    server = Server(workplace, url, workers, args.out / f"api-bench-uvicorn-w{workers}.log", args.access_log)
    try:
        t0 = time.perf_counter()
        server.wait_ready()
        res: dict[str, Any] = {"workers": workers, "startup_s": round(time.perf_counter() - t0, 2)}
        token, first_login = login(server.base)
        res["first_login_s"] = round(first_login, 3)
        page = "/api/v1/datasets/1/assets?offset=0&limit=20"
        res["cold_page_s"], body = timed_get(server.base, page, token)
        res["cold_page_s"] = round(res["cold_page_s"], 3)
        total = int(body["total"])
        assert total == args.assets and len(body["items"]) == 20, (total, len(body["items"]))
        res["warm_page_s"] = round(timed_get(server.base, page.replace("=0&", "=500&"), token)[0], 4)
        cls_page = f"{page}&class_name={class_name}"
        res["cold_class_filter_s"], cbody = timed_get(server.base, cls_page, token)
        res["cold_class_filter_s"] = round(res["cold_class_filter_s"], 3)
        cls_total = int(cbody["total"])
        res["warmup_bursts_max_s"] = warm_all(server.base, [page, cls_page], token, workers)
        res["rss_after_warmup_mb"] = _rss_mb(server.proc.pid)
        d, c = args.duration, args.connections
        m = CpuMeter(server.proc.pid, dbname)
        res["assets"] = run_wrk(server.base, page, ["assets", token, str(total - 20), ""], c, d, lua, m)
        res["assets_class"] = run_wrk(
            server.base, cls_page, ["assets", token, str(cls_total - 20), class_name], c, d, lua, m
        )
        res["assets_class"]["total"] = cls_total
        res["projects"] = run_wrk(server.base, "/api/v1/projects", ["projects", token, "0", ""], c, d, lua, m)
        res["login"] = run_wrk(
            server.base, "/api/v1/auth/login", ["login", token, "0", ""], args.login_connections, d, lua, m
        )
        res["rss_end_mb"] = _rss_mb(server.proc.pid)
        return res
    finally:
        server.stop()


# -- in process ---------------------------------------------------------------------------------------
async def _asgi(
    app: Any, method: str, path: str, query: str = "", headers: Any = (), body: bytes = b""
) -> bytes:
    """One request straight through the ASGI app (no HTTP server); the body, asserting a 200."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [(k.encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    events = [{"type": "http.request", "body": body, "more_body": False}]
    out: list[Any] = []

    async def receive() -> dict[str, Any]:
        if events:
            return events.pop()
        await asyncio.Event().wait()  # a disconnect never comes
        return {}

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    await app(scope, receive, send)
    assert out[0]["status"] == 200, (path, out)
    return b"".join(m.get("body", b"") for m in out[1:])


def inprocess_cpu(workplace: Path, url: str, n: int, max_offset: int) -> dict[str, Any]:
    """CPU per request of the app itself, ``n`` sequential requests called in this process: no HTTP
    parsing, no access log, no load generator, no other clients; much less noisy than wrk on shared
    cores. ``ms_per_request``: this process (all its threads); ``postgres_ms_per_request``: the
    database backends it used."""
    from ymir_backend.config import BackendSettings
    from ymir_backend.main import create_app

    settings = BackendSettings(
        workplace=workplace, database_url=url, secret_key=SECRET, run_monitor=False,
        login_attempts_per_minute=100_000_000,
    )  # fmt: skip
    app = create_app(settings)
    rng = np.random.default_rng(1)

    async def run() -> dict[str, Any]:
        login = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
        body = await _asgi(
            app, "POST", "/api/v1/auth/login", headers=[("content-type", "application/json")], body=login
        )
        auth = [("authorization", f"Bearer {json.loads(body)['access_token']}")]
        pages = "/api/v1/datasets/1/assets"
        requests = {
            "assets": lambda: _asgi(app, "GET", pages, f"limit=20&offset={rng.integers(max_offset)}", auth),
            "projects": lambda: _asgi(app, "GET", "/api/v1/projects", headers=auth),
        }
        res: dict[str, Any] = {"requests": n}
        meter = CpuMeter(os.getpid(), url.rsplit("/", 1)[1])
        for name, request in requests.items():
            for _ in range(max(50, n // 20)):  # the version's index, pools, statement caches
                await request()
            meter.start()
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                await request()
            c1, t1 = time.process_time(), time.perf_counter()
            pg = meter.stop()["postgres"]
            res[name] = {
                "ms_per_request": round(1000 * (c1 - c0) / n, 3),
                "wall_ms_per_request": round(1000 * (t1 - t0) / n, 3),
                "postgres_ms_per_request": round(1000 * pg / n, 3),
            }
        return res

    try:
        return asyncio.run(run())
    finally:
        app.state.db.engine.dispose()


# -- report -------------------------------------------------------------------------------------------
SCENARIOS = (
    ("assets", "asset page, limit 20, random offset"),
    ("assets_class", "asset page, class_name filter"),
    ("projects", "project list"),
    ("login", "login (argon2id)"),
)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| workers | request | clients (per worker) | req/s | p50 ms | p95 ms | p99 ms | max ms | "
        "non-2xx / errors | CPU ms/request: server / PostgreSQL / wrk |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for key, label in SCENARIOS:
            s = r[key]
            cpu = s["cpu_ms_per_request"]
            lines.append(
                f"| {r['workers']} | {label} | {s['connections']} "
                f"({'+'.join(map(str, s['connections_per_worker']))}) | {s['rps']:.1f} | {s['p50_ms']:.1f} | "
                f"{s['p95_ms']:.1f} | {s['p99_ms']:.1f} | {s['max_ms']:.1f} | "
                f"{s['non_2xx']} / {s['errors']} | "
                f"{cpu['server']:.2f} / {cpu['postgres']:.2f} / {cpu['wrk']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--assets", type=int, default=1_000_000)
    p.add_argument("--boxes", type=float, default=3.0, help="mean gt boxes per asset")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--workers", default="1,2", help="uvicorn --workers values, comma-separated")
    p.add_argument("--duration", type=int, default=25, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--login-connections", type=int, default=16)
    p.add_argument("--extra-projects", type=int, default=30)
    p.add_argument("--no-access-log", dest="access_log", action="store_false")
    p.add_argument(
        "--inprocess", type=int, default=2000, help="requests per in-process CPU measurement (0: skip)"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the workplace and database")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    args.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    workplace = Path(tempfile.mkdtemp(prefix="ymir-api-bench-"))
    lua = workplace / "bench.lua"
    lua.write_text(WRK_LUA)
    dbname = ""
    try:
        dbname = create_database()
        url = PG_URL + dbname
        print(f"database {dbname}, workplace {workplace}", flush=True)
        data = build_version(
            workplace / "repos" / "project-1", args.assets, args.boxes, args.classes, args.seed
        )
        print(f"version built: {data}", flush=True)
        seed_database(workplace, url, args.assets, args.extra_projects)
        inprocess = inprocess_cpu(workplace, url, args.inprocess, args.assets - 20) if args.inprocess else {}
        if inprocess:
            print(f"in process: {inprocess}", flush=True)
        class_name = CLASSES[0]
        results = []
        for w in (int(x) for x in args.workers.split(",")):
            print(f"-- uvicorn --workers {w}", flush=True)
            r = bench_server(workplace, url, w, args, lua, class_name)
            print(json.dumps(r, indent=1), flush=True)
            results.append(r)
        report = {
            "started": started.isoformat(timespec="seconds"),
            "git": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_avg_end": os.getloadavg(),
            },
            "args": {k: str(v) for k, v in vars(args).items()},
            "data": data,
            "server_flags": ymir_sh_server_flags(),
            "inprocess_cpu": inprocess,
            "class_filter": class_name,
            "results": results,
        }
        (args.out / "api-bench.json").write_text(json.dumps(report, indent=1))
        print()
        print(table(results))
        print(f"\nwritten {args.out / 'api-bench.json'}")
    finally:
        if not args.keep:
            if dbname:
                drop_database(dbname)
            shutil.rmtree(workplace, ignore_errors=True)
        else:
            print(f"kept database {dbname} and workplace {workplace}")


if __name__ == "__main__":
    main()

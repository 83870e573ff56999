"""Importing N images through the API (zip upload, and a folder under the sharing folder) against
``mir import`` of the same images, on the same machine in one run.

One run generates (or reuses) ``N`` seeded JPEGs with one VOC file each (``bench/pool_bench.py``'s
generator), zips them, starts the API (``uvicorn ymir_backend.main:app``, SQLite) and one prefork worker
(embedded broker by default, ``--broker redis`` for Redis), then times:

* ``mir``: ``mir import`` of the folder's index into a fresh repository (the floor: no HTTP, no zip);
* ``upload``: ``POST /projects/{id}/datasets/upload`` of the zip, from the first byte sent until the
  task reads ``done`` (upload + unpacking the annotations + the import reading the images straight from
  the zip + the API storing the result);
* ``path``: ``POST /projects/{id}/datasets/path`` of the same folder copied under the sharing folder,
  until ``done`` (into another project; the workplace's ``media/`` is emptied before each import, since
  images already stored are not written again).

Usage::

    .venv/bin/python bench/import_bench.py --n 100000
    .venv/bin/python bench/import_bench.py --n 20000 --broker redis

Prints a table and writes ``bench/out/import-bench-<N>.json``; the figures are in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.pool_bench import generate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
EMAIL, PASSWORD = "bench@example.com", "bench-pass-123"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        return subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_done(c: httpx.Client, task_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = c.get(f"/api/v1/tasks/{task_id}").json()
        if body["state"] in ("done", "failed", "cancelled") and body.get("result") is not None:
            if body["state"] != "done":
                raise SystemExit(f"task {task_id} ended {body['state']}: {body.get('error')}")
            return dict(body)
        time.sleep(0.2)
    raise SystemExit(f"task {task_id} not done after {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--size", default="64x48")
    ap.add_argument("--broker", choices=("embedded", "redis"), default="embedded")
    ap.add_argument("--timeout", type=float, default=7200)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    data = generate(args.out / f"pool-data-{args.n}-{w}x{h}", args.n, w, h)
    run = args.out / f"import-run-{args.n}"
    shutil.rmtree(run, ignore_errors=True)
    workplace = run / "workplace"
    (workplace / "sharing").mkdir(parents=True)
    zip_path = args.out / f"pool-data-{args.n}-{w}x{h}.zip"  # made once per data set, like the data
    if not zip_path.is_file():
        t0 = time.perf_counter()
        partial = zip_path.with_suffix(".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as zf:
            for p in sorted((data / "images").rglob("*.jpg")):
                zf.write(p, f"images/{p.name}")
            for p in sorted((data / "annotations").glob("*.xml")):
                zf.write(p, f"annotations/{p.name}")
        partial.replace(zip_path)
        print(f"zip: {zip_path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s", flush=True)
    shared = workplace / "sharing" / "data"  # links: the same files, no copying
    shutil.copytree(data / "images", shared / "images", copy_function=os.link)
    shutil.copytree(data / "annotations", shared / "annotations", copy_function=os.link)

    results: dict[str, Any] = {}
    mir = Path(sys.executable).with_name("mir")
    subprocess.run([str(mir), "init", "-r", str(run / "mir-repo")], check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(mir), "import", "-r", str(run / "mir-repo"), "--index-file", str(data / "index.txt"),
            "--gt-dir", str(data / "annotations"), "--gen-dir", str(run / "mir-media"),
            "--anno-type", "det:voc",
            "--unknown-types-strategy", "add", "--dst-rev", "a@imp",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    results["mir"] = round(time.perf_counter() - t0, 1)
    shutil.rmtree(run / "mir-media", ignore_errors=True)
    print(f"mir import: {results['mir']} s", flush=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith("YMIR_")}
    env.update(
        YMIR_WORKPLACE=str(workplace),
        YMIR_ADMIN_EMAIL=EMAIL,
        YMIR_ADMIN_PASSWORD=PASSWORD,
        YMIR_LOGIN_ATTEMPTS_PER_MINUTE="100000",
        YMIR_MAX_UNZIPPED_BYTES=str(1 << 40),
        YMIR_MONITOR_INTERVAL="0.5",
    )
    if args.broker == "redis":
        prefix = f"ymir-bench-{time.time_ns()}:"
        env.update(
            YMIR_BROKER_URL="redis://127.0.0.1:6379/13",
            YMIR_RESULT_BACKEND="redis://127.0.0.1:6379/14",
            YMIR_REDIS_KEY_PREFIX=prefix,
        )
    port = _port()
    api = _start(
        [sys.executable, "-m", "uvicorn", "ymir_backend.main:app",
         "--host", "127.0.0.1", "--port", str(port)],
        env, workplace, run / "api.log",
    )  # fmt: skip
    worker = _start(
        [sys.executable, "-m", "celery", "-A", "ymir_controller.worker", "worker", "-Q", "cpu,gpu", "-c", "2",
         "--pool", "prefork", "--loglevel", "INFO", "-n", f"bench-{time.time_ns()}@%h"],
        env, workplace, run / "worker.log",
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the API did not start; see {run / 'api.log'}")
            time.sleep(0.3)
        token = httpx.post(base + "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=args.timeout) as c:
            for name in ("cat", "dog"):  # a project's classes are labels first
                c.post("/api/v1/labels", json={"name": name})
            pids = [
                c.post(
                    "/api/v1/projects", json={"name": f"bench-{k}", "training_classes": ["cat", "dog"]}
                ).json()["id"]
                for k in ("upload", "path")
            ]
            # warm the worker (first task imports the libraries)
            for kind, pid in zip(("upload", "path"), pids, strict=True):
                shutil.rmtree(workplace / "media", ignore_errors=True)  # every import writes every image
                t0 = time.perf_counter()
                if kind == "upload":
                    with open(zip_path, "rb") as f:
                        r = c.post(
                            f"/api/v1/projects/{pid}/datasets/upload",
                            data={"group_name": "bench"},
                            files={"file": ("data.zip", f, "application/zip")},
                        )
                else:
                    r = c.post(
                        f"/api/v1/projects/{pid}/datasets/path", json={"path": "data", "group_name": "bench"}
                    )
                r.raise_for_status()
                sent = time.perf_counter() - t0
                _wait_done(c, r.json()["id"], args.timeout)
                results[kind] = round(time.perf_counter() - t0, 1)
                results[f"{kind}_request_s"] = round(sent, 1)
                print(f"{kind}: {results[kind]} s (request answered after {sent:.1f} s)", flush=True)
    finally:
        _stop(api)
        _stop(worker)
    meta = {
        "n": args.n,
        "size": f"{w}x{h}",
        "broker": args.broker,
        "cpus": os.cpu_count(),
        "load": os.getloadavg(),
    }
    print("\n| way | seconds | images/s | vs mir import |\n|---|---|---|---|")
    for way in ("mir", "upload", "path"):
        s = results[way]
        print(f"| {way} | {s} | {args.n / s:.0f} | {s / results['mir']:.2f}x |")
    print(f"\n{meta}")
    (args.out / f"import-bench-{args.n}.json").write_text(json.dumps({**meta, "seconds": results}))
    shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()

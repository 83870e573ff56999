"""Overhead of the task engine (issue 5): empty-task round trip, throughput, and progress latency.

For each broker (``redis``: Redis at 127.0.0.1:6379, DB 13 for messages and 14 for results, both
flushed first; ``embedded``: the filesystem broker and file results inside the workplace) it starts a
real worker (``celery -A ymir_controller.worker worker -Q cpu,gpu -c N --pool prefork``, as ymir.sh
does) on a fresh temporary workplace, and measures through :class:`ymir_controller.client.Client`:

1. round trip: one ``PingRequest()`` at a time, from ``submit`` to ``wait`` returning (p50/p95/max);
2. throughput: ``--n-throughput`` pings submitted at once, tasks/s until every result is in, for each
   worker concurrency of ``--concurrency``;
3. progress latency: a training whose (fake, local) executor writes a ``monitor.txt`` line every 0.5 s
   for ~10 s, each at a recorded wall time, while the client polls ``Client.status(task_id).progress``;
   the delay from each write to the client first seeing that percent.

Run: ``.venv/bin/python -m bench.controller_bench`` (about 2 min); prints a Markdown table and writes
``bench/out/controller-bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.synthetic import generate_voc, import_voc
from mir.ops import history
from mir.ops.merge import merge
from ymir_controller.app import worker_command
from ymir_controller.client import Client
from ymir_controller.protocol import PingRequest, TrainRequest
from ymir_controller.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
REDIS_DBS = (13, 14)  # broker, results
REPO = "repos/bench"
TRAIN_PHASE = (0.05, 0.85)  # mir.ops.training maps the executor's 0..1 onto this share of the task

# The fake executor: honours the contract like tests/command/executors/fake_executor.py (FAKE_MODE=ok),
# and while training writes STEPS monitor lines INTERVAL s apart, logging "percent<TAB>unix time" of
# each write to LOG.
FAKE_EXECUTOR = """\
import json, os, sys, time
from pathlib import Path

import yaml

IN = Path(os.environ["YMIR_EXECUTOR_IN"])
OUT = Path(os.environ["YMIR_EXECUTOR_OUT"])
CONFIG = yaml.safe_load((IN / "config.yaml").read_text())
LOG = Path(CONFIG.get("bench_log", os.devnull))  # the evaluation run after training gets no task config
STEPS, INTERVAL = int(CONFIG.get("bench_steps", 1)), float(CONFIG.get("bench_interval", 0))


def monitor(percent, state):
    t = time.time()
    (OUT / "monitor.txt").write_text(f"bench\\t{t:.6f}\\t{percent:.4f}\\t{state}\\n")
    return t


def local(path):
    for root, real in (("/in", IN), ("/out", OUT)):
        if path.startswith(root + "/"):
            return real / Path(path).relative_to(root)
    return Path(path)


env = yaml.safe_load((IN / "env.yaml").read_text())
if env["run_training"]:
    start = time.time()
    with LOG.open("a") as log:
        for i in range(STEPS):
            time.sleep(max(0.0, start + INTERVAL * (i + 1) - time.time()))
            p = round((i + 1) / (STEPS + 1), 4)
            t = monitor(p, 2)
            log.write(f"{p:.4f}\\t{t:.6f}\\n")
            log.flush()
    time.sleep(INTERVAL)  # the last timed line stays up as long as the others
    stage = OUT / "models" / "epoch_1"
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "weights.bin").write_bytes(bytes(16))
    result = {"best_stage_name": "epoch_1",
              "model_stages": {"epoch_1": {"files": ["weights.bin"], "mAP": 0.5, "timestamp": 1}}}
    (OUT / "models" / "result.yaml").write_text(yaml.safe_dump(result))
candidates = []
if env["run_mining"] or env["run_infer"]:
    candidates = [c for c in local(env["input"]["candidate_index_file"]).read_text().splitlines() if c]
if env["run_mining"]:
    lines = [f"{c}\\t{i / len(candidates):.4f}" for i, c in enumerate(candidates)]
    (OUT / "result.tsv").write_text("\\n".join(lines) + "\\n")
if env["run_infer"]:
    name = yaml.safe_load((IN / "config.yaml").read_text())["class_names"][0]
    box = {"box": {"x": 1, "y": 1, "w": 5, "h": 5}, "class_name": name, "score": 0.9}
    det = {Path(c).name: {"boxes": [box]} for c in candidates}
    (OUT / "infer-result.json").write_text(json.dumps({"detection": det}))
monitor(1.0, 3)
"""


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/max/mean of durations, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50": round(pct(ms, 0.5), 2),
        "p95": round(pct(ms, 0.95), 2),
        "max": round(max(ms), 2) if ms else float("nan"),
        "mean": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


class Worker:
    """One worker subprocess (its own process group) on a workplace, with a client for it."""

    def __init__(self, broker: str, root: Path, concurrency: int) -> None:
        self.broker = broker
        self.root = root
        self.concurrency = concurrency
        env = {k: v for k, v in os.environ.items() if not k.startswith("YMIR_")}
        env.update(
            {
                "YMIR_WORKPLACE": str(root),
                "YMIR_GPU_LOCK_DIR": str(root / "gpu-locks"),
                "YMIR_WORKER_CONCURRENCY": str(concurrency),
                "MIR_WORKERS": "1",
                # the fake executor, registered as workers register any local executor
                "YMIR_LOCAL_EXECUTORS": json.dumps(
                    {"bench-fake": f"{sys.executable} {root / 'bench-fake' / 'fake_executor.py'}"}
                ),
            }
        )
        if broker == "redis":
            env["YMIR_BROKER_URL"] = f"redis://127.0.0.1:6379/{REDIS_DBS[0]}"
            env["YMIR_RESULT_BACKEND"] = f"redis://127.0.0.1:6379/{REDIS_DBS[1]}"
        self.env = env
        self.settings = Settings(
            **{k.removeprefix("YMIR_").lower(): v for k, v in env.items() if k.startswith("YMIR_")}
            | {"local_executors": json.loads(env["YMIR_LOCAL_EXECUTORS"])}
        )
        self.client = Client(self.settings)
        self.log = root / f"worker-{broker}-c{concurrency}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start the worker; returns the seconds until it answered a first ping."""
        if self.broker == "redis":
            import redis

            for db in REDIS_DBS:
                redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()
        t0 = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                worker_command(f"bench-{self.broker}-{time.time_ns()}@%h", concurrency=self.concurrency),
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.client.wait(self.client.submit(PingRequest()), timeout=120, poll=0.05)
        except Exception as e:
            self.stop()
            raise RuntimeError(f"the worker did not start: {self.log.read_text()[-3000:]}") from e
        return time.monotonic() - t0

    def stop(self) -> None:
        """SIGTERM the worker's process group (warm shutdown), SIGKILL it after 20 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        try:  # pool children left behind by a crashed main process
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    """A started worker, stopped whatever happens."""
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()


def round_trip(client: Client, n: int, warmup: int, poll: float) -> dict[str, Any]:
    """Submit one ping at a time and wait for its result."""
    for _ in range(warmup):
        client.wait(client.submit(PingRequest()), timeout=60, poll=poll)
    times: list[float] = []
    stored: list[float] = []  # submit -> the worker stored the result (its date_done)
    for _ in range(n):
        wall0 = time.time()
        t0 = time.perf_counter()
        tid = client.submit(PingRequest())
        result = client.wait(tid, timeout=60, poll=poll)
        times.append(time.perf_counter() - t0)
        if result.state != "done":
            raise RuntimeError(f"ping ended {result.state}: {result.error}")
        done = date_done(client, tid)
        if done is not None:
            stored.append(done - wall0)
    return {
        "poll_s": poll,
        "warmup": warmup,
        "round_trip_ms": summary_ms(times),
        "submit_to_date_done_ms": summary_ms(stored),
    }


def date_done(client: Client, task_id: str) -> float | None:
    """When the worker stored the task's result (unix time), from the result backend."""
    stamp = client.app.backend.get_task_meta(task_id).get("date_done")
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    if isinstance(stamp, str):
        return datetime.fromisoformat(stamp).timestamp()
    return None


def throughput(client: Client, n: int, poll: float) -> dict[str, Any]:
    """Submit ``n`` pings at once; wait for them in submission order (roughly the order they finish)."""
    t0 = time.perf_counter()
    wall0 = time.time()
    ids = [client.submit(PingRequest()) for _ in range(n)]
    submitted = time.perf_counter() - t0
    for tid in ids:
        result = client.wait(tid, timeout=600, poll=poll)
        if result.state != "done":
            raise RuntimeError(f"ping ended {result.state}: {result.error}")
    total = time.perf_counter() - t0
    done = [d for d in (date_done(client, tid) for tid in ids) if d is not None]
    worker_span = (max(done) - wall0) if done else float("nan")
    return {
        "n": n,
        "submit_s": round(submitted, 3),
        "submit_per_s": round(n / submitted, 1),
        "all_results_s": round(total, 3),
        "tasks_per_s": round(n / total, 1),
        "last_done_after_s": round(worker_span, 3),  # worker side: last date_done minus first submit
        "worker_tasks_per_s": round(n / worker_span, 1) if done else float("nan"),
    }


def make_repo(root: Path) -> float:
    """A mir repository with a train/val version ``tv@merged`` (8 train + 4 val images of 64 px)."""
    t0 = time.monotonic()
    sharing = root / "sharing"
    repo = root / REPO
    history.init(root=repo)
    for name, n, seed in (("train", 8, 1), ("val", 4, 2)):
        data = generate_voc(sharing / name, n_images=n, seed=seed, image_size=(64, 64), name_prefix=name)
        import_voc(repo, data, dst=f"{name}@import", media=root / "media")
    merge(root=repo, src_revs="tr:train@import;va:val@import", dst="tv@merged")
    return time.monotonic() - t0


def progress_latency(
    client: Client, root: Path, steps: int, interval: float, poll: float, run: int
) -> dict[str, Any]:
    """A training with a fake executor writing timed monitor lines; the client follows its progress."""
    script = root / "bench-fake" / "fake_executor.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(FAKE_EXECUTOR)
    log = root / "bench-fake" / f"writes-{run}.tsv"
    log.unlink(missing_ok=True)
    config = {"bench_log": str(log), "bench_steps": steps, "bench_interval": interval}
    tid = client.submit(
        TrainRequest(
            repo=REPO,
            dst_rev=f"model@bench{run}",
            src_revs="tv@merged",
            executor="local:bench-fake",
            config=config,
        )
    )
    seen: dict[float, float] = {}
    states: list[str] = []
    regressions = 0
    errors: list[str] = []
    polls = 0
    t_start = time.time()
    while True:
        polls += 1
        try:
            st = client.status(tid)
        except Exception as e:  # noqa: BLE001 - a torn read of the result backend is a finding, not a crash
            errors.append(repr(e))
            time.sleep(poll)
            continue
        now = time.time()
        if st.progress is not None and st.progress.percent not in seen:
            seen[st.progress.percent] = now
        if states and states[-1] == "running" and st.state == "queued":
            regressions += 1
        if not states or states[-1] != st.state:
            states.append(st.state)
        if st.result is not None:
            break
        if now - t_start > 300:
            raise TimeoutError("the training did not finish in 300 s")
        time.sleep(poll)
    t_end = time.time()
    if st.result.state != "done":
        raise RuntimeError(f"training ended {st.result.state}: {st.result.error}")
    writes = [(float(p), float(t)) for p, t in (ln.split("\t") for ln in log.read_text().splitlines() if ln)]
    lo, hi = TRAIN_PHASE
    delays: list[float] = []
    missed: list[float] = []
    for p, t in writes:
        expected = round(lo + (hi - lo) * p, 4)
        hit = [s for pv, s in seen.items() if abs(pv - expected) < 5e-4]
        if hit:
            delays.append(hit[0] - t)
        else:
            missed.append(p)
    return {
        "writes": len(writes),
        "interval_s": interval,
        "client_poll_s": poll,
        "status_calls_per_s": round(polls / (t_end - t_start), 1),
        "delay_ms": summary_ms(delays),
        "delays_ms": [round(d * 1000, 1) for d in delays],
        "missed_percents": missed,
        "status_errors": len(errors),
        "status_error_examples": errors[:3],
        "running_to_queued_flips": regressions,
        "states": states,
        "task_s": round(st.result.seconds, 2),
    }


def bench_broker(broker: str, args: argparse.Namespace, keep: bool) -> dict[str, Any]:
    """Every measurement for one broker, on its own temporary workplace."""
    root = Path(tempfile.mkdtemp(prefix=f"ymir-ctl-bench-{broker}-"))
    out: dict[str, Any] = {"workplace": str(root)}
    try:
        out["make_repo_s"] = round(make_repo(root), 2)
        first, *others = args.concurrency
        worker = Worker(broker, root, first)
        with running(worker):
            out["concurrency_latency"] = first
            print(f"[{broker}] round trip, {args.n_latency} pings, -c {first}", flush=True)
            out["latency"] = round_trip(worker.client, args.n_latency, args.warmup, args.poll)
            print(f"[{broker}] progress latency, -c {first}", flush=True)
            out["progress"] = [
                progress_latency(worker.client, root, args.steps, args.interval, args.progress_poll, i)
                for i in range(args.progress_runs)
            ]
            print(f"[{broker}] throughput, {args.n_throughput} pings, -c {first}", flush=True)
            out["throughput"] = {str(first): throughput(worker.client, args.n_throughput, args.poll)}
        for c in others:
            worker = Worker(broker, root, c)
            with running(worker):
                print(f"[{broker}] throughput, {args.n_throughput} pings, -c {c}", flush=True)
                out["throughput"][str(c)] = throughput(worker.client, args.n_throughput, args.poll)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return out


def table(results: dict[str, dict[str, Any]], concurrency: list[int]) -> str:
    """The Markdown table: one row per figure, one column per broker."""
    brokers = list(results)

    def cell(broker: str, get: Any) -> str:
        try:
            return str(get(results[broker]))
        except (KeyError, IndexError, TypeError):
            return "-"

    def progress_all(r: dict[str, Any]) -> list[float]:
        return [d for run in r["progress"] for d in run["delays_ms"]]

    def sum_writes(r: dict[str, Any]) -> int:
        return sum(int(x["writes"]) for x in r["progress"])

    rows: list[tuple[str, Any]] = [
        ("empty-task round trip p50 (ms)", lambda r: r["latency"]["round_trip_ms"]["p50"]),
        ("empty-task round trip p95 (ms)", lambda r: r["latency"]["round_trip_ms"]["p95"]),
        ("empty-task round trip max (ms)", lambda r: r["latency"]["round_trip_ms"]["max"]),
        (
            "submit -> worker stored the result, p50 (ms)",
            lambda r: r["latency"]["submit_to_date_done_ms"]["p50"],
        ),
    ]
    for c in concurrency:
        rows.append(
            (
                f"throughput, -c {c} (tasks/s, client sees all)",
                lambda r, c=c: r["throughput"][str(c)]["tasks_per_s"],
            )
        )
        rows.append(
            (
                f"throughput, -c {c} (tasks/s, worker's last date_done)",
                lambda r, c=c: r["throughput"][str(c)]["worker_tasks_per_s"],
            )
        )
    rows.append(("submit rate (tasks/s)", lambda r: r["throughput"][str(concurrency[0])]["submit_per_s"]))
    rows += [
        ("progress line -> client p50 (ms)", lambda r: round(pct(progress_all(r), 0.5), 1)),
        ("progress line -> client p95 (ms)", lambda r: round(pct(progress_all(r), 0.95), 1)),
        ("progress line -> client max (ms)", lambda r: round(max(progress_all(r)), 1)),
        (
            "progress lines seen / written",
            lambda r: f"{sum(len(x['delays_ms']) for x in r['progress'])}/{sum_writes(r)}",
        ),
        ("status reads that failed", lambda r: sum(int(x["status_errors"]) for x in r["progress"])),
        (
            "running -> queued flips seen by the client",
            lambda r: sum(int(x["running_to_queued_flips"]) for x in r["progress"]),
        ),
    ]
    lines = ["| figure | " + " | ".join(brokers) + " |", "|---|" + "---|" * len(brokers)]
    for label, get in rows:
        lines.append(f"| {label} | " + " | ".join(cell(b, get) for b in brokers) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--brokers", default="redis,embedded", help="comma-separated: redis, embedded")
    parser.add_argument("--n-latency", type=int, default=200, help="pings timed one at a time")
    parser.add_argument("--warmup", type=int, default=20, help="untimed pings first")
    parser.add_argument("--n-throughput", type=int, default=500, help="pings submitted at once")
    parser.add_argument("--concurrency", default="2,4", help="worker -c values for throughput (first: all)")
    parser.add_argument("--poll", type=float, default=0.005, help="Client.wait poll interval (s)")
    parser.add_argument("--progress-poll", type=float, default=0.01, help="status poll interval (s)")
    parser.add_argument("--steps", type=int, default=20, help="monitor lines the fake executor writes")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between monitor lines")
    parser.add_argument("--progress-runs", type=int, default=1, help="trainings followed per broker")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "controller-bench.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workplaces")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    for b in brokers:
        if b not in ("redis", "embedded"):
            parser.error(f"unknown broker {b!r}")

    started = time.time()
    results: dict[str, dict[str, Any]] = {}
    for broker in brokers:
        results[broker] = bench_broker(broker, args, args.keep)
    report = {
        "started": datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(table(results, args.concurrency))
    print(f"\nload average after: {os.getloadavg()}; written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

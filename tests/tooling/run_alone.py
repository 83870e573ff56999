"""Run every test of some folders alone, one fresh process per test, and list those that fail alone.

A test that passes in its file but fails alone leans on state another test made. This script checks
the house rule "every test passes alone" (CONTRIBUTING.md); it is no test itself (pytest does not
collect it) because it runs the suite's tests hundreds of times::

    .venv/bin/python tests/tooling/run_alone.py tests/controller tests/backend tests/command --jobs 2

Each node id that ``pytest --collect-only -q`` lists runs by itself. By default the script imports
the heavy libraries once (torch, pyarrow, our packages, FastAPI, Celery: ``--preload``; and
pytest's plugins) and forks a
child per test that runs ``pytest.main([node id])``: the child has imported no test module, made no
fixture and seen no other test, as alone as ``pytest <node id>``, without paying the imports (about
20 s a test on a busy two-core machine). ``--no-fork`` runs ``python -m pytest <node id>`` instead.
``--one-param`` runs only the first parametrisation of each test function; ``--skip
SUBSTRING=REASON`` leaves out the node ids containing SUBSTRING and prints the reason. The summary
names every failure with the tail of its output, and ``--report FILE`` writes every outcome as JSON.
Exit status 1 when any test failed alone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRELOAD = ",".join(
    ("torch", "pyarrow", "numpy", "PIL", "pytest", "httpx", "fastapi", "sqlalchemy", "celery")
    + ("mir", "ymir_controller.handlers", "ymir_backend.main")
)


@dataclass
class Outcome:
    node: str
    status: str  # passed, failed, skipped (pytest skipped it), left out (--skip), timeout
    seconds: float
    tail: str = ""
    reason: str = ""


def collect(paths: list[str], extra: list[str]) -> list[str]:
    """The node ids pytest would run for ``paths``."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra, *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    nodes = [line for line in proc.stdout.splitlines() if "::" in line and not line.startswith(" ")]
    if proc.returncode not in (0, 5) or not nodes:
        raise SystemExit(f"collecting {' '.join(paths)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return nodes


def first_params(nodes: list[str]) -> list[str]:
    """One node id per test function: the first of its parametrisations."""
    seen: set[str] = set()
    kept = []
    for node in nodes:
        function = re.sub(r"\[.*\]$", "", node)
        if function not in seen:
            seen.add(function)
            kept.append(node)
    return kept


def _outcome(node: str, code: int, output: str, seconds: float) -> Outcome:
    lines = output.strip().splitlines()
    last = lines[-1] if lines else ""
    if code == 0:
        status = "skipped" if " skipped" in last and " passed" not in last else "passed"
        return Outcome(node, status, seconds, reason=last if status == "skipped" else "")
    return Outcome(node, "failed", seconds, output[-3000:])


def run_one(node: str, timeout: float) -> Outcome:
    """``python -m pytest <node>`` in a new interpreter."""
    started = time.monotonic()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return Outcome(node, "timeout", time.monotonic() - started, out[-2000:])
    return _outcome(node, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


def run_forked(nodes: list[str], jobs: int, timeout: float, done: Callable[[Outcome], None]) -> None:
    """Each node in a child forked from this process (libraries imported, no test module), ``jobs``
    at a time; a child past ``timeout`` is killed with its process group."""
    logs = Path(tempfile.mkdtemp(prefix="run-alone-"))
    running: dict[int, tuple[str, float, Path]] = {}
    todo = list(nodes)
    while todo or running:
        while todo and len(running) < jobs:
            node = todo.pop(0)
            log = logs / f"{len(todo)}.log"
            pid = os.fork()
            if pid == 0:  # the child: its own process group, output to the log, pytest on one node
                os.setpgid(0, 0)
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.chdir(ROOT)
                import pytest

                code = 1
                try:
                    code = int(pytest.main(["-q", "-p", "no:cacheprovider", node]))
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            running[pid] = (node, time.monotonic(), log)
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            for child, (_node, started, _log) in list(running.items()):
                if time.monotonic() - started > timeout:
                    os.killpg(child, signal.SIGKILL)
            time.sleep(0.2)
            continue
        node, started, log = running.pop(pid)
        output = log.read_text(errors="replace")
        seconds = time.monotonic() - started
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and seconds > timeout:
            done(Outcome(node, "timeout", seconds, output[-2000:]))
        else:
            done(_outcome(node, os.waitstatus_to_exitcode(status), output, seconds))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", help="test folders or files")
    ap.add_argument("--jobs", type=int, default=2, help="tests run at once (default 2)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds one test may take (default 900)")
    ap.add_argument("--no-fork", action="store_true", help="a new interpreter per test (slower)")
    ap.add_argument("--preload", default=PRELOAD, help="modules imported once before forking")
    ap.add_argument("--one-param", action="store_true", help="only the first parametrisation of each test")
    ap.add_argument("--skip", action="append", default=[], metavar="SUBSTRING=REASON")
    ap.add_argument("-k", dest="keyword", default="", help="pytest's -k, applied when collecting")
    ap.add_argument("--report", type=Path, help="write every outcome to this JSON file")
    args = ap.parse_args(argv)

    extra = ["-k", args.keyword] if args.keyword else []
    nodes = collect(args.paths, extra)
    if args.one_param:
        nodes = first_params(nodes)
    skips = dict(s.split("=", 1) if "=" in s else (s, "no reason given") for s in args.skip)
    outcomes: list[Outcome] = []
    todo = []
    for node in nodes:
        reason = next((why for sub, why in skips.items() if sub in node), None)
        if reason is None:
            todo.append(node)
        else:
            outcomes.append(Outcome(node, "left out", 0.0, reason=reason))
    print(f"{len(todo)} tests to run alone ({len(outcomes)} left out), {args.jobs} at a time", flush=True)
    started = time.monotonic()
    count = 0

    def done(outcome: Outcome) -> None:
        nonlocal count
        count += 1
        outcomes.append(outcome)
        print(
            f"[{count}/{len(todo)}] {outcome.status:7} {outcome.seconds:6.1f} s  {outcome.node}", flush=True
        )

    if args.no_fork:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for outcome in pool.map(lambda n: run_one(n, args.timeout), todo):
                done(outcome)
    else:
        sys.path.insert(0, str(ROOT))
        # as tests/conftest.py does before anything imports torch: the preloaded torch would otherwise
        # keep a thread per core in every child, unlike ``pytest <node id>``
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        for name in filter(None, args.preload.split(",")):
            importlib.import_module(name)
        for plugin in entry_points(group="pytest11"):  # pytest's plugins (hypothesis, schemathesis, ...)
            importlib.import_module(plugin.module)
        run_forked(todo, args.jobs, args.timeout, done)
    bad = [o for o in outcomes if o.status in ("failed", "timeout")]
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    print(
        f"\n{', '.join(f'{n} {s}' for s, n in sorted(counts.items()))} in {time.monotonic() - started:.0f} s"
    )
    for o in outcomes:
        if o.status == "left out":
            print(f"left out: {o.node}: {o.reason}")
    for o in bad:
        print(f"\n=== {o.status} alone: {o.node}\n{o.tail}")
    slowest = sorted((o for o in outcomes if o.seconds), key=lambda o: -o.seconds)[:10]
    print("\nslowest alone:\n" + "\n".join(f"  {o.seconds:6.1f} s  {o.node}" for o in slowest))
    if args.report:
        args.report.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

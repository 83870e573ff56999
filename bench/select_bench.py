"""``balanced`` mining's selection on the CPU: the literal greedy (git's previous ``mining.py``) against
``ymir_executor.balanced.balanced_order``, on seeded random pools with budget 1% of the pool.

Each (pool, side) runs in its own process, so that its peak memory is its own: the pool is generated
first (16 detections per image, 10 classes, 64-float16 features, half the slots empty), its freed
temporaries are given back (``malloc_trim``), the peak is reset (``/proc/self/clear_refs``), and the
selection's seconds and its peak resident memory above the pool are recorded. Where the old greedy
would take longer than ``--old-limit`` seconds it makes only ``--old-picks`` picks, and its time is that
times budget / picks (each of its picks costs the same pass over the pool): marked "est.". Where both
ran in full, the picks and their gains are compared.

Usage::

    nice .venv/bin/python bench/select_bench.py --n 20000,100000,1000000 [--threads 1]

Results go to ``bench/out/select-bench.json``; the figures are in ``docs/benchmarks.md`` (mining).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
OLD_REV = "a6b3f9f"  # the last commit whose mining.balanced_order is the literal greedy
M, C, D = 16, 10, 64


def pool(n: int, seed: int = 0) -> Any:
    """The brief's random pool, generated in chunks (bounded temporaries at a million images)."""
    from ymir_executor.mining import Boxes

    u, s, q, f = [], [], [], []
    for a in range(0, n, 1 << 16):
        g = torch.Generator().manual_seed(seed * 1_000_003 + a)
        b = min(n, a + (1 << 16)) - a
        ss = (torch.rand(b, M, generator=g) > 0.5).float() * torch.rand(b, M, generator=g)
        u.append(torch.rand(b, M, generator=g) * (ss > 0))
        s.append(ss)
        q.append(torch.softmax(torch.randn(b, M, C, generator=g) * 2, -1).half())
        f.append(F.normalize(torch.randn(b, M, D, generator=g), dim=-1).half())
    return Boxes(torch.cat(u), torch.cat(s), torch.cat(q), torch.cat(f))


def old_mining(rev: str) -> ModuleType:
    """``ymir_executor/mining.py`` as it was at ``rev``, imported under another name."""
    text = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:executor/ymir_executor/mining.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = OUT / f"old_mining_{rev}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"old_mining_{rev}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> None:
    """One selection in this process; prints a JSON line, saves the picks and their gains."""
    torch.set_num_threads(args.threads)
    boxes = pool(int(args.n))
    if args.side == "old":
        select = old_mining(args.old_rev).balanced_order
    else:
        from ymir_executor.balanced import balanced_order as select
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # the generator's freed temporaries back to the system
    base = _kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to now
    t = time.perf_counter()
    picks, gains = select(
        boxes,
        class_weights=torch.ones(C),
        counts=torch.full((C,), 100.0),
        budget=args.budget,
        balance=0.5,
        radius=0.8,
    )
    seconds = time.perf_counter() - t
    peak = _kib("VmHWM")
    torch.save({"picks": picks, "gains": gains[picks]}, args.save)
    print(json.dumps({"seconds": seconds, "extra_mb": (peak - base) / 1024, "pool_mb": base / 1024}))


def run_side(n: int, side: str, budget: int, args: argparse.Namespace) -> dict[str, Any]:
    save = OUT / f"select-{side}-{n}-{budget}.pt"
    cmd = [sys.executable, __file__, "--child", side, "--n", str(n), "--budget", str(budget)]
    cmd += ["--threads", str(args.threads), "--old-rev", args.old_rev, "--save", str(save)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "executor"), str(REPO)])}
    load = os.getloadavg()[0]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {**row, "save": str(save), "load_before": load, "load_after": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="20000,100000,1000000", help="pool sizes, comma list")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads per side")
    ap.add_argument("--old-rev", default=OLD_REV, help="git revision of the literal greedy's mining.py")
    ap.add_argument("--old-limit", type=float, default=300.0, help="seconds above which old is estimated")
    ap.add_argument("--old-picks", type=int, default=5, help="picks the old greedy makes for its estimate")
    ap.add_argument("--child", choices=["old", "new"], help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--save", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.side = args.child
        return child(args)
    rows = []
    for n in [int(v) for v in args.n.split(",")]:
        k = max(1, n // 100)
        new = run_side(n, "new", k, args)
        probe = run_side(n, "old", min(k, args.old_picks), args)
        estimate = probe["seconds"] * k / min(k, args.old_picks)
        old = run_side(n, "old", k, args) if estimate <= args.old_limit else {**probe, "seconds": estimate}
        row = {"n": n, "budget": k, "new": new, "old": old, "old_estimated": estimate > args.old_limit}
        if not row["old_estimated"]:
            a, b = torch.load(old["save"]), torch.load(new["save"])
            row["same_picks"] = bool(torch.equal(a["picks"], b["picks"]))
            row["gain_rel_diff"] = float(
                ((a["gains"] - b["gains"]).abs() / a["gains"].abs().clamp(min=1e-12)).max()
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "select-bench.json").write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=1))
    print("\n| pool | budget | old s | new s | old MB above pool | new MB above pool | same picks | load |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        old, new = r["old"], r["new"]
        est = " (est.)" if r["old_estimated"] else ""
        old_mb = f"{old['extra_mb']:,.0f}"
        load = max(old["load_before"], new["load_before"], old["load_after"], new["load_after"])
        print(
            f"| {r['n']:,} | {r['budget']:,} | {old['seconds']:,.1f}{est} | {new['seconds']:,.2f} | "
            f"{old_mb} | {new['extra_mb']:,.0f} | {r.get('same_picks', '—')} | {load:.1f} |"
        )


if __name__ == "__main__":
    main()

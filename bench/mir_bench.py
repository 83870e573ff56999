"""Side-by-side benchmark of our ``mir`` and YMIR's ``ymir-cmd`` 2.3.0 on a seeded VOC detection set.

One run generates (or reuses) ``N`` tiny JPEGs with 1-4 VOC boxes each, split into halves A and B, then,
for each side in fresh repositories, times::

    init, import A, import B, merge 'a;b' -s host, filter -p 'person;cat', sampling --count N/10,
    show, export (VOC, to a fresh folder)

Every command runs as its own subprocess. For each one the script records wall-clock seconds, the
peak resident memory of the whole process tree (sampled from ``/proc`` every 50 ms, so worker
processes count) and the largest single process's peak RSS (``/usr/bin/time``'s ``%M``, exact). It prints
a table and writes ``bench/out/mir-bench-<N>.json``.

YMIR's side runs from its own virtual environment, ``bench/out/venv-ymir``, created on first use with::

    python3 -m venv bench/out/venv-ymir
    bench/out/venv-ymir/bin/pip install --no-deps ymir-cmd==2.3.0
    bench/out/venv-ymir/bin/pip install Pillow fasteners "numpy<2" protobuf==3.20.3 "pydantic<2" pyyaml \\
        requests retry tensorboardX xmltodict pycocotools

(ymir-cmd's own pins do not build on Python 3.11). Its git commits get a private ``HOME`` with a
``.gitconfig`` under ``bench/out/ymir-home``.

Usage::

    .venv/bin/python bench/mir_bench.py --n 1000
    .venv/bin/python bench/mir_bench.py --n 100000 --ours-rev HEAD
    .venv/bin/python bench/mir_bench.py --n 1000000 --ours-only --ours-rev HEAD --skip-ops export

Our ``mir`` uses ``MIR_WORKERS`` worker processes (default: all CPUs); ``--workers K`` sets it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "out"
CLASSES: tuple[str, ...] = ("person", "cat", "dog", "car", "bicycle")
FILTER_CLASSES = "person;cat"
DATA_VERSION = 1  # bump when the generated layout changes, so cached data is rebuilt
SHARD = 10_000  # images per sub-folder of images/
YMIR_PACKAGES: tuple[str, ...] = (
    "Pillow",
    "fasteners",
    "numpy<2",
    "protobuf==3.20.3",
    "pydantic<2",
    "pyyaml",
    "requests",
    "retry",
    "tensorboardX",
    "xmltodict",
    "pycocotools",
)
OPS: tuple[str, ...] = ("init", "import_a", "import_b", "merge", "filter", "sampling", "show", "export")
# The targets: minimum speed-up (theirs / ours) per operation, and peak memory at 1M images.
SPEEDUP_TARGETS: dict[str, float] = {
    "import_a": 10.0,
    "import_b": 10.0,
    "merge": 100.0,
    "filter": 100.0,
    "show": 100.0,
    "export": 10.0,
}
MEMORY_TARGET_MB = 4096.0
MEMORY_TARGET_OPS: tuple[str, ...] = ("import_a", "import_b", "merge", "filter", "show")


# ----------------------------------------------------------------------------------------------- data


def _jpeg_templates(rng: np.random.Generator) -> list[tuple[int, int, bytes]]:
    """A few small encoded JPEGs of different sizes: (width, height, bytes)."""
    out = []
    for w, h in ((64, 48), (48, 64), (64, 64), (96, 64)):
        arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=75)
        out.append((w, h, buf.getvalue()))
    return out


def _unique_jpeg(template: bytes, tag: bytes) -> bytes:
    """The template with a COM segment carrying ``tag`` right after SOI: still valid, distinct SHA-1."""
    assert template[:2] == b"\xff\xd8"
    return template[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + template[2:]


def _voc_xml(name: str, w: int, h: int, boxes: Sequence[tuple[str, int, int, int, int]]) -> str:
    objs = "".join(
        f"<object><name>{c}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for c, x0, y0, x1, y1 in boxes
    )
    return (
        f"<annotation><folder>images</folder><filename>{name}.jpg</filename>"
        f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size><segmented>0</segmented>"
        f"{objs}</annotation>\n"
    )


def generate(data_dir: Path, n: int, seed: int) -> dict[str, Any]:
    """Writes ``a/`` and ``b/`` (each: images/<shard>/, annotations/, index.txt) unless already cached."""
    stamp = {"version": DATA_VERSION, "n": n, "seed": seed, "classes": list(CLASSES)}
    marker = data_dir / "complete.json"
    if marker.is_file() and json.loads(marker.read_text()).get("params") == stamp:
        info: dict[str, Any] = json.loads(marker.read_text())
        print(f"data: reusing {data_dir} ({n} images)", flush=True)
        return info
    if data_dir.exists():
        shutil.rmtree(data_dir)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    templates = _jpeg_templates(rng)
    which = rng.integers(0, len(templates), size=n)
    n_boxes = rng.integers(1, 5, size=n)
    total = int(n_boxes.sum())
    cls = rng.integers(0, len(CLASSES), size=total)
    # box corners as fractions of the image; min corner in the upper-left 60 %, at least 4 px in size
    fx0, fy0 = rng.uniform(0.0, 0.6, size=total), rng.uniform(0.0, 0.6, size=total)
    fx1, fy1 = rng.uniform(0.0, 1.0, size=total), rng.uniform(0.0, 1.0, size=total)
    starts = np.concatenate([[0], np.cumsum(n_boxes)])
    half = n // 2
    counts: dict[str, int] = dict.fromkeys(CLASSES, 0)
    images_with: dict[str, int] = dict.fromkeys(CLASSES, 0)
    for part, lo, hi in (("a", 0, half), ("b", half, n)):
        root = data_dir / part
        ann = root / "annotations"
        ann.mkdir(parents=True)
        index_lines = []
        for i in range(lo, hi):
            w, h, tpl = templates[int(which[i])]
            name = f"img_{i:08d}"
            shard = root / "images" / f"{i // SHARD:04d}"
            if i % SHARD == 0 or i == lo:
                shard.mkdir(parents=True, exist_ok=True)
            img_path = shard / f"{name}.jpg"
            img_path.write_bytes(_unique_jpeg(tpl, f"mir-bench seed={seed} i={i}".encode()))
            boxes = []
            seen: set[str] = set()
            for k in range(int(starts[i]), int(starts[i + 1])):
                x0 = 1 + int(fx0[k] * (w - 8))
                y0 = 1 + int(fy0[k] * (h - 8))
                x1 = x0 + 4 + int(fx1[k] * (w - 2 - x0 - 4))
                y1 = y0 + 4 + int(fy1[k] * (h - 2 - y0 - 4))
                c = CLASSES[int(cls[k])]
                boxes.append((c, x0, y0, x1, y1))
                counts[c] += 1
                seen.add(c)
            for c in seen:
                images_with[c] += 1
            (ann / f"{name}.xml").write_text(_voc_xml(name, w, h, boxes))
            index_lines.append(str(img_path))
        (root / "index.txt").write_text("\n".join(index_lines) + "\n")
    # images that the filter -p 'person;cat' keeps (for checking both sides' results)
    keep = 0
    for i in range(n):
        names = {CLASSES[int(cls[k])] for k in range(int(starts[i]), int(starts[i + 1]))}
        keep += bool(names & set(FILTER_CLASSES.split(";")))
    info = {
        "params": stamp,
        "images": n,
        "boxes": total,
        "boxes_per_class": counts,
        "images_per_class": images_with,
        "expected_filter_assets": keep,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    marker.write_text(json.dumps(info, indent=1))
    print(f"data: generated {n} images, {total} boxes in {info['seconds']} s -> {data_dir}", flush=True)
    return info


# --------------------------------------------------------------------------------------- measurement


@dataclass
class OpResult:
    side: str
    op: str
    argv: list[str]
    rc: int
    seconds: float
    peak_tree_mb: float
    peak_proc_mb: float
    status: str  # ok, failed (non-zero exit), crashed (Python traceback), skipped, timeout
    error: str = ""
    user_s: float = 0.0
    sys_s: float = 0.0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return kids


def _mem_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of one process in KiB; VmHWM is that process's own exact peak since its exec."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return rss, hwm


class TreeSampler(threading.Thread):
    """Every 50 ms: the summed RSS of a process and all its descendants (workers count), and the
    highest VmHWM seen of any one of them."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.done = threading.Event()
        self.peak_sum_kib = 0
        self.peak_one_kib = 0

    def run(self) -> None:
        while not self.done.is_set():
            total, stack, seen = 0, [self.root], set()
            while stack:
                pid = stack.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                rss, hwm = _mem_kib(pid)
                total += rss
                self.peak_one_kib = max(self.peak_one_kib, hwm)
                stack.extend(_children(pid))
            self.peak_sum_kib = max(self.peak_sum_kib, total)
            self.done.wait(0.05)


TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_op(
    side: str, op: str, argv: list[str], env: dict[str, str], log_dir: Path, timeout: float | None
) -> OpResult:
    """Runs one command in its own session; wall time, peak memory, CPU time.

    Peak memory of one process comes from ``/usr/bin/time -f %M`` (exact; the launcher is a small
    process, so the command's own ``ru_maxrss`` is not inflated by this script's memory, which a fork
    from Python would copy), else from the sampled ``VmHWM``. The process-tree peak is sampled.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{side}-{op}.out", log_dir / f"{side}-{op}.err"
    time_path = log_dir / f"{side}-{op}.maxrss"
    cmd = [TIME_BIN, "-f", "%M", "-o", str(time_path), *argv] if TIME_BIN else argv
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, env=env, cwd=str(log_dir), start_new_session=True
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        timer: threading.Timer | None = None
        timed_out = [False]
        if timeout:

            def kill() -> None:
                timed_out[0] = True
                os.killpg(proc.pid, 9)

            timer = threading.Timer(timeout, kill)
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
        if timer:
            timer.cancel()
    rc = proc.returncode
    err_text = err_path.read_text(errors="replace")
    state, error = "ok", ""
    if timed_out[0]:
        state, error = "timeout", f"killed after {timeout} s"
    elif rc != 0:
        tb = "Traceback (most recent call last)" in err_text
        state = "crashed" if tb else "failed"
        lines = [ln for ln in err_text.strip().splitlines() if ln.strip()]
        if not lines:
            lines = [ln for ln in out_path.read_text(errors="replace").strip().splitlines() if ln.strip()]
        error = lines[-1][:300] if lines else f"exit {rc}"
    one_kib = sampler.peak_one_kib
    if TIME_BIN and time_path.is_file():
        tail = [ln for ln in time_path.read_text().splitlines() if ln.strip().isdigit()]
        if tail:
            one_kib = int(tail[-1])
    proc_mb = one_kib / 1024.0
    return OpResult(
        side=side,
        op=op,
        argv=argv,
        rc=rc,
        seconds=round(seconds, 3),
        peak_tree_mb=round(max(sampler.peak_sum_kib / 1024.0, proc_mb), 1),
        peak_proc_mb=round(proc_mb, 1),
        status=state,
        error=error,
        user_s=round(usage.ru_utime, 2),
        sys_s=round(usage.ru_stime, 2),
    )


# -------------------------------------------------------------------------------------------- sides


@dataclass
class Side:
    name: str  # "ours" or "theirs"
    mir: Path
    env: dict[str, str]
    root: Path  # run folder: repo/, media/, work/, export/ (removed after the run unless --keep)
    logs: Path  # stdout/stderr of every command (kept)
    results: list[OpResult] = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def media(self) -> Path:
        return self.root / "media"

    def work(self, op: str) -> Path:
        return self.root / "work" / op


def ops_argv(side: Side, data: Path, n: int, seed: int) -> dict[str, list[str]]:
    """The command line of each operation, in each side's own spelling."""
    r = ["-r", str(side.repo)]
    m = str(side.mir)
    ours = side.name == "ours"
    anno_type = ["--anno-type", "det:voc"] if ours else ["--anno-type", "det-box"]

    def imp(part: str, rev: str) -> list[str]:
        return [
            m,
            "import",
            *r,
            "--index-file",
            str(data / part / "index.txt"),
            "--gt-dir",
            str(data / part / "annotations"),
            "--gen-dir",
            str(side.media),
            *anno_type,
            "--unknown-types-strategy",
            "add",
            "--dst-rev",
            rev,
            "-w",
            str(side.work(f"import_{part}")),
        ]

    export = side.root / "export"
    return {
        "init": [m, "init", *r],
        "import_a": imp("a", "a@import-a"),
        "import_b": imp("b", "b@import-b"),
        "merge": [
            m,
            "merge",
            *r,
            "--src-revs",
            "a@import-a;b@import-b",
            "-s",
            "host",
            "--dst-rev",
            "m@merge",
            "-w",
            str(side.work("merge")),
        ],
        "filter": [
            m,
            "filter",
            *r,
            "--src-revs",
            "m@merge",
            "-p",
            FILTER_CLASSES,
            "--dst-rev",
            "f@filter",
            "-w",
            str(side.work("filter")),
        ],
        "sampling": [
            m,
            "sampling",
            *r,
            "--src-revs",
            "m@merge",
            "--count",
            str(max(1, n // 10)),
            *(["--seed", str(seed)] if ours else []),
            "--dst-rev",
            "s@sampling",
            "-w",
            str(side.work("sampling")),
        ],
        "show": [m, "show", *r, "--src-revs", "m@merge"],
        "export": [
            m,
            "export",
            *r,
            "--src-revs",
            "m@merge",
            "--asset-dir",
            str(export / "assets"),
            "--gt-dir",
            str(export / "gt"),
            "--anno-format",
            "voc" if ours else "det-voc",
            "--media-location",
            str(side.media),
            "-w",
            str(side.work("export")),
        ],
    }


_COUNT_RE = re.compile(r"(\d+) assets")


def asset_count(side: Side, rev: str) -> int | None:
    """Number of assets in ``rev`` according to the side's own ``show`` (untimed; a sanity check)."""
    if side.name == "ours":
        argv = [str(side.mir), "show", "-r", str(side.repo), "--src-revs", rev, "--json"]
    else:
        argv = [str(side.mir), "show", "-r", str(side.repo), "--src-revs", rev]
    p = subprocess.run(argv, capture_output=True, text=True, env=side.env, cwd=str(side.root))
    if p.returncode != 0:
        return None
    text = p.stdout + p.stderr
    if side.name == "ours":
        try:
            doc = json.loads(p.stdout)
        except json.JSONDecodeError:
            return None
        for key in ("assets", "asset_count", "n_assets"):
            val = doc.get(key)
            if isinstance(val, int):
                return val
            if isinstance(val, dict) and isinstance(val.get("total"), int):
                return int(val["total"])
        return None
    match = _COUNT_RE.search(text)
    return int(match.group(1)) if match else None


def ensure_ymir_venv(venv: Path) -> Path:
    """Creates YMIR's venv with the issue's recipe if its ``mir`` is missing; returns that ``mir``."""
    mir = venv / "bin" / "mir"
    if mir.exists():
        return mir
    python = shutil.which("python3") or sys.executable
    print(f"ymir: creating {venv} with {python} (pip install --no-deps ymir-cmd==2.3.0 + deps)", flush=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--no-deps", "ymir-cmd==2.3.0"], check=True)
    subprocess.run([*pip, *YMIR_PACKAGES], check=True)
    return mir


def snapshot_ours(git_rev: str, out: Path) -> Path:
    """Our ``command/`` package as of ``git_rev``, unpacked under ``OUT/mir-src-<sha>``, and a wrapper
    script that runs its CLI with this repo's venv (so a working tree under edit does not leak in)."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{git_rev}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dest = out / f"mir-src-{sha[:12]}"
    wrapper = dest / "mir"
    if not wrapper.exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", sha, "command"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        python = REPO / ".venv" / "bin" / "python"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"PYTHONPATH={dest / 'command'} exec {python} -c "
            "'import sys; from mir.cli import main; sys.exit(main())' \"$@\"\n"
        )
        wrapper.chmod(0o755)
    return wrapper


def git_state() -> dict[str, Any]:
    """HEAD and the uncommitted changes under command/ (what "ours" ran, unless --ours-rev was given)."""

    def git(*a: str) -> str:
        p = subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True)
        return p.stdout.strip()

    return {"head": git("rev-parse", "HEAD"), "dirty_command": git("status", "--short", "--", "command")}


def ymir_env(out: Path) -> dict[str, str]:
    """Environment for YMIR's mir: git identity through a private HOME (its commits need one)."""
    home = out / "ymir-home"
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / ".gitconfig"
    if not cfg.exists():
        cfg.write_text(
            "[user]\n\tname = mir-bench\n\temail = mir-bench@localhost\n[init]\n\tdefaultBranch = master\n"
        )
    env = dict(os.environ)
    env.update(
        {
            "HOME": str(home),
            "GIT_AUTHOR_NAME": "mir-bench",
            "GIT_AUTHOR_EMAIL": "mir-bench@localhost",
            "GIT_COMMITTER_NAME": "mir-bench",
            "GIT_COMMITTER_EMAIL": "mir-bench@localhost",
            "PYTHONWARNINGS": "ignore",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def run_side(side: Side, data: Path, n: int, seed: int, skip: set[str], timeout: float | None) -> None:
    if side.root.exists():
        shutil.rmtree(side.root)
    for sub in ("repo", "media", "work"):
        (side.root / sub).mkdir(parents=True)
    if side.logs.exists():
        shutil.rmtree(side.logs)
    argvs = ops_argv(side, data, n, seed)
    for op in OPS:
        if op in skip:
            side.results.append(OpResult(side.name, op, argvs[op], 0, 0.0, 0.0, 0.0, "skipped"))
            continue
        print(f"[{side.name}] {op} ...", end=" ", flush=True)
        res = run_op(side.name, op, argvs[op], side.env, side.logs, timeout)
        side.results.append(res)
        extra = f" {res.status}: {res.error}" if res.status != "ok" else ""
        print(f"{res.seconds:.2f} s, peak {res.peak_tree_mb:.0f} MB{extra}", flush=True)


# ------------------------------------------------------------------------------------------- report


def _fmt_s(r: OpResult | None) -> str:
    if r is None or r.status == "skipped":
        return "-"
    if r.status != "ok":
        return f"{r.status}"
    return f"{r.seconds:.2f}"


def _fmt_mb(r: OpResult | None) -> str:
    if r is None or r.status == "skipped":
        return "-"
    return f"{r.peak_tree_mb:.0f}"


def table(ours: Side | None, theirs: Side | None) -> tuple[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    head = ("op", "ours s", "theirs s", "ratio", "target", "ours peak MB", "theirs peak MB")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    by_o = {r.op: r for r in ours.results} if ours else {}
    by_t = {r.op: r for r in theirs.results} if theirs else {}
    for op in OPS:
        o, t = by_o.get(op), by_t.get(op)
        ratio: float | None = None
        if o and t and o.status == "ok" and t.status == "ok" and o.seconds > 0:
            ratio = t.seconds / o.seconds
        target = SPEEDUP_TARGETS.get(op)
        verdict = ""
        if target is not None and ratio is not None:
            verdict = f">={target:.0f}x {'met' if ratio >= target else 'MISSED'}"
        elif target is not None:
            verdict = f">={target:.0f}x"
        rows.append(
            {
                "op": op,
                "ours": asdict(o) if o else None,
                "theirs": asdict(t) if t else None,
                "ratio": None if ratio is None else round(ratio, 2),
                "target_speedup": target,
            }
        )
        cells = (
            op,
            _fmt_s(o),
            _fmt_s(t),
            "-" if ratio is None else f"{ratio:.1f}x",
            verdict or "-",
            _fmt_mb(o),
            _fmt_mb(t),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="images in all (halves A and B); default 1000")
    ap.add_argument("--seed", type=int, default=7, help="data and sampling seed")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default bench/out)")
    ap.add_argument("--ours-mir", type=Path, default=REPO / ".venv" / "bin" / "mir", help="our mir")
    ap.add_argument(
        "--ours-rev",
        default=None,
        help="benchmark our command/ as of this git revision (unpacked under OUT), not the tree",
    )
    ap.add_argument("--ymir-venv", type=Path, default=None, help="YMIR venv (default OUT/venv-ymir)")
    ap.add_argument("--ours-only", action="store_true", help="run our mir only (e.g. the 1M memory check)")
    ap.add_argument("--theirs-only", action="store_true", help="run YMIR's mir only")
    ap.add_argument("--skip-ops", default="", help=f"comma-separated ops to skip on both sides: {OPS}")
    ap.add_argument("--skip-theirs-ops", default="", help="comma-separated ops to skip on YMIR's side")
    ap.add_argument("--workers", type=int, default=None, help="MIR_WORKERS for our mir (default: env/all)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds allowed per command")
    ap.add_argument("--keep", action="store_true", help="keep repos, media and exports after the run")
    args = ap.parse_args(argv)

    def ops_set(text: str) -> set[str]:
        names = {s.strip() for s in text.split(",") if s.strip()}
        bad = names - set(OPS)
        if bad:
            ap.error(f"unknown ops {sorted(bad)}; known: {', '.join(OPS)}")
        return names

    skip, skip_theirs = ops_set(args.skip_ops), ops_set(args.skip_theirs_ops)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    n: int = args.n
    data_info = generate(out / f"data-{n}", n, args.seed)
    data = out / f"data-{n}"
    run_dir = out / f"run-{n}"

    sides: list[Side] = []
    if not args.theirs_only:
        env = dict(os.environ)
        if args.workers:
            env["MIR_WORKERS"] = str(args.workers)
        ours_mir = snapshot_ours(args.ours_rev, out) if args.ours_rev else args.ours_mir.resolve()
        sides.append(Side("ours", ours_mir, env, run_dir / "ours", out / f"logs-{n}" / "ours"))
    if not args.ours_only:
        venv = (args.ymir_venv or out / "venv-ymir").resolve()
        sides.append(
            Side(
                "theirs",
                ensure_ymir_venv(venv),
                ymir_env(out),
                run_dir / "theirs",
                out / f"logs-{n}" / "theirs",
            )
        )

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    git_at_start = git_state()
    for side in sides:
        run_side(
            side, data, n, args.seed, skip | (skip_theirs if side.name == "theirs" else set()), args.timeout
        )

    # sanity check: both sides must agree on what they produced
    checks: dict[str, dict[str, int | None]] = {}
    for side in sides:
        ok_ops = {r.op for r in side.results if r.status == "ok"}
        revs = {"merge": "m@merge", "filter": "f@filter", "sampling": "s@sampling"}
        checks[side.name] = {op: asset_count(side, rev) for op, rev in revs.items() if op in ok_ops}
    expected = {"merge": n, "filter": data_info["expected_filter_assets"], "sampling": max(1, n // 10)}

    ours = next((s for s in sides if s.name == "ours"), None)
    theirs = next((s for s in sides if s.name == "theirs"), None)
    text, rows = table(ours, theirs)
    print()
    print(
        f"N = {n} images ({n // 2} + {n - n // 2}), {data_info['boxes']} boxes, "
        f"{os.cpu_count()} CPUs, MIR_WORKERS={(ours.env.get('MIR_WORKERS') if ours else None) or 'all'}"
    )
    print(text)
    print("\nassets in results (expected / per side):", json.dumps({"expected": expected, **checks}))
    mem_failures = []
    if ours and n >= 1_000_000:
        for r in ours.results:
            if r.op in MEMORY_TARGET_OPS and r.status == "ok" and r.peak_tree_mb >= MEMORY_TARGET_MB:
                mem_failures.append(r.op)
        print(
            f"1M memory target (< {MEMORY_TARGET_MB:.0f} MB for {', '.join(MEMORY_TARGET_OPS)}): "
            f"{'MISSED for ' + ', '.join(mem_failures) if mem_failures else 'met'}"
        )

    report = {
        "n": n,
        "seed": args.seed,
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "mir_workers": ours.env.get("MIR_WORKERS") if ours else None,
        "ours_mir": str(ours.mir) if ours else None,
        "ours_rev": args.ours_rev,
        "git": git_at_start,
        "data": data_info,
        "rows": rows,
        "asset_counts": {"expected": expected, **checks},
        "table_markdown": text,
    }
    suffix = "-ours" if args.ours_only else "-theirs" if args.theirs_only else ""
    json_path = out / f"mir-bench-{n}{suffix}.json"
    json_path.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {json_path}")
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    failed = [f"{r.side}:{r.op}" for s in sides for r in s.results if r.status not in ("ok", "skipped")]
    if failed:
        print("not ok: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

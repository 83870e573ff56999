"""How ``mir import`` and ``mir export`` spread their work: worker processes vs threads vs one process.

Generates ``N`` seeded JPEGs (``--size WxH``, smooth gradients plus noise so they compress like
photos) with one VOC file each, then for every pool kind (``MIR_POOL=process|thread|serial``) imports
them into a fresh repository and exports the version again (VOC, copies), each as its own ``mir``
subprocess, and prints wall seconds, CPU seconds (user+sys of the whole process tree) and images/s.

Usage::

    .venv/bin/python bench/pool_bench.py --n 20000 --size 64x48
    .venv/bin/python bench/pool_bench.py --n 5000 --size 640x480 --workers 2

Results go to ``bench/out/pool-bench-<N>-<size>.json``; the figures are in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
MIR = Path(sys.executable).with_name("mir")


def _template(rng: np.random.Generator, w: int, h: int) -> bytes:
    """A photo-like JPEG: a colour gradient with noise (compresses to roughly 0.1-0.2 bytes/pixel)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w, 1), yy * 255 / max(h, 1), (xx + yy) * 127 / max(w + h, 1)], -1)
    arr = np.clip(base + rng.normal(0, 18, size=(h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def generate(folder: Path, n: int, w: int, h: int, seed: int = 3) -> Path:
    """``images/<shard>/img_*.jpg``, ``annotations/img_*.xml`` and ``index.txt``; cached by params."""
    marker = folder / "complete.json"
    params = {"n": n, "w": w, "h": h, "seed": seed, "v": 1}
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    tpl = _template(rng, w, h)
    ann = folder / "annotations"
    ann.mkdir(parents=True)
    lines = []
    for i in range(n):
        shard = folder / "images" / f"{i // 10_000:04d}"
        if i % 10_000 == 0:
            shard.mkdir(parents=True)
        tag = f"pool-bench {seed} {i}".encode()
        data = tpl[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + tpl[2:]
        path = shard / f"img_{i:08d}.jpg"
        path.write_bytes(data)
        x0, y0 = 1 + i % (w // 2), 1 + i % (h // 2)
        (ann / f"img_{i:08d}.xml").write_text(
            f"<annotation><filename>img_{i:08d}.jpg</filename><size><width>{w}</width>"
            f"<height>{h}</height><depth>3</depth></size><object><name>{('cat', 'dog')[i % 2]}</name>"
            f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x0 + w // 3}</xmax>"
            f"<ymax>{y0 + h // 3}</ymax></bndbox></object></annotation>\n"
        )
        lines.append(str(path))
    (folder / "index.txt").write_text("\n".join(lines) + "\n")
    marker.write_text(json.dumps(params))
    return folder


def timed(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds of one subprocess (its children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--size", default="64x48", help="image size WxH")
    ap.add_argument("--kinds", default="process,thread,serial")
    ap.add_argument("--workers", type=int, default=None, help="MIR_WORKERS (default: all CPUs)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    data = generate(args.out / f"pool-data-{args.n}-{w}x{h}", args.n, w, h)
    size_mb = sum(p.stat().st_size for p in (data / "images").rglob("*.jpg")) / 1e6
    print(f"data: {args.n} images {w}x{h}, {size_mb:.0f} MB in {data}", flush=True)
    results: list[dict[str, Any]] = []
    for kind in args.kinds.split(","):
        run = args.out / f"pool-run-{kind}"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        env = {**os.environ, "MIR_POOL": kind}
        if args.workers:
            env["MIR_WORKERS"] = str(args.workers)
        repo, media = run / "repo", run / "media"
        timed([str(MIR), "init", "-r", str(repo)], env)
        imp = timed(
            [
                str(MIR), "import", "-r", str(repo), "--index-file", str(data / "index.txt"),
                "--gt-dir", str(data / "annotations"), "--gen-dir", str(media),
                "--anno-type", "det:voc", "--unknown-types-strategy", "add", "--dst-rev", "a@imp",
            ],
            env,
        )  # fmt: skip
        exp = timed(
            [
                str(MIR), "export", "-r", str(repo), "--src-revs", "a@imp",
                "--asset-dir", str(run / "export" / "assets"), "--gt-dir", str(run / "export" / "gt"),
                "--anno-format", "voc", "--media-location", str(media),
            ],
            env,
        )  # fmt: skip
        row = {
            "kind": kind,
            "import": {**imp, "images_per_s": round(args.n / imp["wall_s"])},
            "export": {**exp, "images_per_s": round(args.n / exp["wall_s"])},
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(run, ignore_errors=True)
    print("\n| pool | import s | import CPU s | import img/s | export s | export CPU s | export img/s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        i, e = r["import"], r["export"]
        print(
            f"| {r['kind']} | {i['wall_s']} | {i['cpu_s']} | {i['images_per_s']} | "
            f"{e['wall_s']} | {e['cpu_s']} | {e['images_per_s']} |"
        )
    load = os.getloadavg()
    meta = {"n": args.n, "size": f"{w}x{h}", "data_mb": round(size_mb), "cpus": os.cpu_count(),
            "workers": args.workers, "load_avg": load, "python": platform.python_version()}  # fmt: skip
    print(f"\n{meta}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"pool-bench-{args.n}-{w}x{h}.json").write_text(json.dumps({**meta, "results": results}))


if __name__ == "__main__":
    main()

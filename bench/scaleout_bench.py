"""Scale-out of mining over worker machines: one machine against two, on the same pool.

The pool (``--pool`` generated 64x64 JPEGs with VOC boxes) is imported as ``--shards`` datasets of equal
size, since one mining task runs on one GPU (or one CPU process): a team spreads a large pool over
machines by mining its shards as separate tasks. A tiny model is trained once with our executor. Then,
for 1 and for 2 worker machines (network namespaces with their own hostnames and veth links to a
Redis on the host, the workplace shared: ``tests/deploy/cluster.py``), each worker running one task at a
time (``-c 1``: one mining process per machine, as one GPU would be), every shard is submitted as a
``MiningRequest`` (entropy, top 10, our executor as a local process on the CPU) and the wall time
from the first submit to the last result is measured. Throughput = pool size / wall time; the ratio
is 2 machines over 1.

Needs root (network namespaces), ``ip``, ``unshare`` and ``redis-server``. Run::

    nice .venv/bin/python -m bench.scaleout_bench --pool 100000 --shards 16
    nice .venv/bin/python -m bench.scaleout_bench --pool 4000 --shards 8      # what fits a few minutes

It prints a Markdown table and writes ``bench/out/scaleout-<pool>.json``. Both "machines" share this
host's CPU cores, so the ratio shows what the engine adds or loses in spreading the work (delivery,
idle gaps, per-task start-up), not what a second real machine's own cores would add.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from bench.synthetic import generate_voc, import_voc
from mir.ops import history
from mir.ops.executing import TaskOptions
from mir.ops.merge import merge
from mir.ops.training import train
from tests.deploy.cluster import cluster, missing_tools
from ymir_controller.protocol import MiningRequest

SCORING = {"batch_size_per_gpu": 64, "workers_per_gpu": 0, "img_size": 64, "gpu_decode": False}
TRAIN = {
    "model_size": "tiny",
    "img_size": 64,
    "epochs": 1,
    "batch_size_per_gpu": 16,
    "workers_per_gpu": 0,
    "export_onnx": False,
}


def prepare(root: Path, data: Path, *, pool: int, shards: int) -> str:
    """Import the training set and the pool's shards; train the model; return ``hash@stage``."""
    repo = root / "repos" / "main"
    history.init(root=repo)
    sets = [("tr", 64, 1), ("va", 16, 2)] + [(f"pool{k}", pool // shards, 100 + k) for k in range(shards)]
    started = time.monotonic()
    for name, n, seed in sets:
        generate_voc(data / name, n_images=n, seed=seed, image_size=(64, 64), name_prefix=name)
        import_voc(repo, data / name, dst=f"{name}@i", media=root / "media")
        shutil.rmtree(data / name)
    print(f"generated and imported {pool} pool images in {time.monotonic() - started:.0f} s")
    merge(root=repo, src_revs="tr:tr@i;va:va@i", dst="tv@m")
    config = root / "train.yaml"
    config.write_text(json.dumps(TRAIN))
    report = train(
        root=repo,
        src_revs="tv@m",
        dst="model@t0",
        task_config_file=config,
        options=TaskOptions(model_location=root / "models", media_location=root / "media"),
    )
    return f"{report.model_hash}@{report.best_stage}"


def mine_all(root: Path, model: str, *, machines: int, shards: int, pool: int) -> dict[str, float]:
    """Mine every shard over ``machines`` machines; wall time and throughput."""
    with cluster(
        root,
        machines=machines,
        concurrency=1,
        gpu_ids="",
        visibility_timeout=3600,
        extra_env={"MIR_WORKERS": "1"},
    ) as c:
        started = time.monotonic()
        tids = [
            c.client.submit(
                MiningRequest(
                    repo="repos/main",
                    dst_rev=f"mined-{machines}m-{k}@m{machines}s{k}",
                    src_revs=f"pool{k}@i",
                    model=model,
                    topk=10,
                    algorithm="entropy",
                    config=SCORING,
                )
            )
            for k in range(shards)
        ]
        workers: dict[str, int] = {}
        for tid in tids:
            result = c.client.wait(tid, timeout=24 * 3600)
            if result.state != "done":
                raise RuntimeError(f"mining task {tid} {result.state}: {result.error}")
        seconds = time.monotonic() - started
        for m in c.machines:
            workers[m.name] = sum(
                1 for line in m.log.read_text().splitlines() if ".mining[" in line and "received" in line
            )
    return {
        "machines": machines,
        "seconds": round(seconds, 2),
        "images_per_s": round(pool / seconds, 1),
        "tasks_per_machine": sorted(workers.values()),  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", type=int, default=100_000, help="pool images (default 100,000)")
    parser.add_argument("--shards", type=int, default=16, help="mining tasks the pool is split into")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workplace")
    args = parser.parse_args()
    problem = missing_tools()
    if problem:
        raise SystemExit(problem)
    base = Path(tempfile.mkdtemp(prefix="ymir-scaleout-", dir="/var/tmp"))
    try:
        model = prepare(base / "workplace", base / "data", pool=args.pool, shards=args.shards)
        rows = [
            mine_all(base / "workplace", model, machines=n, shards=args.shards, pool=args.pool)
            for n in (1, 2)
        ]
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    ratio = rows[1]["images_per_s"] / rows[0]["images_per_s"]
    print(
        f"\npool {args.pool} images in {args.shards} shards, {os.cpu_count()} CPU cores, {platform.node()}\n"
    )
    print("| worker machines | wall s | images/s | mining tasks per machine |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['machines']} | {r['seconds']} | {r['images_per_s']} | {r['tasks_per_machine']} |")
    print(f"\nratio 2 machines / 1 machine: {ratio:.2f}")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / f"scaleout-{args.pool}.json").write_text(
        json.dumps(
            {
                "pool": args.pool,
                "shards": args.shards,
                "cpus": os.cpu_count(),
                "rows": rows,
                "ratio": round(ratio, 3),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()

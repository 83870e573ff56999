"""A labeling round of N images (default 10,000) through a real Label Studio, timed.

Starts Label Studio with ``label_studio/ls.sh`` in a fresh workplace under ``bench/out/label-N`` (or
uses ``--url``/``--token`` of a running one), imports N synthetic 64x64 images with ground truth into
a mir repository, and runs the ``label`` task handler in this process (no broker) with the ground truth
sent as pre-annotations. Then ``--annotate`` tasks (default: all) get an annotation through Label
Studio's API, the last one ends the round (or a finish request does, when fewer are annotated), and the
new version is checked. Prints JSON:

* ``setup_s``: from the task's start to "labeling" (project created, N tasks with pre-annotations imported);
* ``annotate_s`` and ``annotations_per_s``: the simulated annotators (``--threads`` of them);
* ``last_annotation_to_version_s``: from the last annotation (or the finish request) to the new version;
* ``ls_rss_mb``: Label Studio's resident memory (its process tree) after the import and at the end.

Usage: ``.venv/bin/python -m bench.label_bench --images 10000 [--annotate 10000] [--threads 4]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.synthetic import generate_voc
from mir.ops import history, importing
from ymir_controller import handlers
from ymir_controller.handlers.context import Context
from ymir_controller.protocol import LabelRequest, TaskResult, finish_flag
from ymir_controller.settings import Settings

ROOT = Path(__file__).parents[1]
TOKEN = "benchlabel0123456789abcdef0123456789abcd"


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return round(total / 1024, 1)


def _stage(stages: list[tuple[float, str]], stage: str) -> None:
    if not stages or stages[-1][1] != stage:
        stages.append((time.monotonic(), stage))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--annotate", type=int, default=None, help="tasks to annotate (default: all)")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--port", type=int, default=12099)
    ap.add_argument("--url", default="", help="a running Label Studio (then --token too)")
    ap.add_argument("--token", default=TOKEN)
    ap.add_argument("--ls-pid", type=int, default=0, help="with --url: Label Studio's pid, for its memory")
    args = ap.parse_args()
    n = args.images
    annotate = n if args.annotate is None else min(args.annotate, n)
    out = ROOT / "bench" / "out" / f"label-{n}"
    workplace = out / "workplace"
    shutil.rmtree(workplace, ignore_errors=True)
    workplace.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("YMIR_")}
    env.update(
        {
            "YMIR_WORKPLACE": str(out),
            "YMIR_LABEL_STUDIO_DIR": str(out / "label-studio"),
            "YMIR_LABEL_STUDIO_PORT": str(args.port),
            "YMIR_LABEL_STUDIO_BIND": "127.0.0.1",
            "YMIR_LABEL_STUDIO_TOKEN": args.token,
            "YMIR_DATABASE_URL": os.environ.get("YMIR_DATABASE_URL", ""),
        }
    )
    script = ROOT / "label_studio" / "ls.sh"
    url = args.url or f"http://127.0.0.1:{args.port}"
    figures: dict[str, Any] = {"images": n, "annotated": annotate, "threads": args.threads}
    if not args.url:
        t = time.monotonic()
        subprocess.run([str(script), "start"], env=env, check=True)
        figures["ls_start_s"] = round(time.monotonic() - t, 1)
    pid = int((out / "label-studio" / "label-studio.pid").read_text()) if not args.url else args.ls_pid
    try:
        data = out / "data"
        if not (data / "images").exists():
            generate_voc(data, n_images=n, seed=3, image_size=(64, 64), name_prefix="img")
            (data / "index.txt").unlink(missing_ok=True)
        repo = workplace / "repo"
        history.init(root=repo)
        for name in ("circle", "square", "triangle"):
            history.add_label(root=repo, name=name)
        t = time.monotonic()
        index = data / "bench-index.txt"
        index.write_text("".join(f"{p}\n" for p in sorted((data / "images").glob("*.jpg"))))
        importing.import_dataset(
            root=repo,
            index_file=index,
            dst="pool@imp",
            media_location=workplace / "media",
            gt_dir=data / "annotations",
            anno_format="voc",
            bar=False,
        )
        figures["mir_import_s"] = round(time.monotonic() - t, 1)
        settings = Settings(
            workplace=workplace,
            label_studio_url=url,
            label_studio_token=args.token,
            label_poll_seconds=1.0,
            public_url="http://127.0.0.1:9",
        )
        stages: list[tuple[float, str]] = []
        task_id = f"bench{uuid.uuid4().hex[:12]}"
        ctx = Context(
            settings=settings,
            task_id=task_id,
            report=lambda p, stage, m: _stage(stages, stage),
        )
        req = LabelRequest(
            repo="repo",
            src_rev="pool@imp",
            dst_rev=f"labeled@{task_id}",
            class_names=["circle", "square", "triangle"],
            pre_annotations="gt",
        )
        result: list[TaskResult] = []
        started = time.monotonic()
        runner = threading.Thread(
            target=lambda: result.append(handlers.run(req.model_dump(mode="json"), ctx))
        )
        runner.start()
        while not any(s == "labeling" for _, s in stages):
            if not runner.is_alive():
                raise SystemExit(f"the task ended early: {result}")
            time.sleep(0.2)
        figures["setup_s"] = round(next(t for t, s in stages if s == "labeling") - started, 1)
        print(f"set up in {figures['setup_s']} s", file=sys.stderr)
        if pid:
            figures["ls_rss_mb_after_import"] = rss_mb(pid)
        http = httpx.Client(base_url=url, headers={"Authorization": f"Token {args.token}"}, timeout=300)
        project = next(
            p
            for p in http.get("/api/projects", params={"page_size": 1000}).json()["results"]
            if f"ymir-label-task:{task_id}" in (p.get("description") or "")
        )
        ids: list[tuple[int, list[Any]]] = []
        page = 1
        while len(ids) < annotate:
            body = http.get(
                "/api/tasks",
                params={"project": project["id"], "page": page, "page_size": 1000, "fields": "all"},
            )
            tasks = body.json()["tasks"] if body.status_code == 200 else []
            if not tasks:
                break
            ids += [(t["id"], t["predictions"][0]["result"] if t["predictions"] else []) for t in tasks]
            page += 1
        ids = ids[:annotate]

        def one(item: tuple[int, list[Any]]) -> None:
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Token {args.token}"}, timeout=300
            ) as c:
                r = c.post(
                    f"/api/tasks/{item[0]}/annotations", json={"result": item[1], "was_cancelled": False}
                )
                r.raise_for_status()

        t = time.monotonic()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(one, ids))
        last = time.monotonic()
        figures["annotate_s"] = round(last - t, 1)
        figures["annotations_per_s"] = round(len(ids) / max(last - t, 1e-9), 1)
        if annotate < n:
            flag = finish_flag(workplace, task_id)
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.touch()
        runner.join()
        figures["last_annotation_to_version_s"] = round(time.monotonic() - last, 1)
        res = result[0]
        assert res.state == "done", res.error
        assert res.version is not None
        figures["version_assets"] = res.version.assets
        figures["version_gt_boxes"] = res.version.gt_boxes
        if pid:
            figures["ls_rss_mb_end"] = rss_mb(pid)
    finally:
        if not args.url:
            subprocess.run([str(script), "stop"], env=env, check=False)
    json.dump(figures, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()

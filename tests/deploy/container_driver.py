"""Run by test_executor_image.py as a non-root user: mir's train, mining and infer through the ``docker``
runtime (DOCKER_HOST = podman's API), with what it saw of the running containers written as JSON.

    python container_driver.py WORLD IMAGE RESULT.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import docker

from mir.errors import CancelledError
from mir.ops.executing import TaskOptions
from mir.ops.mining import infer, mine
from mir.ops.training import train

TINY = {
    "model_size": "tiny",
    "img_size": 64,
    "epochs": 1,
    "batch_size_per_gpu": 8,
    "workers_per_gpu": 0,
    "export_onnx": False,
    "shm_size": "1G",
}
SCORING = {"batch_size_per_gpu": 8, "workers_per_gpu": 0, "shm_size": "1G"}  # mining and inference


def ours(client: Any) -> list[Any]:
    return [c for c in client.containers.list(all=True) if c.name.startswith("ymir-")]


def main() -> None:
    world, image, result_path = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    client = docker.from_env()
    seen: dict[str, Any] = {"uid": os.getuid()}
    config = world / "tiny.yaml"
    config.write_text(json.dumps(TINY))
    scoring = world / "scoring.yaml"
    scoring.write_text(json.dumps({**SCORING, "mining_algorithm": "entropy"}))
    scoring_infer = world / "scoring-infer.yaml"
    scoring_infer.write_text(json.dumps(SCORING))

    def options(work: str, **kw: Any) -> TaskOptions:
        return TaskOptions(
            model_location=world / "models",
            media_location=world / "media",
            executor=image,
            work_dir=world / work,
            **kw,
        )

    def look(value: float, stage: str) -> None:
        """While training runs: the container's user and mounts, a write to /in, /out's owner."""
        monitor = world / "work-train" / "out" / "monitor.txt"
        if "user" in seen or not monitor.exists():
            return
        (container,) = ours(client)
        seen["user"] = container.attrs["Config"]["User"]
        seen["mounts"] = {m["Destination"]: m["RW"] for m in container.attrs["Mounts"]}
        probe = container.exec_run(["touch", "/in/probe"])
        seen["write_in"] = [probe.exit_code, probe.output.decode(errors="replace").strip()]
        seen["monitor_owner"] = monitor.stat().st_uid

    report = train(
        root=world / "repo",
        src_revs="tv@m",
        dst="m0@t1",
        task_config_file=config,
        options=options("work-train", progress=look),
    )
    seen["model_hash"] = report.model_hash
    seen["map50_95"] = report.metrics["map50_95"]
    seen["map50"] = report.metrics["map50"]
    seen["model_owner"] = (world / "models" / report.model_hash).stat().st_uid
    model = f"{report.model_hash}@{report.best_stage}"
    mined = mine(
        root=world / "repo",
        src_revs="pool@i",
        dst="mined@t2",
        model=model,
        topk=3,
        add_prediction=False,
        task_config_file=scoring,
        options=options("work-mine"),
    )
    seen["mined"] = [mined.selected, mined.candidates]
    inferred = infer(
        root=world / "repo",
        src_revs="va@i",
        dst="va@t3",
        model=model,
        task_config_file=scoring_infer,
        options=options("work-infer"),
    )
    seen["inferred"] = [inferred.selected, inferred.predictions]
    seen["left_after_runs"] = [c.name for c in ours(client)]

    def started() -> bool:
        return (world / "work-cancel" / "out" / "monitor.txt").exists()

    try:
        mine(
            root=world / "repo",
            src_revs="pool@i",
            dst="mined@t4",
            model=model,
            topk=3,
            add_prediction=False,
            task_config_file=scoring,
            options=options("work-cancel", should_cancel=started),
        )
        seen["cancel"] = "not cancelled"
    except CancelledError as e:
        seen["cancel"] = str(e)
    seen["left_after_cancel"] = [c.name for c in ours(client)]
    result_path.write_text(json.dumps(seen, indent=1))


if __name__ == "__main__":
    main()

"""The mining benchmark's pipeline on a tiny pool: every mir step runs and the report holds every round.

This proves the protocol only (the numbers of so small a run mean nothing); the measured run is on a GPU,
see ``bench/mining_bench.py`` and docs/executor.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import mining_bench
from mir.store.repo import Repo


def test_tiny_benchmark_runs_every_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two cores shared: one thread per mir/executor process
    s = mining_bench.Settings(
        out=tmp_path / "bench",
        pool=24,
        val=8,
        start=6,
        step=6,
        rounds=1,
        seeds=[0],
        strategies=["balanced"],
        img_size=64,
        epochs=1,
        finetune_epochs=1,
        model_size="tiny",
        batch=8,
        parallel=1,
        full_reference=False,  # the same mir steps as round 0 (import, train, infer, evaluate): CI time
    )
    # a row left by an earlier run in the same folder (another round-0 model) is not this run's
    s.out.mkdir(parents=True)
    (s.out / "partial.jsonl").write_text('{"seed": 9, "strategy": "earlier run", "round": 3}\n')
    assert mining_bench.run(s) == 0
    partial = [json.loads(line) for line in (s.out / "partial.jsonl").read_text().splitlines()]
    assert [(r["strategy"], r["round"]) for r in partial] == [("start", 0), ("balanced", 1)]
    rows = json.loads((s.out / "results.json").read_text())
    got = {(r["strategy"], r["round"]): r for r in rows}
    assert set(got) == {("start", 0), ("balanced", 1)}
    assert got[("start", 0)]["labels"] == 6 and got[("balanced", 1)]["labels"] == 12
    assert all(
        0.0 <= r["map50"] <= 1.0 and set(r["per_class_ap50"]) <= set(mining_bench.CLASSES) for r in rows
    )
    table = (s.out / "results.md").read_text()
    assert "| balanced | 1 | 12 |" in table and "| start | 0 | 6 |" in table
    logs = sorted((s.out / "seed0" / "balanced" / "logs").glob("*-mining.log"))
    assert logs and "mined 6 of 18 assets" in logs[0].read_text()
    # the mined assets carry the algorithm's own score, not a rank mapped to evenly spaced numbers
    repo = Repo(s.out / "seed0" / "balanced" / "repo")
    tags = repo.read(repo.resolve("mined@r1")).assets["tags"].to_pylist()
    scores = sorted((float(dict(t)["mining_score"]) for t in tags), reverse=True)
    assert len(scores) == 6 and scores != [(18 - r) / 18 for r in range(6)]


def test_oracle_takes_the_classes_the_labels_lack_first(tmp_path: Path) -> None:
    """The oracle reference picks by true objects under the default's class weights: an image with a class
    the labels lack before one with several common objects, and a class's weight falls as picks fill it."""
    common = [c for c in mining_bench.CLASSES if c not in mining_bench.RARE]
    classes = {
        "labelled": [c for c in common for _ in range(40)] + ["ring"],
        "frame1": ["frame"],
        "frame2": ["frame"],
        "busy": common[:5],
        "empty": [],
    }
    files = {d: tmp_path / d for d in classes}
    oracle = mining_bench.Oracle(files, files, classes)
    pool = ["busy", "empty", "frame1", "frame2"]
    ap = dict.fromkeys(mining_bench.CLASSES, 0.5)
    assert oracle.class_balanced(pool, ["labelled"], ap, 1) == ["frame1"]  # no frame labelled: worth most
    # with one frame picked, a second is worth less than five common objects
    assert oracle.class_balanced(pool, ["labelled"], ap, 2) == ["busy", "frame1"]
    # a class the model already gets right (AP 1.0) weighs as little as the error floor allows
    assert oracle.class_balanced(pool, ["labelled"], {**ap, "frame": 1.0}, 1) == ["busy"]

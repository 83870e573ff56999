"""The seed's loop end to end with our executor as a local process, on the CPU:
import, merge tr:/va:, train, mine the pool, export for labeling, import the labels, merge, train
again from the first model — and the second model is better, as measured by mir."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.synthetic import generate_voc
from mir.ops import history
from tests.command.conftest import CliResult


def test_two_rounds_improve_map(tmp_path: Path, mir: Callable[..., CliResult]) -> None:
    data = tmp_path / "data"
    for name, n, seed in (("train", 40, 11), ("val", 60, 12), ("pool", 400, 13)):
        generate_voc(data / name, n_images=n, seed=seed, image_size=(96, 96), name_prefix=name)
    repo, media, store = tmp_path / "repo", tmp_path / "assets", tmp_path / "models"
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_size": "tiny",
                "img_size": 96,
                "epochs": 8,
                "batch_size_per_gpu": 16,
                "workers_per_gpu": 0,
                "eval_interval": 4,
                "export_onnx": False,
                "learning_rate": 0.004,
                "seed": 0,
            }
        )
    )

    def ok(*args: str | Path) -> CliResult:
        result = mir(*args, "-r", repo) if args[0] != "init" else mir(*args)
        assert result.code == 0, result.err
        return result

    ok("init", "-r", repo)
    for name in ("train", "val", "pool"):
        ok(
            "import",
            "--index-file",
            data / name / "index.txt",
            "--gt-dir",
            data / name / "annotations",
            "--gen-dir",
            media,
            "--dst-rev",
            f"{name}@import",
            "--unknown-types-strategy",
            "add",
        )
    ok("merge", "--src-revs", "tr:train@import;va:val@import", "--dst-rev", "tr-va@merged")
    common = ("--model-location", store, "--media-location", media, "--task-config-file", config)
    ok("train", "--src-revs", "tr-va@merged", "--dst-rev", "model-0@trained", *common)
    first = history.show(root=repo, rev="model-0@trained")["task"]["model"]

    ok(
        "mining",
        "--src-revs",
        "pool@import",
        "--dst-rev",
        "mining-0@mined",
        "--topk",
        "200",
        "--model-hash",
        f"{first['model_hash']}@{first['best_stage_name']}",
        *common[:4],
    )
    export = tmp_path / "export"
    ok(
        "export",
        "--src-revs",
        "mining-0@mined",
        "--asset-dir",
        export / "assets",
        "--media-location",
        media,
        "--anno-format",
        "none",
    )
    by_hash = {hashlib.sha1(p.read_bytes()).hexdigest(): p.stem for p in (data / "pool" / "images").iterdir()}
    (export / "labels").mkdir()
    exported = [Path(line) for line in (export / "assets" / "index.tsv").read_text().splitlines()]
    assert len(exported) == 200
    for img in exported:  # the annotators' work: VOC files named like the exported images
        shutil.copy(
            data / "pool" / "annotations" / f"{by_hash[img.stem]}.xml", export / "labels" / f"{img.stem}.xml"
        )
    ok(
        "import",
        "--index-file",
        export / "assets" / "index.tsv",
        "--gt-dir",
        export / "labels",
        "--gen-dir",
        media,
        "--dst-rev",
        "labeled-0@import",
    )
    ok("merge", "--src-revs", "tr-va@merged;tr:labeled-0@import", "--dst-rev", "tr-va-1@merged", "-s", "host")
    ok(
        "train",
        "--src-revs",
        "tr-va-1@merged",
        "--dst-rev",
        "model-1@trained",
        "--model-hash",
        f"{first['model_hash']}@{first['best_stage_name']}",
        *common,
    )
    second = history.show(root=repo, rev="model-1@trained")["task"]["model"]

    assert second["train_assets"] == 240 and first["train_assets"] == 40
    assert second["map50_95"] > first["map50_95"], (first["map50_95"], second["map50_95"])
    assert second["map50"] > first["map50"]
    log = mir("log", "model-1", "-r", repo).out
    assert "model-1@trained" in log and "tr-va-1@merged" in log

"""The CLI walkthrough of YMIR's README (section 4.2), unchanged, on generated VOC data.

Training and mining come with the executor; here the "mined" set is a sample of the pool, and
"labeling" writes the pool's own ground truth for the exported images, named as exported.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.synthetic import generate_voc
from mir.ops import history
from tests.command.conftest import CliResult

CLASSES = ["person", "cat", "dog"]


def test_readme_walkthrough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mir: Callable[..., CliResult]
) -> None:
    data = tmp_path / "data"
    for name, n, seed in (("training", 30, 1), ("val", 12, 2), ("mining", 40, 3)):
        generate_voc(
            data / name, n_images=n, seed=seed, classes=CLASSES, image_size=(64, 48), name_prefix=name
        )
    home = tmp_path / "home"
    repo = home / "mir-demo-repo"
    repo.mkdir(parents=True)
    monkeypatch.chdir(repo)

    def ok(*args: str | Path) -> CliResult:
        result = mir(*args)
        assert result.code == 0, result.err
        return result

    ok("init")
    (home / "ymir-assets").mkdir()
    assert (repo / "labels.csv").read_text().startswith("# type_id, preserved, main type name, alias")
    (repo / "labels.csv").write_text("0,,person\n1,,cat\n2,,dog,doggy\n")
    for ds in ("training", "val", "mining"):
        ok(
            "import",
            "--index-file",
            data / ds / "index.txt",
            "--annotation-dir",
            data / ds / "annotations",
            "--gen-dir",
            home / "ymir-assets",
            "--dataset-name",
            f"dataset-{ds}",
            "--dst-rev",
            f"dataset-{ds}@import",
        )
        if ds != "mining":
            ok("checkout", "master")
    branches = ok("branch").out
    assert "* dataset-mining" in branches and all(
        b in branches for b in ("master", "dataset-training", "dataset-val")
    )
    assert "40 (train 0, val 0, test 0, unknown 40)" in ok("show", "--src-rev", "dataset-mining").out

    ok(
        "merge",
        "--src-revs",
        "tr:dataset-training@import;va:dataset-val@import",
        "--dst-rev",
        "tr-va@merged",
        "-s",
        "host",
    )
    assert "42 (train 30, val 12, test 0, unknown 0)" in ok("show", "--src-revs", "HEAD").out
    ok("filter", "--src-revs", "tr-va@merged", "--dst-rev", "tr-va@filtered", "-p", "person;cat")
    filtered = history.show(root=repo, rev="tr-va@filtered")
    assert 0 < filtered["assets"] <= 42
    assert set(filtered["gt"]["classes"]) <= set(CLASSES)

    # stand-in for `mir mining --topk 20` until the executor lands
    ok("sampling", "--src-revs", "dataset-mining@import", "--count", "20", "--dst-rev", "mining-0@mining")
    export = tmp_path / "ymir" / "export" / "export-0"
    ok(
        "export",
        "--asset-dir",
        export / "assets",
        "--annotation-dir",
        export / "annotations",
        "--media-location",
        home / "ymir-assets",
        "--src-revs",
        "mining-0@mining",
        "--format",
        "none",
    )
    listing = subprocess.run(
        ["find", str(export / "assets")], capture_output=True, text=True, check=True
    ).stdout
    (export / "index.tsv").write_text(listing)

    # the annotators label the 20 images: VOC files named like the exported images
    by_hash = {
        hashlib.sha1(p.read_bytes()).hexdigest(): p.stem for p in (data / "mining" / "images").iterdir()
    }
    (export / "annotations").mkdir(exist_ok=True)
    exported = [Path(line) for line in listing.splitlines() if line.endswith(".jpg")]
    assert len(exported) == 20
    for img in exported:
        shutil.copy(
            data / "mining" / "annotations" / f"{by_hash[img.stem]}.xml",
            export / "annotations" / f"{img.stem}.xml",
        )
    ok(
        "import",
        "--index-file",
        export / "index.tsv",
        "--annotation-dir",
        export / "annotations",
        "--gen-dir",
        home / "ymir-assets",
        "--dataset-name",
        "dataset-mining",
        "--dst-rev",
        "labeled-0@import",
    )
    labeled = history.show(root=repo, rev="labeled-0@import")
    assert labeled["assets"] == 20 and labeled["gt"]["boxes"] > 0

    ok(
        "merge",
        "--src-revs",
        "tr-va@filtered;tr:labeled-0@import",
        "--dst-rev",
        "tr-va-1@merged",
        "-s",
        "host",
    )
    final = history.show(root=repo, rev="tr-va-1@merged")
    assert final["assets"] == filtered["assets"] + 20
    assert final["tvt"]["train"] == filtered["tvt"]["train"] + 20
    assert final["gt"]["boxes"] == filtered["gt"]["boxes"] + labeled["gt"]["boxes"]
    log = ok("log", "tr-va-1").out
    assert "tr-va-1@merged" in log and "tr-va@filtered" in log


def test_readme_walkthrough_unlabeled_mining_set_trains_only_the_named_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mir: Callable[..., CliResult]
) -> None:
    """The README's §4.2 flow with its own flags, as a new user runs it: the mining set arrives unlabeled
    (an empty annotation folder), labels.csv holds only some of the data's classes, and the training
    config names the classes to train — which are the ones trained, and what ``mir train`` says."""
    data = tmp_path / "data"
    classes = ["person", "cat", "dog", "bird"]
    for name, n, seed in (("training", 24, 1), ("val", 12, 2), ("mining", 24, 3)):
        generate_voc(
            data / name, n_images=n, seed=seed, classes=classes, image_size=(64, 64), name_prefix=name
        )
    unlabeled = data / "mining" / "unlabeled-annotations"
    unlabeled.mkdir()  # the mining set comes without annotations
    home = tmp_path / "home"
    repo = home / "mir-demo-repo"
    repo.mkdir(parents=True)
    monkeypatch.chdir(repo)

    def ok(*args: str | Path) -> CliResult:
        result = mir(*args)
        assert result.code == 0, result.err
        return result

    ok("init")
    (repo / "labels.csv").write_text("0,,person\n1,,cat\n2,,dog\n")  # no bird: not a class of ours
    assets, models = home / "ymir-assets", home / "ymir-models"
    for ds, anno_dir in (("training", None), ("val", None), ("mining", unlabeled)):
        ok(
            "import",
            "--index-file",
            data / ds / "index.txt",
            "--annotation-dir",
            anno_dir or data / ds / "annotations",
            "--gen-dir",
            assets,
            "--dataset-name",
            f"dataset-{ds}",
            "--dst-rev",
            f"dataset-{ds}@import",
            "--unknown-types-strategy",
            "ignore",
        )
        ok("checkout", "master")
    mining_set = history.show(root=repo, rev="dataset-mining@import")
    assert mining_set["assets"] == 24 and mining_set["gt"]["boxes"] == 0
    ok(
        "merge",
        "--src-revs",
        "tr:dataset-training@import;va:dataset-val@import",
        "--dst-rev",
        "tr-va@merged",
        "-s",
        "host",
    )
    ok("filter", "--src-revs", "tr-va@merged", "--dst-rev", "tr-va@filtered", "-p", "person;cat")
    filtered = history.show(root=repo, rev="tr-va@filtered")
    assert "dog" in filtered["gt"]["classes"]  # all classes of the set would have included dog

    config = home / "training-config.yaml"
    config.write_text(
        "class_names: [person, cat]\nmodel_size: tiny\nimg_size: 64\nepochs: 1\nbatch_size_per_gpu: 8\n"
        "workers_per_gpu: 0\neval_interval: 1\nexport_onnx: false\n"
    )
    trained = ok(
        "train",
        "-w",
        tmp_path / "ymir" / "training" / "train-0",
        "--media-location",
        assets,
        "--model-location",
        models,
        "--task-config-file",
        config,
        "--src-revs",
        "tr-va@filtered",
        "--dst-rev",
        "training-0@trained",
    )
    assert "trained classes: person, cat (from class_names of the task config)" in trained.out
    model = history.show(root=repo, rev="training-0@trained")["task"]["model"]
    assert model["class_names"] == ["person", "cat"]

    mined = ok(
        "mining",
        "--src-revs",
        "dataset-mining@import",
        "--dst-rev",
        "mining-0@mining",
        "-w",
        tmp_path / "ymir" / "mining" / "mining-0",
        "--topk",
        "10",
        "--model-location",
        models,
        "--media-location",
        assets,
        "--model-hash",
        f"{model['model_hash']}@{model['best_stage_name']}",
    )
    assert mined.code == 0
    assert history.show(root=repo, rev="mining-0@mining")["assets"] == 10

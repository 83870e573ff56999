"""Evaluation: marks on hand-made cases, and numbers equal to pycocotools' on generated data."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from mir.errors import InvalidArgsError
from mir.ops.evaluate import evaluate_dataset
from mir.store.repo import Repo
from mir.store.schema import Mark
from tests.command.conftest import commit_snapshot


def _marks(repo: Path, rev: str, side: str) -> dict[tuple[str, float], int]:
    r = Repo(repo)
    snap = r.read(r.resolve(rev))
    return {(b["asset_id"], b["x"]): b["mark"] for b in snap.table(side).to_pylist()}


def test_marks_on_hand_made_cases(repo: Path) -> None:
    commit_snapshot(
        repo,
        "v@t1",
        {"i1": 0, "i2": 0, "i3": 0},
        gt=[
            ("i1", "cat", 0, 0, 10, 10),
            ("i1", "cat", 50, 50, 10, 10),
            ("i2", "dog", 0, 0, 20, 20),
            ("i3", "cat", 0, 0, 10, 10),
        ],
        pred=[
            ("i1", "cat", 1, 1, 10, 10),  # TP for the first cat (IoU .68)
            ("i1", "cat", 0.5, 0.5, 10, 10),  # duplicate of the same cat: FP
            ("i2", "cat", 0, 0, 20, 20),  # right place, wrong class: FP (cat), the dog is FN
            ("i3", "cat", 30, 30, 10, 10),
        ],  # nothing there: FP; i3's cat is FN
    )
    commit, result = evaluate_dataset(root=repo, src_revs="v@t1", dst="v@eval")
    gt = _marks(repo, "v@eval", "gt")
    assert gt == {("i1", 0.0): Mark.MTP, ("i1", 50.0): Mark.FN, ("i2", 0.0): Mark.FN, ("i3", 0.0): Mark.FN}
    pred = _marks(repo, "v@eval", "pred")
    assert pred == {("i1", 1.0): Mark.TP, ("i1", 0.5): Mark.FP, ("i2", 0.0): Mark.FP, ("i3", 30.0): Mark.FP}
    cat = result["per_class"]["0"]
    assert (cat["tp"], cat["fp"], cat["fn"]) == (1, 3, 2)
    conf = result["confusion"]
    names = conf["classes"]  # class ids as strings: cat 0, dog 1
    assert conf["matrix"][names.index("1")][names.index("0")] == 1  # a dog predicted as a cat
    assert commit.evaluation is not None and commit.evaluation["map50"] == result["map50"]


def test_equal_to_pycocotools(repo: Path) -> None:
    rng = np.random.default_rng(0)
    assets = {f"a{i}": 0 for i in range(40)}
    gt, pred = [], []
    for a in assets:
        for _ in range(rng.integers(1, 4)):
            cls = ["cat", "dog", "car"][rng.integers(0, 3)]
            x, y, w, h = (float(v) for v in (*rng.integers(0, 60, 2), *rng.integers(8, 30, 2)))
            gt.append((a, cls, x, y, w, h))
            if rng.random() < 0.8:
                jitter = rng.normal(0, 3, 4)
                pred.append(
                    (
                        a,
                        cls if rng.random() < 0.9 else "dog",
                        x + jitter[0],
                        y + jitter[1],
                        max(w + jitter[2], 1),
                        max(h + jitter[3], 1),
                    )
                )
        if rng.random() < 0.3:
            pred.append((a, "car", 70.0, 70.0, 10.0, 10.0))
    commit_snapshot(repo, "v@t1", assets, gt=gt, pred=pred)
    # give predictions distinct scores
    r = Repo(repo)
    snap = r.read(r.resolve("v@t1"))
    _, result = evaluate_dataset(root=repo, src_revs="v@t1", dst="v@eval")

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from mir.evaluation import _coco_dicts

    class_ids = sorted(set(snap.gt["class_id"].to_pylist()) | set(snap.pred["class_id"].to_pylist()))
    gt_doc, dts = _coco_dicts(snap, class_ids, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt_doc
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dts), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert result["map50_95"] == pytest.approx(ev.stats[0], abs=1e-6)
    assert result["map50"] == pytest.approx(ev.stats[1], abs=1e-6)
    assert 0 < result["map50_95"] < result["map50"] <= 1


def test_evaluate_bad_input(repo: Path) -> None:
    commit_snapshot(repo, "g@t1", {"a": 0}, gt=[("a", "cat", 0, 0, 5, 5)])
    with pytest.raises(InvalidArgsError, match="no predictions"):
        evaluate_dataset(root=repo, src_revs="g@t1", dst="g@e")
    with pytest.raises(InvalidArgsError, match="conf-thr"):
        evaluate_dataset(root=repo, src_revs="g@t1", dst="g@e", conf_thr=2)

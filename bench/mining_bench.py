"""Active-learning benchmark of the mining algorithms, run through ``mir`` end to end (issue 15).

Protocol, per seed and strategy, every step a ``mir`` command in its own process:

  r0:  import the pool without labels and the validation set with; label ``--start`` random pool images
       (the oracle: the generator's ground truth), train, infer and evaluate on the validation set.
  r1..rN: ``mir mining`` the unlabelled rest (``--topk --step``), ``mir export`` the mined images, look
       their labels up in the oracle by content hash, ``mir import`` them with labels, ``mir merge`` them
       into the labelled set and out of the pool, ``mir train`` (fine-tuning the round before's model),
       ``mir infer`` + ``mir evaluate`` on the validation set (mAP@.5, per-class AP@.5).

One round-0 model per seed is shared by every strategy of that seed (same start, same model). A
full-pool reference trains on the whole labelled pool. The data (``bench.synthetic``) is hard in the ways
real data is: 10 classes of which 3 are rare (3% of the objects each) and look like common ones (an
outlined circle and square next to the solid ones, a hexagon next to the circle), clutter, occlusion, a
scale spread of 12x, 0-8 objects per image with empty images; the validation set comes from another
source (other image size and aspect, more clutter, lower JPEG quality, all classes equally often).

Run on a GPU (chains run in parallel processes, ``--parallel``; with several ``--gpu-ids`` each chain
runs on one of them, in turn), as measured in docs/benchmarks.md::

    python -m bench.mining_bench --out /tmp/mb --pool 6000 --val 600 --start 300 --step 300 --rounds 3 \
        --seeds 4,5,6,7 --strategies random,balanced,balanced+novelty_features=image --gpu-ids 0 \
        --parallel 16 --epochs 60 --finetune-epochs 60 --full-epochs 60 --no-full-reference

Training takes the executor template's defaults (so repeat-factor sampling, ``repeat_factor_threshold:
auto``) with the bench's sizes and epochs; ``--train-extra '{"repeat_factor_threshold": 0}'`` turns it off
for both arms.

The strategy ``oracle`` is a reference, not a mining algorithm: it picks by the pool's true classes under
the default's class weights (``Oracle.class_balanced``), the most a class-balanced selection could do.

Writes ``results.json``, ``results.md`` (per strategy and round: mAP@.5 and rare-class AP@.5, mean ± sd
over seeds, gain over random, boxes and rare objects labelled, seconds of mining and training) and, when
matplotlib is importable, ``map_vs_labels.png``. ``tests/bench/test_mining_bench.py`` runs a tiny version
on the CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.synthetic import generate_voc

CLASSES = [
    "circle",
    "square",
    "triangle",
    "diamond",
    "star",
    "cross",
    "hexagon",
    "arrow",
    "ring",
    "frame",
]  # class i is drawn as synthetic.SHAPES[i % 8], outlined from i = 8: ring = outlined circle, frame = square
RARE = ["hexagon", "ring", "frame"]
RARE_WEIGHT = 0.03
MIR = "import sys; from mir.cli import main; sys.exit(main())"


@dataclass
class Settings:
    """What one benchmark run does."""

    out: Path
    pool: int = 6000
    val: int = 600
    start: int = 300
    step: int = 300
    rounds: int = 3
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    strategies: list[str] = field(default_factory=lambda: ["random", "hybrid", "balanced"])
    img_size: int = 160
    epochs: int = 30
    finetune_epochs: int = 20
    full_epochs: int = 20
    model_size: str = "small"
    batch: int = 64
    gpu_ids: str = ""
    parallel: int = 1
    full_reference: bool = True
    train_eval: bool = True  # read mir train's own evaluation instead of running mir infer + evaluate
    train_extra: dict[str, Any] = field(default_factory=dict)
    mine_extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RoundResult:
    """One evaluated model of one chain."""

    seed: int
    strategy: str
    round: int
    labels: int
    map50: float
    rare_ap50: float
    per_class_ap50: dict[str, float]
    rare_objects: int
    objects: int
    mining_s: float = 0.0
    training_s: float = 0.0


# ------------------------------------------------------------------------------------------------ data


def _gen(args: tuple[Path, int, int, dict[str, Any]]) -> None:
    out, n, seed, kw = args
    generate_voc(out, n_images=n, seed=seed, classes=CLASSES, **kw)


def generate(root: Path, s: Settings) -> tuple[list[Path], list[Path]]:
    """Pool and validation data in chunks (parallel); returns the chunk roots of each."""
    weights = [RARE_WEIGHT if c in RARE else 1.0 for c in CLASSES]
    pool_kw = {
        "image_size": (s.img_size, s.img_size),
        "objects_per_image": (0, 8),
        "object_size": (0.04, 0.5),
        "clutter": 0.6,
        "occlusion": 0.35,
        "class_weights": weights,
        "jpeg_quality": 90,
    }
    val_kw = {
        "image_size": (s.img_size * 5 // 4, s.img_size * 3 // 4),
        "objects_per_image": (1, 8),
        "object_size": (0.05, 0.5),
        "clutter": 0.9,
        "occlusion": 0.35,
        "class_weights": None,
        "jpeg_quality": 70,
    }
    procs = max(1, min(16, os.cpu_count() or 1))
    jobs = []
    pool_roots, val_roots = [], []
    per = math.ceil(s.pool / procs)
    for i in range(procs):
        n = min(per, s.pool - i * per)
        if n > 0:
            pool_roots.append(root / f"pool{i}")
            jobs.append((pool_roots[-1], n, 1000 + i, {**pool_kw, "name_prefix": f"pool{i}"}))
    per = math.ceil(s.val / procs)
    for i in range(procs):
        n = min(per, s.val - i * per)
        if n > 0:
            val_roots.append(root / f"val{i}")
            jobs.append((val_roots[-1], n, 5000 + i, {**val_kw, "name_prefix": f"val{i}"}))
    if all((r / "index.txt").is_file() for r in pool_roots + val_roots):
        return pool_roots, val_roots
    with multiprocessing.get_context("spawn").Pool(procs) as p:
        p.map(_gen, jobs)
    return pool_roots, val_roots


def difficulty(ap50: dict[str, float]) -> np.ndarray:
    """(C,) each class's validation difficulty as ``balanced`` mining weighs it (``mining_difficulty:
    validation``): 1 - AP@.5 (at least 0.01), relative to the classes' mean; a class without a figure counts
    as the mean."""
    err = np.array([max(0.01, 1.0 - ap50.get(c, float("nan"))) for c in CLASSES])
    err = np.where(np.isfinite(err), err, np.nanmean(err))
    return np.asarray(err / err.mean())


@dataclass
class Oracle:
    """The pool's ground truth, by image content hash (what ``mir export`` names files by)."""

    image: dict[str, Path]  # sha1 -> image
    xml: dict[str, Path]  # sha1 -> VOC annotation
    classes: dict[str, list[str]]  # sha1 -> class names of its objects

    @classmethod
    def of(cls, roots: list[Path]) -> Oracle:
        image, xml, classes = {}, {}, {}
        for r in roots:
            for line in (r / "index.txt").read_text().split():
                p = Path(line)
                digest = hashlib.sha1(p.read_bytes()).hexdigest()
                a = r / "annotations" / f"{p.stem}.xml"
                image[digest], xml[digest] = p, a
                classes[digest] = [o.findtext("name") or "" for o in ET.parse(a).getroot().iter("object")]
        return cls(image, xml, classes)

    def write(self, digests: list[str], folder: Path) -> Path:
        """An index file and VOC folder of these images with their labels; returns the index file."""
        ann = folder / "annotations"
        ann.mkdir(parents=True, exist_ok=True)
        for d in digests:
            shutil.copyfile(self.xml[d], ann / self.xml[d].name)
        index = folder / "index.txt"
        index.write_text("".join(f"{self.image[d]}\n" for d in digests))
        return index

    def class_balanced(
        self, candidates: list[str], labels: list[str], ap50: dict[str, float], k: int, balance: float = 0.5
    ) -> list[str]:
        """The ``oracle`` strategy: ``k`` candidates picked greedily by their true objects, each worth its
        class's weight, the weight being the default's with the labels known: difficulty (1 - AP@.5 on the
        validation set, relative to the mean) x (mean labelled count / the class's count) ** ``balance``,
        the counts growing with the picks. An upper reference for the class-balance part of ``balanced``:
        it knows every object's class, and nothing of what the model gets wrong."""
        idx = {c: i for i, c in enumerate(CLASSES)}
        m = np.zeros((len(candidates), len(CLASSES)))
        for r, d in enumerate(candidates):
            for name in self.classes[d]:
                m[r, idx[name]] += 1
        have = np.ones(len(CLASSES))
        for d in labels:
            for name in self.classes[d]:
                have[idx[name]] += 1
        diff = difficulty(ap50)
        taken = np.zeros(len(candidates), dtype=bool)
        picks = []
        for _ in range(min(k, len(candidates))):
            worth = m @ (diff * (have.mean() / have) ** balance)
            worth[taken] = -np.inf
            i = int(np.argmax(worth))
            taken[i] = True
            have += m[i]
            picks.append(candidates[i])
        return sorted(picks)

    def count(self, digests: list[str]) -> tuple[int, int]:
        """(rare objects, all objects) in these images."""
        names = [n for d in digests for n in self.classes[d]]
        return sum(n in RARE for n in names), len(names)


# ------------------------------------------------------------------------------------------------ mir


class Chain:
    """One repository and its mir commands; every command's output goes to ``logs/``."""

    def __init__(self, root: Path, s: Settings, gpu: str = "") -> None:
        self.root, self.s = root, s
        self.gpu = gpu or s.gpu_ids.split(",")[0]  # one GPU per chain: its tasks never span several
        self.repo, self.media, self.models = root / "repo", root / "media", root / "models"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.n = len(list(self.logs.glob("*.log")))  # a chain copied from round 0 numbers on

    def mir(self, *args: str) -> str:
        self.n += 1
        name = f"{self.n:03d}-{args[0]}"
        cmd = [sys.executable, "-c", MIR, *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        (self.logs / f"{name}.log").write_text(" ".join(args) + "\n" + proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise RuntimeError(f"mir {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc.stdout

    def task(self, *args: str) -> str:
        common = ["--model-location", str(self.models), "--media-location", str(self.media)]
        gpu = ["--gpu-ids", self.gpu] if self.gpu else []
        return self.mir(*args, "-r", str(self.repo), *common, *gpu)

    def import_(self, index: Path, dst: str, *, annotations: Path | None) -> None:
        """Import the images ``index`` lists as ``dst``, the VOC files in ``annotations`` (None: none)."""
        annos = ["--gt-dir", str(annotations)] if annotations else ["--anno-type", "no-annos"]
        self.mir(
            "import", "-r", str(self.repo), "--index-file", str(index), *annos, "--dst-rev", dst,
            "--gen-dir", str(self.media), "--unknown-types-strategy", "add",
        )  # fmt: skip

    def merge(self, dst: str, src: str, *more: str) -> None:
        """``dst`` from the versions ``src`` (more merge flags in ``more``, e.g. ``--ex-src-revs``)."""
        self.mir("merge", "-r", str(self.repo), "--src-revs", src, *more, "--dst-rev", dst)

    def config(self, name: str, values: dict[str, Any]) -> str:
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(values))
        return str(path)

    def train_config(self, epochs: int) -> dict[str, Any]:
        return {
            "class_names": CLASSES,
            "model_size": self.s.model_size,
            "img_size": self.s.img_size,
            "epochs": epochs,
            "batch_size_per_gpu": self.s.batch,
            "workers_per_gpu": 4 if self.s.gpu_ids else 0,
            "eval_interval": epochs,
            "keep_stages": 1,
            "export_onnx": False,
            **self.s.train_extra,
        }

    def train(
        self, src: str, dst: str, epochs: int, model: str | None, unlabeled: str = ""
    ) -> tuple[str, float]:
        t = time.perf_counter()
        args = ["train", "--src-revs", f"tr:{src};va:val@import", "--dst-rev", dst]
        args += ["--task-config-file", self.config(dst.replace("@", "_"), self.train_config(epochs))]
        if model:
            args += ["--model-hash", model]
        if unlabeled:
            args += ["--unlabeled-revs", unlabeled]
        out = self.task(*args)
        m = re.search(r"trained model (\w+) \(best stage ([^)]+)\)", out)
        if not m:
            raise RuntimeError(f"cannot read the model hash from: {out}")
        return f"{m.group(1)}@{m.group(2)}", time.perf_counter() - t

    def trained_eval(self, dst: str) -> tuple[float, dict[str, float]]:
        """mAP@.5 and per-class AP@.5 that ``mir train`` measured on the validation set for ``dst``
        (its own evaluator on the best stage: no second inference)."""
        from mir.store.repo import Repo

        ev = Repo(self.repo).resolve(dst).task["model"]["evaluation"]
        names = ev.get("class_names", {})
        per = {str(names.get(str(k), k)): float(v["ap50"]) for k, v in ev["per_class"].items()}
        return float(ev["map50"]), per

    def evaluate(self, model: str, tag: str) -> tuple[float, dict[str, float]]:
        if self.s.train_eval:
            return self.trained_eval(f"model@{tag}")
        cfg = {"workers_per_gpu": 4 if self.s.gpu_ids else 0, "conf_threshold": 0.01, "max_boxes": 100}
        self.task(
            "infer", "--src-revs", "val@import", "--dst-rev", f"valpred@{tag}", "--model-hash", model,
            "--task-config-file", self.config(f"infer_{tag}", cfg),
        )  # fmt: skip
        out = self.mir(
            "evaluate", "-r", str(self.repo), "--src-revs", f"valpred@{tag}", "--dst-rev", f"valeval@{tag}"
        )
        m = re.search(r"(?:mAP@\.5|map50) ([0-9.]+)", out)
        per = {
            name: float(ap50)
            for name, ap50 in re.findall(r"^\s+(\S+)\s+AP [0-9.]+\s+AP50 ([0-9.]+)", out, flags=re.M)
        }
        if not m:
            raise RuntimeError(f"cannot read mAP from: {out}")
        return float(m.group(1)), per

    def mined(self, tag: str) -> list[str]:
        """Content hashes of a version's images, through ``mir export`` (files are named by their sha1)."""
        target = self.root / "export" / tag
        shutil.rmtree(target, ignore_errors=True)
        self.mir(
            "export", "-r", str(self.repo), "--src-revs", tag, "--asset-dir", str(target),
            "--media-location", str(self.media), "--anno-format", "none",
        )  # fmt: skip
        return sorted(p.stem for p in target.rglob("*.jpg"))


def _record(s: Settings, res: RoundResult) -> RoundResult:
    """Appends a result to ``partial.jsonl`` at once, so a run stopped early keeps its finished rounds."""
    with (s.out / "partial.jsonl").open("a") as fh:
        fh.write(json.dumps(asdict(res)) + "\n")
    return res


def _result(
    seed: int,
    strategy: str,
    rnd: int,
    labels: list[str],
    oracle: Oracle,
    ev: tuple[float, dict[str, float]],
    **kw: float,
) -> RoundResult:
    map50, per = ev
    rare, total = oracle.count(labels)
    rare_ap = statistics.fmean(per.get(c, 0.0) for c in RARE)
    return RoundResult(seed, strategy, rnd, len(labels), map50, rare_ap, per, rare, total, **kw)


def round_zero(
    seed: int, s: Settings, oracle: Oracle, val_index: Path, val_gt: Path, pool_index: Path, gpu: str = ""
) -> tuple[Path, str, list[str], RoundResult]:
    """Per seed: a repository with the pool (unlabelled), the validation set and the first labels."""
    root = s.out / f"seed{seed}" / "r0"
    shutil.rmtree(root, ignore_errors=True)
    c = Chain(root, s, gpu)
    c.mir("init", "-r", str(c.repo))
    c.import_(val_index, "val@import", annotations=val_gt / "annotations")
    c.import_(pool_index, "pool@import", annotations=None)
    rng = __import__("random").Random(seed)
    first = sorted(rng.sample(sorted(oracle.image), s.start))
    index = oracle.write(first, root / "labels0")
    c.import_(index, "new@r0", annotations=index.parent / "annotations")
    c.merge("labeled@r0", "new@r0")
    c.merge("rest@r0", "pool@import", "--ex-src-revs", "new@r0")
    model, secs = c.train("labeled@r0", "model@r0", s.epochs, None)
    res = _record(s, _result(seed, "start", 0, first, oracle, c.evaluate(model, "r0"), training_s=secs))
    return root, model, first, res


def run_chain(
    seed: int,
    strategy: str,
    s: Settings,
    oracle: Oracle,
    r0: Path,
    model: str,
    first: list[str],
    gpu: str = "",
) -> list[RoundResult]:
    """Rounds 1..N of one strategy, in a copy of the seed's round-0 repository.

    A strategy is a mining algorithm, optionally with mining-config values: ``balanced+novelty_radius=0``,
    and ``+pseudo`` trains each round on the rest of the pool too, with pseudo-labels. ``oracle`` is no
    mining algorithm but a reference that picks by the true labels (``Oracle.class_balanced``).
    """
    algorithm, *pairs = strategy.split("+")
    variant = {k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in pairs if "=" in p)}
    pseudo = "pseudo" in pairs
    root = s.out / f"seed{seed}" / strategy.replace("+", "_").replace("=", "-")
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(r0, root, symlinks=True)
    c = Chain(root, s, gpu)
    labels = list(first)
    out = []
    for r in range(1, s.rounds + 1):
        t = time.perf_counter()
        cfg = {
            "workers_per_gpu": 4 if s.gpu_ids else 0,
            "batch_size_per_gpu": 256,
            "seed": seed * 100 + r,
            **s.mine_extra,
            **variant,
        }
        if algorithm == "oracle":
            rest = sorted(set(oracle.image) - set(labels))
            picked = oracle.class_balanced(rest, labels, c.trained_eval(f"model@r{r - 1}")[1], s.step)
        else:
            c.task(
                "mining", "--src-revs", f"rest@r{r - 1}", "--dst-rev", f"mined@r{r}", "--topk", str(s.step),
                "--model-hash", model, "--mining-algorithm", algorithm,
                "--task-config-file", c.config(f"mine_r{r}", cfg),
            )  # fmt: skip
            picked = c.mined(f"mined@r{r}")
        mining_s = time.perf_counter() - t
        if len(picked) != s.step:
            raise RuntimeError(f"{strategy} round {r}: mined {len(picked)} images, wanted {s.step}")
        index = oracle.write(picked, root / f"labels{r}")
        c.import_(index, f"new@r{r}", annotations=index.parent / "annotations")
        c.merge(f"labeled@r{r}", f"labeled@r{r - 1};new@r{r}", "-s", "host")
        c.merge(f"rest@r{r}", f"rest@r{r - 1}", "--ex-src-revs", f"new@r{r}")
        labels += picked
        unlabeled = f"rest@r{r}" if pseudo else ""
        model, train_s = c.train(f"labeled@r{r}", f"model@r{r}", s.finetune_epochs, model, unlabeled)
        ev = c.evaluate(model, f"r{r}")
        out.append(
            _record(
                s,
                _result(seed, strategy, r, labels, oracle, ev, mining_s=mining_s, training_s=train_s),
            )
        )
        print(f"seed {seed} {strategy} r{r}: mAP@.5 {out[-1].map50:.4f} rare AP50 {out[-1].rare_ap50:.4f} "
              f"(mining {mining_s:.1f} s, training {train_s:.1f} s)", flush=True)  # fmt: skip
    return out


def full_reference(s: Settings, oracle: Oracle, r0: Path) -> RoundResult:
    """A model trained on the whole pool with its labels (seed 0's repository)."""
    root = s.out / "full"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(r0, root, symlinks=True)
    c = Chain(root, s)
    everything = sorted(oracle.image)
    index = oracle.write(everything, root / "labels")
    c.import_(index, "all@full", annotations=index.parent / "annotations")
    model, secs = c.train("all@full", "model@full", s.full_epochs, None)
    return _record(s, _result(0, "full", 0, everything, oracle, c.evaluate(model, "full"), training_s=secs))


# ------------------------------------------------------------------------------------------------ report


def _ms(values: list[float]) -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values) * 100:.1f} ± {sd * 100:.1f}"


def report(results: list[RoundResult], s: Settings) -> str:
    """Markdown: per strategy and round, mean ± sd over seeds (points), gain over random, costs."""
    by: dict[tuple[str, int], list[RoundResult]] = {}
    for r in results:
        by.setdefault((r.strategy, r.round), []).append(r)
    lines = [
        f"pool {s.pool}, start {s.start}, +{s.step} per round, {s.rounds} rounds, seeds {s.seeds}, "
        f"{s.img_size} px, model {s.model_size}, epochs {s.epochs}/{s.finetune_epochs} (start/fine-tune)",
        "",
        "| strategy | round | labels | mAP@.5 | gain vs random | rare AP@.5 | rare gain | boxes labelled "
        "| rare objects | mining s | training s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (strategy, rnd), rs in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        base = {x.seed: x for x in by.get(("random", rnd), [])}
        gains = [x.map50 - base[x.seed].map50 for x in rs if x.seed in base]
        rgains = [x.rare_ap50 - base[x.seed].rare_ap50 for x in rs if x.seed in base]
        lines.append(
            f"| {strategy} | {rnd} | {rs[0].labels} | {_ms([x.map50 for x in rs])} | "
            f"{_ms(gains) if strategy != 'random' and gains else '–'} | {_ms([x.rare_ap50 for x in rs])} | "
            f"{_ms(rgains) if strategy != 'random' and rgains else '–'} | "
            f"{statistics.fmean(x.objects for x in rs):,.0f} | "
            f"{statistics.fmean(x.rare_objects for x in rs):.0f} | "
            f"{statistics.fmean(x.mining_s for x in rs):.1f} | "
            f"{statistics.fmean(x.training_s for x in rs):.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: list[RoundResult], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001 - the plot is optional
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    strategies = sorted({r.strategy for r in results} - {"start", "full"})
    start = [r for r in results if r.strategy == "start"]
    for st in strategies:
        pts: dict[int, list[float]] = {}
        for r in start + [r for r in results if r.strategy == st]:
            pts.setdefault(r.labels, []).append(r.map50)
        xs = sorted(pts)
        sd = [statistics.stdev(pts[x]) if len(pts[x]) > 1 else 0 for x in xs]
        ax.errorbar(xs, [statistics.fmean(pts[x]) for x in xs], yerr=sd, label=st, marker="o", capsize=3)
    for r in results:
        if r.strategy == "full":
            ax.axhline(r.map50, color="grey", linestyle="--", label=f"full pool ({r.labels} labels)")
    ax.set_xlabel("labelled images")
    ax.set_ylabel("mAP@.5 (validation, other source)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench/out/mining"))
    for name, default in asdict(Settings(Path("."))).items():
        if name in ("out", "train_extra", "mine_extra", "full_reference", "train_eval"):
            continue
        if isinstance(default, list):
            p.add_argument(f"--{name.replace('_', '-')}", default=",".join(map(str, default)))
        else:
            p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    p.add_argument("--no-full-reference", action="store_true")
    p.add_argument("--infer-eval", action="store_true", help="evaluate with mir infer + evaluate")
    p.add_argument("--train-extra", default="{}", help="JSON of extra training-config keys")
    p.add_argument("--mine-extra", default="{}", help="JSON of extra mining-config keys")
    a = p.parse_args(argv)
    s = Settings(
        out=a.out.absolute(),
        pool=a.pool, val=a.val, start=a.start, step=a.step, rounds=a.rounds,
        seeds=[int(x) for x in a.seeds.split(",") if x], strategies=[x for x in a.strategies.split(",") if x],
        img_size=a.img_size, epochs=a.epochs, finetune_epochs=a.finetune_epochs, full_epochs=a.full_epochs,
        model_size=a.model_size, batch=a.batch, gpu_ids=a.gpu_ids, parallel=a.parallel,
        full_reference=not a.no_full_reference, train_eval=not a.infer_eval,
        train_extra=json.loads(a.train_extra), mine_extra=json.loads(a.mine_extra),
    )  # fmt: skip
    return run(s)


def prepare(s: Settings) -> tuple[Oracle, Path, Path]:
    """The data under ``s.out / "data"`` (generated once): the pool's oracle, the pool's index file, and the
    validation folder (``index.txt`` and ``annotations/``)."""
    pool_roots, val_roots = generate(s.out / "data", s)
    oracle = Oracle.of(pool_roots)
    pool_index = s.out / "data" / "pool.txt"
    pool_index.write_text("".join(f"{p}\n" for p in sorted(oracle.image.values())))
    val_gt = s.out / "data" / "val"
    (val_gt / "annotations").mkdir(parents=True, exist_ok=True)
    val_lines = []
    for r in val_roots:
        for line in (r / "index.txt").read_text().split():
            val_lines.append(line)
            stem = Path(line).stem
            shutil.copyfile(r / "annotations" / f"{stem}.xml", val_gt / "annotations" / f"{stem}.xml")
    (val_gt / "index.txt").write_text("".join(f"{x}\n" for x in val_lines))
    return oracle, pool_index, val_gt


def run(s: Settings) -> int:
    """Runs the benchmark; writes results.json/.md (and the plot) under ``s.out``."""
    t0 = time.perf_counter()
    s.out.mkdir(parents=True, exist_ok=True)
    # rows of an earlier run in the same folder would be read as this run's (other round-0 models)
    (s.out / "partial.jsonl").unlink(missing_ok=True)
    oracle, pool_index, val_gt = prepare(s)
    print(f"data ready in {time.perf_counter() - t0:.0f} s", flush=True)
    results: list[RoundResult] = []
    gpus = [g for g in s.gpu_ids.split(",") if g] or [""]
    spread = itertools.cycle(gpus)  # chains take the GPUs in turn
    with ThreadPoolExecutor(max(1, s.parallel)) as ex:
        starts = {
            seed: ex.submit(
                round_zero, seed, s, oracle, val_gt / "index.txt", val_gt, pool_index, next(spread)
            )
            for seed in s.seeds
        }
        full = None
        chains = []
        for seed, fut in starts.items():
            r0, model, first, res = fut.result()
            results.append(res)
            print(f"seed {seed} r0: mAP@.5 {res.map50:.4f} ({res.training_s:.1f} s)", flush=True)
            if s.full_reference and full is None:
                full = ex.submit(full_reference, s, oracle, r0)
            chains += [
                ex.submit(run_chain, seed, st, s, oracle, r0, model, first, next(spread))
                for st in s.strategies
            ]
        for chain in chains:
            results += chain.result()
        if full is not None:
            results.append(full.result())
    (s.out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    text = report(results, s)
    for res in results:
        if res.strategy == "full":
            text += (
                f"\nfull-pool reference: {res.labels} labels, mAP@.5 {res.map50 * 100:.1f}, "
                f"rare AP@.5 {res.rare_ap50 * 100:.1f} ({res.training_s:.0f} s)\n"
            )
    text += f"\nwall time {time.perf_counter() - t0:.0f} s\n"
    (s.out / "results.md").write_text(text)
    plot(results, s.out / "map_vs_labels.png")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

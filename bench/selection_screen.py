"""Screens selection ideas for ``balanced`` mining in minutes on a CPU: the rare objects each would label.

A run of the mining benchmark (``bench/mining_bench.py``) costs a GPU and several minutes per idea. Over
every run so far, a selection's round-1 gain over random followed the rare objects it labelled in round 1
(docs/benchmarks.md: the oracle 238 rare objects and +6.7 mAP@.5 points, the default about 52 and +3.0,
power sampling 30–35 and +0.5 to +1.5, random 28). So this script runs round 0 of the benchmark through
``mir`` (the same data, seed and training), scores the pool once with the round-0 model's detections, and
runs every selection on those same detections, counting what it would label. It measures no mAP: an idea
that finds many more rare objects here is worth a benchmark run, one that finds fewer is not. It ends with
rankings that look for the rare classes alone (``_rankings``): how many any score of the model's
detections or features could find.

Selections (``--variants``):
  random          ``--step`` images at random;
  balanced        the default (``balanced.balanced_order`` with the executor's weights);
  balance=X       the default at ``class_balance`` X;
  seen            the default, each detection's uncertainty times its novelty against the labelled
                  objects of its (most likely) class: min(1, distance to the nearest / radius), on the
                  same neck features, so kinds of object the labels already hold count less;
  seen-presence   the same with each detection's score in place of its uncertainty;
  exemplar        the default with each detection's class distribution averaged with the class of
                  the nearest labelled object (its neck feature's nearest neighbour);
  oracle          the benchmark's oracle (the true classes).

    python -m bench.selection_screen --out /tmp/screen --seed 0 --epochs 60
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from bench import mining_bench as mb
from ymir_executor import balanced, checkpoint, mining
from ymir_executor.images import load_letterboxed
from ymir_executor.model import Detector

STRIDE = 4  # the neck map's cell in input pixels


def _model(models: Path, ref: str) -> tuple[Detector, int]:
    """The round-0 model (``hash@stage``) from mir's model location, and its input size."""
    digest, stage = ref.split("@")
    with tarfile.open(models / digest) as tar:
        f = tar.extractfile(f"{stage}/{checkpoint.WEIGHTS_FILE}")
        assert f is not None
        target = models.parent / "screen_model.pt"
        target.write_bytes(f.read())
    ckpt = checkpoint.load(target)
    return ckpt.build().eval(), ckpt.img_size


@torch.no_grad()
def _pool_boxes(model: Detector, paths: list[Path], size: int) -> mining.Boxes:
    """The executor's detections of every pool image (``mining.image_boxes``), batch by batch."""
    parts = []
    for a in range(0, len(paths), 128):
        x = torch.stack(
            [torch.from_numpy(load_letterboxed(p, size).pixels).permute(2, 0, 1) for p in paths[a : a + 128]]
        )
        parts.append(mining.image_boxes(model.predict(x.float() / 255.0), conf_threshold=0.05))
    f = [p.f for p in parts]
    return mining.Boxes(
        torch.cat([p.u for p in parts]),
        torch.cat([p.s for p in parts]),
        torch.cat([p.q for p in parts]).half(),
        torch.cat([x for x in f if x is not None]) if all(x is not None for x in f) else None,
    )


def _centre_cell(obj: ET.Element, scale: float, grid: Sequence[int]) -> tuple[int, int]:
    """(row, column) of the stride-4 cell under a VOC object's box centre, in a letterboxed image of
    ``scale`` input pixels per original pixel, on a map of ``grid`` (h, w) cells."""
    b = obj.find("bndbox")
    assert b is not None
    x0, y0, x1, y1 = (float(b.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax"))
    return (
        min(grid[0] - 1, int((y0 + y1) / 2 * scale / STRIDE)),
        min(grid[1] - 1, int((x0 + x1) / 2 * scale / STRIDE)),
    )


@torch.no_grad()
def _labelled_features(
    model: Detector, oracle: mb.Oracle, labels: list[str], size: int
) -> tuple[torch.Tensor, ...]:
    """(K, D) unit neck features at the centre cells of the labelled objects, and their classes (K,)."""
    idx = {c: i for i, c in enumerate(mb.CLASSES)}
    feats, classes = [], []
    for d in labels:
        lb = load_letterboxed(oracle.image[d], size)
        objs = list(ET.parse(oracle.xml[d]).getroot().iter("object"))
        if not objs:
            continue
        x = torch.from_numpy(lb.pixels).permute(2, 0, 1)[None].float() / 255.0
        fmap = model.predict(x).fmap
        assert fmap is not None
        for o in objs:
            cy, cx = _centre_cell(o, lb.scale, fmap.shape[2:])
            feats.append(F.normalize(fmap[0, :, cy, cx].float(), dim=0))
            classes.append(idx[o.findtext("name") or ""])
    return torch.stack(feats), torch.tensor(classes)


def _seen_novelty(
    boxes: mining.Boxes, seen: torch.Tensor, seen_cls: torch.Tensor, radius: float
) -> torch.Tensor:
    """(N, m) min(1, distance from each detection to the nearest labelled object of its class / radius)."""
    assert boxes.f is not None
    cls = boxes.q.float().argmax(-1)  # (N, m)
    out = torch.ones(boxes.u.shape)
    for c in range(len(mb.CLASSES)):
        mine = cls == c
        ref = seen[seen_cls == c]
        if not bool(mine.any()) or not len(ref):
            continue
        f = boxes.f[mine].float()
        d = torch.cdist(f, ref).min(1).values
        out[mine] = (d / radius).clamp(max=1.0)
    return out


def _exemplar_q(boxes: mining.Boxes, seen: torch.Tensor, seen_cls: torch.Tensor) -> torch.Tensor:
    """(N, m, C) the head's class distribution averaged with the class of the nearest labelled object."""
    assert boxes.f is not None
    q = boxes.q.float().clone()
    for a in range(0, len(q), 4096):
        d = torch.cdist(boxes.f[a : a + 4096].float(), seen)  # (n, m, K)
        near = F.one_hot(seen_cls[d.argmin(-1)], q.shape[-1]).float()
        q[a : a + 4096] = (q[a : a + 4096] + near) / 2
    return q.half()


@torch.no_grad()
def _object_view(model: Detector, oracle: mb.Oracle, digests: list[str], size: int) -> None:
    """Per class, what the model makes of the pool's true objects at their centre cells (3x3 maxima): the
    mean score (probability of an object), how often its most likely class is right, and the mean share
    of the right class in its class distribution."""
    rows: list[tuple[int, torch.Tensor]] = []
    for a in range(0, len(digests), 128):
        batch = [load_letterboxed(oracle.image[d], size) for d in digests[a : a + 128]]
        x = torch.stack([torch.from_numpy(lb.pixels).permute(2, 0, 1) for lb in batch]).float() / 255.0
        heat = F.max_pool2d(model.predict(x).heat.float(), 3, 1, 1)  # (B, C, h, w)
        for j, d in enumerate(digests[a : a + 128]):
            for o in ET.parse(oracle.xml[d]).getroot().iter("object"):
                cy, cx = _centre_cell(o, batch[j].scale, heat.shape[2:])
                rows.append((mb.CLASSES.index(o.findtext("name") or ""), heat[j, :, cy, cx]))
    true = torch.tensor([r[0] for r in rows])
    p = torch.stack([r[1] for r in rows])  # (K, C)
    q = p / p.sum(1, keepdim=True).clamp(min=mining.EPS)
    print("\n| class | objects | score | most likely class right | share of the right class | its AUC |")
    print("|---|---|---|---|---|---|")
    for c, name in enumerate(mb.CLASSES):
        m = true == c
        score, right = float(p[m].max(1).values.mean()), float((p[m].argmax(1) == c).float().mean())
        # how often the class's share at one of its objects is above its share at another class's object
        others = q[~m, c].sort().values
        auc = float(torch.searchsorted(others, q[m, c].contiguous()).float().mean()) / max(1, len(others))
        share = float(q[m, c].mean())
        print(f"| {name} | {int(m.sum())} | {score:.2f} | {right:.2f} | {share:.3f} | {auc:.2f} |")


def _rankings(boxes: mining.Boxes, seen: torch.Tensor, rare: list[int], k: int) -> None:
    """Rare objects in the top ``k`` images by scores that look for the rare classes alone: whether any
    signal in the model's detections or features finds more of them than the selections above."""
    assert boxes.f is not None
    u, s, q = boxes.u, boxes.s, boxes.q.float()
    live = s > 0
    cls = [mb.CLASSES.index(c) for c in mb.RARE]
    q_rare = q[..., cls].sum(-1)  # (N, m) the detection's class mass on the rare classes
    lr_rare = (q / q[live].mean(0))[..., cls].max(-1).values  # against the pool's mean class distribution
    near = torch.cat(
        [torch.cdist(boxes.f[a : a + 2048].float(), seen).min(-1).values for a in range(0, len(q), 2048)]
    )
    n_rare = torch.tensor(rare)
    print(f"\n| image score (top {k}) | rare objects |\n|---|---|")
    for name, score in (
        ("sum of uncertainty", u.sum(1)),
        ("sum of uncertainty x rare class mass", (u * q_rare).sum(1)),
        ("max rare likelihood ratio", (lr_rare * live).max(1).values),
        ("sum of uncertainty x distance to the labelled objects", (u * near).sum(1)),
        ("max distance to the labelled objects", (near * live).max(1).values),
    ):
        print(f"| {name} | {int(n_rare[score.topk(k).indices].sum())} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pool", type=int, default=6000)
    p.add_argument("--val", type=int, default=600)
    p.add_argument("--start", type=int, default=300)
    p.add_argument("--step", type=int, default=300)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--gpu-ids", default="")
    p.add_argument("--train-extra", default="{}", help="JSON of extra training-config keys for round 0")
    p.add_argument(
        "--variants", default="random,balanced,balance=1,balance=2,seen,seen-presence,exemplar,oracle"
    )
    a = p.parse_args(argv)
    s = mb.Settings(
        out=a.out.absolute(), pool=a.pool, val=a.val, start=a.start, step=a.step, rounds=0,
        seeds=[a.seed], strategies=[], epochs=a.epochs, gpu_ids=a.gpu_ids, full_reference=False,
        train_extra=json.loads(a.train_extra),
    )  # fmt: skip
    t0 = time.perf_counter()
    s.out.mkdir(parents=True, exist_ok=True)
    oracle, pool_index, val_gt = mb.prepare(s)
    cache = s.out / f"screen_seed{a.seed}.pt"
    r0 = s.out / f"seed{a.seed}" / "r0"
    if cache.is_file():  # round 0 and the pool's detections of an earlier call with this --out
        kept = torch.load(cache, weights_only=False)
        model_ref, first, boxes = kept["model"], kept["first"], mining.Boxes(*kept["boxes"])
        model, size = _model(r0 / "models", model_ref)
    else:
        r0, model_ref, first, res = mb.round_zero(a.seed, s, oracle, val_gt / "index.txt", val_gt, pool_index)
        took = time.perf_counter() - t0
        print(f"round 0: mAP@.5 {res.map50:.3f}, {res.rare_objects} rare objects labelled ({took:.0f} s)")
        model, size = _model(r0 / "models", model_ref)
        rest = sorted(set(oracle.image) - set(first))
        t = time.perf_counter()
        boxes = _pool_boxes(model, [oracle.image[d] for d in rest], size)
        print(f"pool scored: {len(rest)} images in {time.perf_counter() - t:.0f} s")
        torch.save({"model": model_ref, "first": first, "boxes": tuple(boxes)}, cache)
    rest = sorted(set(oracle.image) - set(first))
    ap = mb.Chain(r0, s).trained_eval("model@r0")[1]
    difficulty = torch.tensor(mb.difficulty(ap), dtype=torch.float32)
    counts = torch.zeros(len(mb.CLASSES))
    for d in first:
        for name in oracle.classes[d]:
            counts[mb.CLASSES.index(name)] += 1
    order = torch.argsort(boxes.u.sum(1), descending=True, stable=True)
    radius = mining.box_radius(boxes, order, a.step)

    def greedy(b: mining.Boxes, balance: float = 0.5) -> list[int]:
        picks, _ = balanced.balanced_order(
            b, class_weights=difficulty, counts=counts, budget=a.step, balance=balance, radius=radius
        )
        return picks.tolist()

    seen: tuple[torch.Tensor, ...] | None = None
    print("| selection | rare objects | objects | hexagon / ring / frame |\n|---|---|---|---|")
    for v in [x for x in a.variants.split(",") if x]:
        if v == "random":
            picked = random.Random(a.seed).sample(rest, a.step)
        elif v == "oracle":
            picked = oracle.class_balanced(rest, first, ap, a.step)
        elif v == "balanced" or v.startswith("balance="):
            picked = [rest[i] for i in greedy(boxes, float(v.split("=")[1]) if "=" in v else 0.5)]
        elif v in ("seen", "seen-presence", "exemplar"):
            if seen is None:
                seen = _labelled_features(model, oracle, first, size)
            if v == "exemplar":
                picked = [rest[i] for i in greedy(boxes._replace(q=_exemplar_q(boxes, *seen)))]
            else:
                u = boxes.u if v == "seen" else boxes.s
                picked = [rest[i] for i in greedy(boxes._replace(u=u * _seen_novelty(boxes, *seen, radius)))]
        else:
            raise SystemExit(f"unknown variant {v!r}: choose from the module's list")
        names = [n for d in picked for n in oracle.classes[d]]
        rare = [sum(n == c for n in names) for c in mb.RARE]
        print(f"| {v} | {sum(rare)} | {len(names)} | {' / '.join(map(str, rare))} |", flush=True)
    if seen is None:
        seen = _labelled_features(model, oracle, first, size)
    _rankings(boxes, seen[0], [sum(n in mb.RARE for n in oracle.classes[d]) for d in rest], a.step)
    _object_view(model, oracle, rest, size)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``balanced`` mining's selection (``balanced.balanced_order``) on hand-made detections: class-balance
targets, category-conditioned novelty, and gains that sort into the pick order (they are the stored mining
scores); and on seeded random pools, the same picks and gains as the literal greedy (kept here)."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
import yaml

from ymir_executor import balanced
from ymir_executor.balanced import balanced_order
from ymir_executor.config import load_predict_config
from ymir_executor.errors import CODE_CONFIG, ConfigError, ExecutorError
from ymir_executor.mining import EPS, Boxes

C, M, D = 3, 2, 8


def _pool(classes: list[int], feats: list[torch.Tensor], u: float = 0.5) -> Boxes:
    """One detection per image, of class ``classes[i]`` (probability 0.9), uncertainty ``u``."""
    n = len(classes)
    q = torch.full((n, M, C), 0.05)
    for i, c in enumerate(classes):
        q[i, 0, c] = 0.9
    s = torch.zeros(n, M)
    s[:, 0] = 0.6
    uu = torch.zeros(n, M)
    uu[:, 0] = u
    f = torch.zeros(n, M, D)
    f[:, 0] = F.normalize(torch.stack(feats), dim=-1)
    return Boxes(uu, s, q, f.half())


def _select(boxes: Boxes, counts: list[float], budget: int, **kw: float) -> tuple[list[int], torch.Tensor]:
    picks, gains = balanced_order(
        boxes,
        class_weights=torch.ones(C),
        counts=torch.tensor(counts),
        budget=budget,
        balance=kw.get("balance", 1.0),
        radius=kw.get("radius", 0.0),
    )
    return picks.tolist(), gains


def test_a_class_the_labels_lack_comes_first_until_filled() -> None:
    """Equally uncertain detections: those of the class with few labelled objects are picked first, and
    once the picks are expected to hold as many as the others, the others' turn comes."""
    g = torch.Generator().manual_seed(0)
    boxes = _pool([0] * 6 + [2] * 6, [torch.randn(D, generator=g) for _ in range(12)])
    picks, _ = _select(boxes, [3, 3, 1], budget=12)
    assert set(picks[:4]) <= set(range(6, 12))  # class 2 leads: 1 labelled object against 3
    assert set(picks[4:8]) & set(range(6))  # then, with about 3 expected in the picks, class 0 comes in
    picks, _ = _select(boxes, [300, 300, 1], budget=12)
    assert set(picks[:6]) == set(range(6, 12))  # far from filled: all of class 2 first
    _, flat = _select(boxes, [3, 3, 1], budget=12, balance=0.0)
    assert torch.allclose(flat, flat[0])  # balance 0: no class preference


def test_objects_like_a_picked_one_count_less() -> None:
    """Category-conditioned novelty: a near copy (same class, close features) of a picked detection loses
    to an equally uncertain detection of another look, and a same-looking one of another class does not."""
    base = torch.ones(D)
    other = torch.zeros(D)
    other[0] = 1.0
    boxes = _pool([0, 0, 0, 1], [base, base + 0.01, other, base], u=0.5)
    boxes.u[0, 0] = 0.6  # image 0 first
    picks, gains = _select(boxes, [10, 10, 10], budget=4, balance=0.0, radius=0.5)
    assert picks[0] == 0 and set(picks[1:3]) == {2, 3} and picks[3] == 1
    assert float(gains[1]) < 0.05 * float(gains[2])


def test_gains_sort_into_the_pick_order() -> None:
    g = torch.Generator().manual_seed(1)
    n = 40
    classes = torch.randint(0, C, (n,), generator=g).tolist()
    boxes = _pool(classes, [torch.randn(D, generator=g) for _ in range(n)])
    boxes.u[:, 0] = torch.rand(n, generator=g)
    picks, gains = _select(boxes, [50, 20, 5], budget=15, radius=0.8)
    order = torch.argsort(gains, descending=True, stable=True)[:15].tolist()
    assert order == picks
    assert all(float(gains[a]) >= float(gains[b]) for a, b in zip(picks, picks[1:], strict=False))


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("class_balance", -1, ["class_balance", "greater than or equal to 0"]),
        ("class_balance", "strong", ["class_balance", "valid number"]),
        ("mining_difficulty", "oracle", ["mining_difficulty", "'validation' or 'pool'"]),
        ("novelty_features", "pixels", ["novelty_features", "'box' or 'image'"]),
    ],
)
def test_balanced_settings_refuse_bad_values(
    tmp_path: Path, key: str, value: object, words: list[str]
) -> None:
    """A bad value of balanced's settings stops the task at its config, naming the key (code 300001)."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"class_names": ["a"], "mining_algorithm": "balanced", key: value}))
    with pytest.raises(ExecutorError) as raised:
        load_predict_config(config)
    assert raised.value.code == CODE_CONFIG
    for word in words:
        assert word in raised.value.message, raised.value.message


def test_a_negative_class_weight_is_refused(tmp_path: Path) -> None:
    """A negative ``class_distribution_scores`` weight would rise as the picks fill its class, which the
    greedy's shortcut rules out: refused at the config, naming the key; and by the selection itself."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"class_names": ["a", "b"], "class_distribution_scores": "1,-0.5"}))
    with pytest.raises(ConfigError) as raised:
        load_predict_config(config).class_weights(2)
    assert "class_distribution_scores" in raised.value.message and ">= 0" in raised.value.message
    boxes = _pool([0, 1], [torch.ones(D), torch.ones(D)])
    with pytest.raises(ValueError, match="class weights >= 0"):
        balanced_order(
            boxes,
            class_weights=torch.tensor([1.0, -1.0, 1.0]),
            counts=torch.ones(C),
            budget=1,
            balance=1.0,
            radius=0.0,
        )


def _literal_greedy(
    boxes: Boxes,
    *,
    class_weights: torch.Tensor,
    counts: torch.Tensor,
    budget: int,
    balance: float,
    radius: float,
    image_features: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The greedy as written before the lazy selection: each pick recomputes every image's worth and every
    detection's novelty against the pick, O(budget x pool). Worths and box distances are computed as the
    selection computes them (elementwise sums; float64 dot products, exact for float16 features), whose
    bits do not depend on the batch; the version before used BLAS products instead."""
    n = boxes.u.shape[0]
    k = min(budget, n)
    expected = (boxes.s[:, :, None] * boxes.q.float()).sum(1)  # (N, C)
    cls = boxes.q.argmax(-1)  # (N, m)
    have = counts.float().clamp(min=1.0)
    mean = have.mean()
    nov = torch.ones_like(boxes.u)
    img_near = torch.full((n,), math.inf)
    f_img = F.normalize(image_features.float(), dim=1) if image_features is not None else None
    use_boxes = radius > 0 and boxes.f is not None
    use_image = radius > 0 and not use_boxes and f_img is not None
    gains, picks = torch.zeros(n), torch.empty(k, dtype=torch.long)
    taken = torch.zeros(n, dtype=torch.bool)

    def values() -> torch.Tensor:
        w = class_weights * (mean / have) ** balance
        v = (boxes.u * (boxes.q.float() * w).sum(-1) * nov).sum(-1)
        if use_image:
            v = v * (img_near / max(radius, EPS)).clamp(max=1.0)
        return v

    for t in range(k):
        v = values().masked_fill(taken, -math.inf)
        i = int(torch.argmax(v))
        picks[t], gains[i], taken[i] = i, v[i], True
        have = have + expected[i]
        if use_boxes and bool((boxes.s[i] > 0).any()):
            assert boxes.f is not None
            mine = boxes.s[i] > 0
            cos = boxes.f.double() @ boxes.f[i][mine].double().T  # (N, m, k)
            dist = (2.0 - 2.0 * cos).clamp(min=0.0).sqrt().float()
            dist = dist.masked_fill(cls[:, :, None] != cls[i][mine][None, None, :], math.inf)
            nov = torch.minimum(nov, (dist.min(-1).values / max(radius, EPS)).clamp(max=1.0))
        elif use_image:
            assert f_img is not None
            img_near = torch.minimum(img_near, (f_img - f_img[i]).norm(dim=1))
    rest = ~taken
    gains[rest] = values()[rest]
    return picks, gains


class Case(NamedTuple):
    n: int
    m: int
    c: int
    budget: int
    balance: float
    radius: float
    novelty: str  # box | image | none
    empty: float = 0.2  # share of images without a detection
    looks: int = 0  # features drawn around this many looks (0: all apart), so novelty bites
    min_candidates: int = 4
    twins: bool = False  # the second half of the pool repeats the first: exact ties, the first one wins


def _random_pool(case: Case, seed: int) -> tuple[Boxes, torch.Tensor]:
    """Seeded detections (half the slots empty, a share of images with none) and image features."""
    g = torch.Generator().manual_seed(seed)
    n, m, c, d = case.n, case.m, case.c, 16
    s = (torch.rand(n, m, generator=g) > 0.5).float() * torch.rand(n, m, generator=g)
    s[torch.rand(n, generator=g) < case.empty] = 0.0
    u = torch.rand(n, m, generator=g) * (s > 0)
    q = torch.softmax(torch.randn(n, m, c, generator=g) * 2, -1).half()

    def around(shape: tuple[int, ...]) -> torch.Tensor:
        if not case.looks:
            return F.normalize(torch.randn(*shape, d, generator=g), dim=-1)
        looks = F.normalize(torch.randn(case.looks, d, generator=g), dim=-1)
        pick = torch.randint(0, case.looks, shape, generator=g)
        return F.normalize(looks[pick] + 0.12 * torch.randn(*shape, d, generator=g), dim=-1)

    f = around((n, m)).half() if case.novelty == "box" else None
    boxes, image_features = Boxes(u, s, q, f), around((n,)).half()
    if case.twins:
        half = n // 2
        boxes = Boxes(*(None if t is None else torch.cat([t[:half], t[:half]]) for t in boxes))
        image_features = torch.cat([image_features[:half], image_features[:half]])
    return boxes, image_features


CASES = {
    "box novelty": Case(400, 16, 10, 40, 0.5, 0.8, "box"),
    "box novelty, look-alikes": Case(400, 8, 4, 60, 0.5, 0.7, "box", looks=6),
    "image novelty, look-alikes": Case(300, 4, 3, 50, 1.0, 0.5, "image", looks=5),
    "no novelty, balance 0": Case(300, 5, 4, 80, 0.0, 0.0, "none"),
    "balance 1, budget 1": Case(500, 16, 10, 1, 1.0, 0.8, "box"),
    "budget = pool, empty images": Case(120, 4, 3, 120, 1.0, 0.5, "box", empty=0.4, looks=3),
    "budget = pool, image novelty": Case(100, 3, 2, 100, 0.5, 0.4, "image", empty=0.3, looks=3),
    "one class": Case(200, 3, 1, 50, 1.0, 0.6, "box", looks=4),
    "twin images, no novelty": Case(200, 4, 3, 60, 0.0, 0.0, "none", twins=True),
    "twin images, box novelty": Case(200, 4, 3, 60, 0.5, 0.6, "box", twins=True),
    "the product's candidate sizes": Case(
        3000, 16, 10, 150, 0.5, 0.9, "box", empty=0.3, looks=30, min_candidates=balanced.MIN_CANDIDATES
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_selection_makes_the_literal_greedys_picks(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same picks in the same order and the same gains, to the bit, as the literal greedy; an image not
    picked gets at least its exact final worth and at most the last gain, so the values sort into the
    pick order. Small candidate sets make the selection grow and re-bound its outsiders often."""
    case = CASES[name]
    monkeypatch.setattr(balanced, "MIN_CANDIDATES", case.min_candidates)
    for seed in range(3):
        boxes, image_features = _random_pool(case, seed)
        g = torch.Generator().manual_seed(100 + seed)
        kw = {
            "class_weights": torch.rand(case.c, generator=g) + 0.1,
            "counts": torch.randint(1, 60, (case.c,), generator=g).float(),
            "budget": case.budget,
            "balance": case.balance,
            "radius": case.radius,
            "image_features": image_features,
        }
        ref_picks, ref_values = _literal_greedy(boxes, **kw)  # type: ignore[arg-type]
        picks, values = balanced_order(boxes, **kw)  # type: ignore[arg-type]
        assert picks.tolist() == ref_picks.tolist(), seed
        assert torch.equal(values[picks], ref_values[ref_picks]), seed
        gains = values[picks]
        assert bool((gains[1:] <= gains[:-1]).all())
        rest = torch.ones(case.n, dtype=torch.bool)
        rest[picks] = False
        if bool(rest.any()):
            assert float(values[rest].max()) <= float(gains[-1])
            assert bool((values[rest] >= ref_values[rest] * (1 - 1e-5)).all())
            order = torch.argsort(values, descending=True, stable=True)[: case.budget]
            assert order.tolist() == picks.tolist()


def test_novelty_that_kills_the_best_images_makes_the_candidates_grow(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The 200 most uncertain images show one object of one look: once one is picked, the others are worth
    almost nothing, so the picks after it come from beyond the first candidates (40), which must grow
    several times; the picks are still the literal greedy's."""
    monkeypatch.setattr(balanced, "MIN_CANDIDATES", 4)
    g = torch.Generator().manual_seed(7)
    n, budget = 400, 20
    u, s = torch.zeros(n, M), torch.zeros(n, M)
    u[:, 0] = torch.rand(n, generator=g) * 0.5
    u[:200, 0] += 1.0  # the look-alikes lead
    s[:, 0] = 0.6
    q = torch.softmax(torch.randn(n, M, C, generator=g), -1)
    q[:200, 0] = torch.tensor([0.98, 0.01, 0.01])
    f = F.normalize(torch.randn(n, M, D, generator=g), dim=-1)
    f[:200, 0] = F.normalize(torch.ones(D) + 0.01 * torch.randn(200, D, generator=g), dim=-1)
    boxes = Boxes(u, s, q.half(), f.half())
    kw = {
        "class_weights": torch.ones(C),
        "counts": torch.full((C,), 10.0),
        "budget": budget,
        "balance": 0.5,
        "radius": 0.5,
    }
    with caplog.at_level(logging.DEBUG, logger="ymir_executor.balanced"):
        picks, values = balanced_order(boxes, **kw)  # type: ignore[arg-type]
    ref_picks, ref_values = _literal_greedy(boxes, **kw)  # type: ignore[arg-type]
    assert picks.tolist() == ref_picks.tolist()
    assert torch.equal(values[picks], ref_values[ref_picks])
    assert picks[0] < 200 and all(int(i) >= 200 for i in picks[1:])
    growths = int(re.search(r"(\d+) growths", caplog.text).group(1))  # type: ignore[union-attr]
    assert growths >= 3, caplog.text

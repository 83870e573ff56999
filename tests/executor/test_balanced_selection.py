"""``balanced`` mining's selection (``mining.balanced_order``) on hand-made detections: class-balance targets,
category-conditioned novelty, and gains that sort into the pick order (they are the stored mining scores)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from ymir_executor.config import load_predict_config
from ymir_executor.errors import CODE_CONFIG, ExecutorError
from ymir_executor.mining import Boxes, balanced_order

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

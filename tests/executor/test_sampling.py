"""Repeat-factor sampling: which images repeat, by how much, and what one epoch holds."""

from __future__ import annotations

import math

import numpy as np
import torch

from ymir_executor import sampling
from ymir_executor.config import TrainConfig


def _classes(*images: list[int]) -> list[np.ndarray]:
    return [np.array(c, dtype=np.int64) for c in images]


def test_an_image_repeats_by_its_rarest_class() -> None:
    # class 0 in 3 of 4 images (not rare at a threshold of 0.5), class 1 in 1 of 4: sqrt(0.5 / 0.25)
    f = sampling.repeat_factors(_classes([0], [0, 0], [0, 1], [], [1, 0]), 3, 0.5)
    assert f[0] == 1.0 and f[1] == 1.0 and f[3] == 1.0  # common only, common twice, no objects
    share_1 = 2 / 5
    assert math.isclose(float(f[2]), math.sqrt(0.5 / share_1)) and f[2] == f[4]


def test_no_class_under_the_threshold_repeats_nothing() -> None:
    f = sampling.repeat_factors(_classes([0], [1], [0, 1]), 2, 0.1)
    assert f.tolist() == [1.0, 1.0, 1.0]
    assert sampling.repeated(f, seed=0).tolist() == [0, 1, 2]
    assert "no class is held by few enough images" in sampling.describe(f)


def test_an_epoch_shows_each_image_its_factor_on_average() -> None:
    f = torch.tensor([1.0, 2.5, 1.2, 3.0], dtype=torch.float64)
    counts = torch.stack([torch.bincount(sampling.repeated(f, seed=s), minlength=4) for s in range(2000)])
    assert bool((counts >= f.floor().long()).all()) and bool((counts <= f.ceil().long()).all())
    assert torch.allclose(counts.double().mean(0), f, atol=0.05)
    assert sampling.epoch_length(f) == 8
    assert sampling.repeated(f, seed=3).tolist() == sampling.repeated(f, seed=3).tolist()  # reproducible
    assert "3 of 4 images repeated (up to 3.0 times), 8 images per epoch (was 4)" in sampling.describe(f)


def test_auto_threshold_follows_the_number_of_classes() -> None:
    """``auto`` (the template's default): 0.3, the benchmark's measured value, up to ten classes; 3 / classes
    beyond, so eighty classes get 0.0375 instead of several-fold longer epochs; one class has nothing to
    balance."""

    def names(n: int) -> list[str]:
        return [f"c{i}" for i in range(n)]

    assert TrainConfig(class_names=names(10)).repeat_threshold() == 0.3
    assert TrainConfig(class_names=names(2)).repeat_threshold() == 0.3
    assert TrainConfig(class_names=names(80)).repeat_threshold() == 3 / 80
    assert TrainConfig(class_names=names(1)).repeat_threshold() == 0.0
    assert TrainConfig(class_names=names(10), repeat_factor_threshold=0).repeat_threshold() == 0.0
    assert TrainConfig(class_names=names(10), repeat_factor_threshold=0.05).repeat_threshold() == 0.05
    # the GUI's template form sends a typed value as text when the template's default is text (auto)
    assert TrainConfig(class_names=names(10), repeat_factor_threshold="0.05").repeat_threshold() == 0.05


def test_auto_repeats_nothing_when_the_classes_are_even() -> None:
    """Three classes, each in about half of the images: nothing is rare, the epoch keeps its length (a
    threshold of 1 would repeat every image here)."""
    rng = np.random.default_rng(0)
    images = [rng.choice(3, size=rng.integers(1, 3), replace=False) for _ in range(200)]
    threshold = TrainConfig(class_names=["a", "b", "c"]).repeat_threshold()
    f = sampling.repeat_factors(images, 3, threshold)
    assert sampling.epoch_length(f) == 200

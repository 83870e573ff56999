"""Repeat-factor sampling (LVIS, Gupta et al. 2019): an epoch shows images of rare classes more often.

Why: with a dozen labels of a class among thousands of others, the detector learns to fire on it rarely.
In the mining benchmark's round 0 (14 rare objects among 1,238), rings score 0.14 and frames 0.21 at their
centres where common shapes score 0.44-0.55 (docs/benchmarks.md), so the model neither detects them nor
points mining to more of them. Repeating the images that hold them balances what an epoch shows without
new labels; the loss and the rest of the recipe stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def repeat_factors(classes: Sequence[np.ndarray], n_classes: int, threshold: float) -> torch.Tensor:
    """(N,) each image's repeat factor: max(1, the largest sqrt(threshold / f_c) over its classes c), f_c
    being the share of the images that hold class c; 1 for an image without objects.

    ``classes``: per image, the class index of each of its objects. ``threshold`` in (0, 1]: a class held by
    a smaller share of the images than this is repeated, by sqrt(threshold / share).
    """
    n = len(classes)
    holders = np.zeros(n_classes)
    for c in classes:
        holders[np.unique(np.asarray(c, dtype=np.int64))] += 1
    share = holders / max(1, n)
    per_class = np.maximum(1.0, np.sqrt(threshold / np.maximum(share, 1e-12)))
    out = torch.ones(n, dtype=torch.float64)
    for i, c in enumerate(classes):
        if len(c):
            out[i] = float(per_class[np.asarray(c, dtype=np.int64)].max())
    return out


def epoch_length(factors: torch.Tensor) -> int:
    """The images one epoch shows on average: the sum of the repeat factors, rounded."""
    return max(1, round(float(factors.sum())))


def repeated(factors: torch.Tensor, seed: int) -> torch.Tensor:
    """One epoch's image indices: image i floor(r_i) times and once more with probability r_i - floor(r_i)
    (so each image shows r_i times per epoch on average), in index order (the epoch shuffles them)."""
    gen = torch.Generator().manual_seed(seed)
    whole = factors.floor()
    extra = torch.rand(len(factors), generator=gen, dtype=torch.float64) < (factors - whole)
    counts = whole.long() + extra.long()
    return torch.repeat_interleave(torch.arange(len(factors)), counts)


def describe(factors: torch.Tensor) -> str:
    """A log line's worth: how many images repeat, by how much at most, the epoch's length."""
    more = int((factors > 1).sum())
    top = float(factors.max()) if len(factors) else 1.0
    return (
        f"repeat-factor sampling: {more} of {len(factors)} images repeated (up to {top:.1f} times), "
        f"{epoch_length(factors)} images per epoch (was {len(factors)})"
        if more
        else f"repeat-factor sampling: no class is held by few enough images, {len(factors)} per epoch"
    )

"""GPU only: ``balanced``'s lazy selection on CUDA makes the CPU's picks.

Skipped without CUDA (always on CI). On a GPU machine:
``python -m pytest tests/executor/test_gpu_balanced.py``.
Mining runs the selection on the device that scored the pool; its tests (test_balanced_selection.py) run
on the CPU. Here the same seeded pools go through it on the GPU: a tensor left on the wrong device, or a
reduction whose rounding changes the order, shows as an error or as other picks.
"""

from __future__ import annotations

import pytest
import torch

from tests.executor.test_balanced_selection import CASES, _random_pool
from ymir_executor import balanced
from ymir_executor.mining import Boxes

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (never on CI)")


ON_GPU = ["box novelty", "image novelty, look-alikes", "the product's candidate sizes"]


@pytest.mark.parametrize("name", ON_GPU)
def test_the_gpu_selection_makes_the_cpu_picks(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    monkeypatch.setattr(balanced, "MIN_CANDIDATES", case.min_candidates)
    boxes, image_features = _random_pool(case, seed=0)
    g = torch.Generator().manual_seed(100)
    kw = {
        "class_weights": torch.rand(case.c, generator=g) + 0.1,
        "counts": torch.randint(1, 60, (case.c,), generator=g).float(),
        "image_features": image_features,
    }
    cpu_picks, cpu_values = balanced.balanced_order(
        boxes, budget=case.budget, balance=case.balance, radius=case.radius, **kw
    )
    cuda = torch.device("cuda")
    on_gpu = Boxes(*(None if t is None else t.to(cuda) for t in boxes))
    picks, values = balanced.balanced_order(
        on_gpu,
        budget=case.budget,
        balance=case.balance,
        radius=case.radius,
        **{k: v.to(cuda) for k, v in kw.items()},
    )
    assert picks.device.type == "cuda" and values.device.type == "cuda"
    assert picks.cpu().tolist() == cpu_picks.tolist()
    torch.testing.assert_close(values.cpu()[cpu_picks], cpu_values[cpu_picks], rtol=1e-5, atol=1e-6)

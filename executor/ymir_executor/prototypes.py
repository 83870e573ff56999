"""Class prototypes: the mean neck feature of each class's labelled objects, stored with the model.

Why: a class with a dozen labels is one the classifier head has learnt to predict rarely, so in the pool
its objects show up as the common class they resemble (a ring as a circle), and ``balanced`` mining,
which weighs a detection under its class distribution, cannot find them. A nearest-class-mean view of the
same features does not carry the head's bias towards frequent classes (Kang et al. 2020, decoupling
representation and classifier), so mining can look at both.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ymir_executor.annotations import Objects
from ymir_executor.device import autocast
from ymir_executor.model import Detector

STRIDE = 4  # the neck map's cell in input pixels (Dense)
TEMPERATURE = 0.1  # cosine similarities to class means -> a class distribution, softmax(sim / T)


@torch.no_grad()
def class_means(
    model: Detector,
    pixels: torch.Tensor,
    scales: Sequence[float],
    objects: Sequence[Objects],
    *,
    classes: int,
    device: torch.device,
    amp: bool,
    batch_size: int,
) -> torch.Tensor:
    """(C, D) each class's mean L2-normalised neck feature at its objects' centre cells, normalised again;
    a row of zeros for a class without objects.

    ``pixels`` (N, 3, S, S) uint8 letterboxed images, ``scales`` their input pixels per original pixel,
    ``objects`` their labels in original pixels.
    """
    model = model.eval()
    sums: torch.Tensor | None = None
    for a in range(0, len(pixels), batch_size):
        img = pixels[a : a + batch_size].to(device).float() / 255.0
        with autocast(device, amp):
            fmap = model.predict(img).fmap
        assert fmap is not None
        fmap = fmap.float()  # (B, D, h, w)
        if sums is None:
            sums = torch.zeros(classes, fmap.shape[1], device=device)
        for j in range(img.shape[0]):
            obj = objects[a + j]
            if not len(obj.classes):
                continue
            b = torch.as_tensor(obj.boxes, device=device) * float(scales[a + j]) / STRIDE
            cx = ((b[:, 0] + b[:, 2]) / 2).long().clamp(0, fmap.shape[3] - 1)
            cy = ((b[:, 1] + b[:, 3]) / 2).long().clamp(0, fmap.shape[2] - 1)
            f = F.normalize(fmap[j][:, cy, cx].T, dim=1)  # (K, D)
            sums.index_add_(0, torch.as_tensor(obj.classes, device=device), f)
    if sums is None:
        return torch.zeros(classes, 0)
    return F.normalize(sums, dim=1).cpu()


def prototype_distribution(f: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """(..., C) a class distribution for unit features f (..., D) from their cosine similarity to the class
    means (C, D); classes without a mean (a zero row) get none of it."""
    sim = f.float() @ means.T.float()  # (..., C)
    has = means.abs().sum(1) > 0
    sim = sim.masked_fill(~has, -torch.inf)
    return torch.softmax(sim / TEMPERATURE, dim=-1)

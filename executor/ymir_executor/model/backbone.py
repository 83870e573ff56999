"""A plain residual conv backbone: stem (stride 2) then four stride-2 stages (strides 4, 8, 16, 32)."""

from __future__ import annotations

import torch
from torch import nn

from ymir_executor.model.blocks import ConvBnAct, Residual


class Backbone(nn.Module):
    """Returns the features of strides 4, 8, 16 and 32 with ``widths`` channels."""

    def __init__(self, widths: tuple[int, int, int, int], depths: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.stem = ConvBnAct(3, widths[0] // 2, 3, 2)
        stages = []
        c_in = widths[0] // 2
        for c, d in zip(widths, depths, strict=True):
            stages.append(nn.Sequential(ConvBnAct(c_in, c, 3, 2), *[Residual(c) for _ in range(d)]))
            c_in = c
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)  # (B, w0/2, H/2, W/2)
        feats = []
        for stage in self.stages:
            x = stage(x)  # (B, w_i, H/2^(i+2), W/2^(i+2))
            feats.append(x)
        return feats

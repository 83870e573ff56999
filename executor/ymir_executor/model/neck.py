"""Top-down feature pyramid that merges strides 32..4 into one stride-4 map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ymir_executor.model.blocks import ConvBnAct


class Neck(nn.Module):
    """Lateral 1x1 convs, nearest upsampling and a 3x3 smoothing conv per level."""

    def __init__(self, widths: tuple[int, int, int, int], width: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList([ConvBnAct(c, width, 1) for c in widths])
        self.smooth = nn.ModuleList([ConvBnAct(width, width, 3) for _ in widths[:-1]])

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x: torch.Tensor = self.lateral[-1](feats[-1])  # (B, width, H/32, W/32)
        for i in range(len(feats) - 2, -1, -1):
            lat = self.lateral[i](feats[i])  # (B, width, H_i, W_i)
            x = self.smooth[i](lat + F.interpolate(x, size=lat.shape[-2:], mode="nearest"))
        return x  # (B, width, H/4, W/4)

"""Small building blocks shared by backbone, neck and head."""

from __future__ import annotations

import torch
from torch import nn


class ConvBnAct(nn.Module):
    """Conv2d -> BatchNorm -> SiLU; ``stride`` 2 halves the map."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.act(self.bn(self.conv(x)))  # (B, c_out, H/stride, W/stride)
        return y


class Residual(nn.Module):
    """Two 3x3 ConvBnAct with an identity shortcut; keeps shape."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = ConvBnAct(c, c // 2 if c >= 32 else c, 1)
        self.b = ConvBnAct(c // 2 if c >= 32 else c, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = x + self.b(self.a(x))  # (B, c, H, W)
        return y

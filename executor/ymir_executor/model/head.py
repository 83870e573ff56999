"""Prediction heads on the stride-4 map: class heatmap logits and box distances."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ymir_executor.model.blocks import ConvBnAct

BOX_SCALE_PX = 16.0  # distances are softplus(logit) * BOX_SCALE_PX input pixels


class Head(nn.Module):
    """Two branches of (3x3 ConvBnAct, 1x1 conv): ``C`` heatmap logits and 4 distances (l, t, r, b)."""

    def __init__(self, width: int, num_classes: int, prior: float = 0.01) -> None:
        super().__init__()
        self.cls_conv = ConvBnAct(width, width, 3)
        self.cls_out = nn.Conv2d(width, num_classes, 1)
        self.box_conv = ConvBnAct(width, width, 3)
        self.box_out = nn.Conv2d(width, 4, 1)
        assert self.cls_out.bias is not None and self.box_out.bias is not None
        nn.init.constant_(self.cls_out.bias, -math.log((1 - prior) / prior))
        nn.init.normal_(self.box_out.weight, std=0.01)
        nn.init.constant_(self.box_out.bias, 1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.cls_out(self.cls_conv(x))  # (B, C, H, W)
        ltrb = F.softplus(self.box_out(self.box_conv(x)).float()) * BOX_SCALE_PX  # (B, 4, H, W) pixels
        return logits, ltrb

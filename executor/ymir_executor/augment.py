"""Batched training augmentations that run on the model's device (GPU or CPU).

Doing them on the device after a plain uint8 collate keeps the data loader light, so a GPU is not starved
by per-image Python work. Order: mosaic (2x2 tiles of half-size images), random affine (scale jitter,
translation, horizontal flip) through ``grid_sample``, then colour jitter. Boxes follow every geometric step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ymir_executor.images import PAD_VALUE

MIN_KEPT_SHARE = 0.35  # a box cut by the border is dropped when less than this share of it stays
MIN_SIDE_PX = 2.0


@dataclass(frozen=True)
class AugmentParams:
    """Strengths of each augmentation (see TrainConfig for their meaning)."""

    flip_prob: float
    scale_jitter: float
    translate: float
    color_jitter: float
    mosaic_prob: float


def mosaic(
    img: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor, prob: float, gen: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Replaces a ``prob`` share of the images by a 2x2 mosaic of four half-size batch images.

    Args:
        img: (B, 3, S, S) float.
        boxes: (B, M, 4) XYXY pixels; classes (B, M), -1 for padding.

    Returns:
        img (B, 3, S, S), boxes (B, 4M, 4), classes (B, 4M).
    """
    b, _, s, _ = img.shape
    m = boxes.shape[1]
    if b < 2 or prob <= 0:
        out_boxes = torch.zeros(b, 4 * m, 4, device=img.device)
        out_cls = torch.full((b, 4 * m), -1, dtype=torch.long, device=img.device)
        out_boxes[:, :m] = boxes
        out_cls[:, :m] = classes
        return img, out_boxes, out_cls
    # Every image gets a mosaic and the chosen ones keep it: no host-side test of the random draw, so the
    # step never waits for the device.
    chosen = torch.rand(b, generator=gen, device=img.device) < prob  # (B,)
    partners = torch.randint(0, b, (b, 4), generator=gen, device=img.device)  # (B, 4)
    partners[:, 0] = torch.arange(b, device=img.device)
    half = F.interpolate(img, size=(s // 2, s // 2), mode="bilinear", align_corners=False)  # (B, 3, S/2, S/2)
    tiles = half[partners]  # (B, 4, 3, S/2, S/2)
    top = torch.cat((tiles[:, 0], tiles[:, 1]), dim=3)
    bottom = torch.cat((tiles[:, 2], tiles[:, 3]), dim=3)
    img = torch.where(chosen[:, None, None, None], torch.cat((top, bottom), dim=2), img)
    k = torch.arange(4, device=img.device)  # tile k's top-left corner, made on the device (no copy)
    offsets = torch.stack(((k % 2) * (s // 2), (k // 2) * (s // 2)), dim=1).float()  # (4, 2)
    tb = (boxes[partners] * 0.5 + offsets.repeat(1, 2)[None, :, None, :]).reshape(b, 4 * m, 4)  # (B, 4M, 4)
    tc = classes[partners].reshape(b, 4 * m)  # (B, 4M)
    plain_boxes = torch.cat((boxes, boxes.new_zeros(b, 3 * m, 4)), dim=1)
    plain_cls = torch.cat((classes, classes.new_full((b, 3 * m), -1)), dim=1)
    out_boxes = torch.where(chosen[:, None, None], tb, plain_boxes)
    out_cls = torch.where(chosen[:, None], tc, plain_cls)
    return img, out_boxes, out_cls


def affine(
    img: torch.Tensor,
    boxes: torch.Tensor,
    classes: torch.Tensor,
    p: AugmentParams,
    gen: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random scale about the centre, translation and horizontal flip of each image and its boxes."""
    b, _, h, w = img.shape
    dev = img.device
    scale = 1.0 + (torch.rand(b, generator=gen, device=img.device) * 2 - 1) * p.scale_jitter  # (B,)
    shift = (
        (torch.rand(b, 2, generator=gen, device=img.device) * 2 - 1) * p.translate * 2
    )  # (B, 2) normalised
    flip = torch.where(torch.rand(b, generator=gen, device=img.device) < p.flip_prob, -1.0, 1.0)  # (B,)
    scale, shift, flip = scale.to(dev), shift.to(dev), flip.to(dev)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0] = flip / scale
    theta[:, 0, 2] = -flip * shift[:, 0] / scale
    theta[:, 1, 1] = 1.0 / scale
    theta[:, 1, 2] = -shift[:, 1] / scale
    grid = F.affine_grid(theta, [b, 3, h, w], align_corners=False)
    pad = PAD_VALUE / 255.0
    img = F.grid_sample(img - pad, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + pad
    # boxes: n_out = scale * flip * n_in + shift, with n = 2 x / size - 1
    nx = boxes[..., 0::2] / w * 2 - 1  # (B, M, 2)
    ny = boxes[..., 1::2] / h * 2 - 1
    nx = scale[:, None, None] * flip[:, None, None] * nx + shift[:, 0, None, None]
    ny = scale[:, None, None] * ny + shift[:, 1, None, None]
    x = (nx + 1) * w / 2
    y = (ny + 1) * h / 2
    x0, x1 = torch.minimum(x[..., 0], x[..., 1]), torch.maximum(x[..., 0], x[..., 1])
    full = (x1 - x0) * (y[..., 1] - y[..., 0])  # (B, M)
    new = torch.stack((x0.clamp(0, w), y[..., 0].clamp(0, h), x1.clamp(0, w), y[..., 1].clamp(0, h)), dim=-1)
    kept = (new[..., 2] - new[..., 0]) * (new[..., 3] - new[..., 1])
    ok = (
        (kept >= MIN_KEPT_SHARE * full.clamp(min=1e-6))
        & (new[..., 2] - new[..., 0] >= MIN_SIDE_PX)
        & (new[..., 3] - new[..., 1] >= MIN_SIDE_PX)
    )
    classes = torch.where(ok, classes, torch.full_like(classes, -1))
    return img, new, classes


def colour(img: torch.Tensor, strength: float, gen: torch.Generator | None) -> torch.Tensor:
    """Random brightness, contrast and saturation per image; ``strength`` is the largest relative change."""
    b = img.shape[0]

    def factor() -> torch.Tensor:
        r = torch.rand(b, 1, 1, 1, generator=gen, device=img.device) * 2 - 1
        return (1.0 + r * strength).to(img.device)

    img = img * factor()
    mean = img.mean(dim=(1, 2, 3), keepdim=True)
    img = (img - mean) * factor() + mean
    grey = img.mean(dim=1, keepdim=True)
    img = (img - grey) * factor() + grey
    return img.clamp(0.0, 1.0)


def augment(
    pixels: torch.Tensor,
    boxes: torch.Tensor,
    classes: torch.Tensor,
    p: AugmentParams,
    gen: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full augmentation of a uint8 batch (B, 3, S, S) -> float images in 0..1, boxes, classes."""
    img = pixels.float() / 255.0
    if p.mosaic_prob > 0:
        img, boxes, classes = mosaic(img, boxes, classes, p.mosaic_prob, gen)
    img, boxes, classes = affine(img, boxes, classes, p, gen)
    if p.color_jitter > 0:
        img = colour(img, p.color_jitter, gen)
    return img, boxes, classes

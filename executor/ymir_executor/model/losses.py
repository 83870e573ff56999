"""Training targets and losses, computed in batch on the model's device.

Heatmap: one elliptical Gaussian per object on its class channel, peak 1 at the centre cell (sigma =
``alpha`` * box side / 6, as in TTFNet), trained with CenterNet's penalty-reduced focal loss. Boxes: every
cell inside an object's box and under its Gaussian regresses that box with a GIoU loss, weighted by the
Gaussian and normalised per object by log(area), so large and small objects count alike.
"""

from __future__ import annotations

import math

import torch

from ymir_executor.boxes import area, giou_loss

GAUSS_ALPHA = 0.54


def cell_centres(h: int, w: int, stride: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres of the cells of an (h, w) map: xs (w,), ys (h,)."""
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    return xs, ys


def ltrb_to_boxes(ltrb: torch.Tensor, stride: int) -> torch.Tensor:
    """Distances (B, 4, H, W) from each cell centre -> XYXY boxes (B, 4, H, W) in input pixels."""
    _, _, h, w = ltrb.shape
    xs, ys = cell_centres(h, w, stride, ltrb.device)
    x = xs.view(1, w).expand(h, w)  # (H, W)
    y = ys.view(h, 1).expand(h, w)
    return torch.stack((x - ltrb[:, 0], y - ltrb[:, 1], x + ltrb[:, 2], y + ltrb[:, 3]), dim=1)


def gaussians(boxes: torch.Tensor, valid: torch.Tensor, h: int, w: int, stride: int) -> torch.Tensor:
    """Per-object Gaussians on the output grid.

    Args:
        boxes: (B, M, 4) XYXY input pixels.
        valid: (B, M) bool, False for padding.
        h, w: Output map size; ``stride`` input pixels per cell.

    Returns:
        (B, M, H, W), 1 at each object's centre cell, 0 for padding objects.
    """
    cx = ((boxes[..., 0] + boxes[..., 2]) / 2 / stride).floor().clamp(0, w - 1)  # (B, M) centre cell
    cy = ((boxes[..., 1] + boxes[..., 3]) / 2 / stride).floor().clamp(0, h - 1)
    sx = ((boxes[..., 2] - boxes[..., 0]) / stride * GAUSS_ALPHA / 6).clamp(min=0.35)  # (B, M)
    sy = ((boxes[..., 3] - boxes[..., 1]) / stride * GAUSS_ALPHA / 6).clamp(min=0.35)
    gx = torch.arange(w, device=boxes.device, dtype=torch.float32)  # (W,)
    gy = torch.arange(h, device=boxes.device, dtype=torch.float32)
    ex = torch.exp(-((gx.view(1, 1, w) - cx[..., None]) ** 2) / (2 * sx[..., None] ** 2))  # (B, M, W)
    ey = torch.exp(-((gy.view(1, 1, h) - cy[..., None]) ** 2) / (2 * sy[..., None] ** 2))  # (B, M, H)
    g = ey[..., :, None] * ex[..., None, :]  # (B, M, H, W)
    return g * valid[..., None, None].float()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, num_pos: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), summed and divided by ``num_pos``."""
    logits = logits.float()
    p = torch.sigmoid(logits)
    log_p = torch.nn.functional.logsigmoid(logits)
    log_1mp = torch.nn.functional.logsigmoid(-logits)
    pos = target.ge(1.0 - 1e-4).float()
    pos_loss = -log_p * (1 - p) ** 2 * pos
    neg_loss = -log_1mp * p**2 * (1 - target) ** 4 * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / num_pos.clamp(min=1.0)


def detection_loss(
    logits: torch.Tensor,
    ltrb: torch.Tensor,
    boxes: torch.Tensor,
    classes: torch.Tensor,
    stride: int,
    box_weight: float = 5.0,
) -> dict[str, torch.Tensor]:
    """Heatmap and box losses of one batch.

    Args:
        logits: (B, C, H, W) heatmap logits.
        ltrb: (B, 4, H, W) predicted distances in input pixels.
        boxes: (B, M, 4) XYXY ground truth in input pixels (padding rows have class -1).
        classes: (B, M) long class ids, -1 for padding.
        stride: Input pixels per output cell.
        box_weight: Weight of the box loss in the total.

    Returns:
        ``{"loss", "heatmap", "box"}`` scalars.
    """
    b, c, h, w = logits.shape
    valid = classes >= 0  # (B, M)
    g = gaussians(boxes, valid, h, w, stride)  # (B, M, H, W)
    m = boxes.shape[1]
    heat = torch.zeros(b, c, h * w, device=logits.device)
    if m > 0:
        index = classes.clamp(min=0)[..., None].expand(b, m, h * w)  # (B, M, HW)
        heat = heat.scatter_reduce(1, index, g.view(b, m, h * w), reduce="amax", include_self=True)
    num_pos = valid.sum().float()
    hm_loss = focal_loss(logits, heat.view(b, c, h, w), num_pos)
    if m == 0:
        zero = ltrb.sum() * 0.0
        return {"loss": hm_loss + zero, "heatmap": hm_loss.detach(), "box": zero.detach()}
    xs, ys = cell_centres(h, w, stride, logits.device)
    inside = (
        (xs.view(1, 1, 1, w) > boxes[..., 0, None, None])
        & (xs.view(1, 1, 1, w) < boxes[..., 2, None, None])
        & (ys.view(1, 1, h, 1) > boxes[..., 1, None, None])
        & (ys.view(1, 1, h, 1) < boxes[..., 3, None, None])
    )
    g_reg = g * inside.float()  # (B, M, H, W)
    # Smaller objects win shared cells: scale by inverse area before picking the owner.
    inv_area = 1.0 / area(boxes).clamp(min=1.0)  # (B, M)
    owner = (g_reg * inv_area[..., None, None]).view(b, m, h * w).argmax(1)  # (B, HW)
    weight = g_reg.view(b, m, h * w).gather(1, owner[:, None]).squeeze(1)  # (B, HW)
    per_obj = torch.zeros(b, m, device=logits.device).scatter_add(1, owner, weight)  # (B, M) weight sums
    log_area = torch.log(area(boxes).clamp(min=2.0))  # (B, M)
    norm = (log_area / per_obj.clamp(min=1e-6)).gather(1, owner)  # (B, HW)
    weight = weight * norm
    target = boxes.gather(1, owner[..., None].expand(b, h * w, 4))  # (B, HW, 4)
    pred = ltrb_to_boxes(ltrb, stride).view(b, 4, h * w).permute(0, 2, 1)  # (B, HW, 4)
    # Every cell is computed and weighted (0 outside the objects) instead of selecting the cells by a mask:
    # a selection's size is a device-to-host sync. Cells of weight 0 see one unit box on both sides, so
    # their loss and its gradient are finite zeros.
    sel = (weight > 0)[..., None]  # (B, HW, 1)
    unit = (torch.arange(4, device=logits.device) >= 2).float()  # (4,) [0, 0, 1, 1], made on the device
    per_cell = giou_loss(torch.where(sel, pred.float(), unit), torch.where(sel, target, unit))  # (B, HW)
    box_loss = (per_cell * weight).sum() / weight.sum().clamp(min=1e-6)
    total = hm_loss + box_weight * box_loss
    return {"loss": total, "heatmap": hm_loss.detach(), "box": box_loss.detach()}


def initial_loss_bound(num_classes: int) -> float:
    """A loose upper bound of the first iterations' loss; used only to sanity-check tests."""
    return 20.0 + math.log(num_classes + 1)

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the trainer measures: full-resolution flow, EPE on held-out batches, gradient norm per level."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch

from lfn2_ros.model import LiteFlowNet2
from lfn2_ros.model.losses import endpoint_error
from lfn2_ros.processing import end_level_flow_px
from lfn2_ros.training.pairs import PairBatch

__all__ = ['evaluate_batches', 'level_grad_norms', 'mean_epe', 'predict_flow']


def predict_flow(
    model: LiteFlowNet2,
    img1: torch.Tensor,
    img2: torch.Tensor,
    outputs: Optional[dict[str, torch.Tensor]] = None,
) -> torch.Tensor:
    """Full-resolution flow (B, 2, H, W) px of the model's end level (mmflow ``get_flow`` without resizing).

    Args:
        model: the (unwrapped) network.
        img1: (B, 3, H, W) float32 BGR in [0, 1].
        img2: same shape.
        outputs: already computed ``model(img1, img2)`` (avoids a second forward).

    """
    if outputs is None:
        outputs = model(img1, img2)
    return end_level_flow_px(outputs, model.variant.end_level, model.variant.flow_div, img1.shape[-2:])


def mean_epe(pred: torch.Tensor, gt: torch.Tensor, valid: Optional[torch.Tensor] = None) -> float:
    """Average end-point error, px, of (B, 2, H, W) flows over (B, H, W) valid pixels."""
    err = endpoint_error(pred.float(), gt)
    if valid is None:
        return float(err.mean())
    return float((err * valid).sum() / valid.sum().clamp(min=1.0))


@torch.no_grad()
def evaluate_batches(model: LiteFlowNet2, batches: Sequence[PairBatch], device: torch.device) -> float:
    """Mean EPE, px, of ``model`` over held-out batches (all pixels, pairs weighted equally)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for b in batches:
        img1, img2, flow = b.img1.to(device), b.img2.to(device), b.flow.to(device)
        err = torch.linalg.vector_norm(predict_flow(model, img1, img2) - flow, dim=1).flatten(1).mean(1)
        total, count = total + float(err.sum()), count + int(err.numel())
    model.train(was_training)
    return total / max(count, 1)


def level_grad_norms(model: torch.nn.Module) -> dict[str, float]:
    """Gradient norm per pyramid level (encoder block L plus decoder level L): ``{'grad_L6': ..., ...}``."""
    sq: dict[int, float] = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        name = name.removeprefix('module.')
        if name.startswith('encoder.layers.'):
            level = int(name.split('.')[2]) + 1
        elif name.startswith('decoder.decoders.level'):
            level = int(name.split('.')[2][5:])
        else:
            continue
        sq[level] = sq.get(level, 0.0) + float(p.grad.detach().float().pow(2).sum())
    return {f'grad_L{k}': v**0.5 for k, v in sorted(sq.items(), reverse=True)}

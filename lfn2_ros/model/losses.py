# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training losses of the LiteFlowNet2 configs: multi-level EPE and Charbonnier (docs/model.md#training).

Semantics of mmflow 0.5.2 ``multi_level_flow_loss`` (``mmflow/models/losses``): the ground truth is
divided by ``flow_div`` and compared with each level's normalised prediction; per level the pixel
loss is masked by the valid mask, summed and divided by the batch size (``reduction='sum'``) and
weighted; ``level0`` is the end-level flow bilinearly upsampled to the full size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from lfn2_ros.model.variants import Variant, get_variant

__all__ = ['MultiLevelCharbonnier', 'MultiLevelEPE', 'MultiLevelFlowLoss', 'build_loss', 'charbonnier',
           'endpoint_error']


def endpoint_error(pred: torch.Tensor, target: torch.Tensor, p: int = 2) -> torch.Tensor:
    """Per-pixel end-point error ``||pred - target||_p`` over the flow components.

    Args:
        pred: (B, 2, H, W) flow (any unit; the same as ``target``).
        target: (B, 2, H, W) flow.
        p: norm degree (2 = Euclidean EPE, 1 = L1).

    Returns:
        (B, H, W) error map in the unit of the inputs.

    Raises:
        ValueError: if the shapes differ.

    """
    if pred.shape != target.shape:
        raise ValueError(f'pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}')
    return torch.linalg.vector_norm(pred - target, ord=p, dim=1)


def charbonnier(pred: torch.Tensor, target: torch.Tensor, q: float = 0.2, eps: float = 0.01) -> torch.Tensor:
    """Per-pixel robust loss ``(du^2 + dv^2 + eps)^q`` (mmflow ``charbonnier_loss``).

    Args:
        pred: (B, 2, H, W) flow.
        target: (B, 2, H, W) flow in the same unit.
        q: exponent (0.2 in the LiteFlowNet2 fine-tunes).
        eps: additive constant (0.01).

    Returns:
        (B, H, W) loss map.

    """
    if pred.shape != target.shape:
        raise ValueError(f'pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}')
    diff = pred - target
    return (torch.sum(diff * diff, dim=1) + eps) ** q


class MultiLevelFlowLoss(nn.Module):
    """Weighted sum over levels of a masked per-pixel flow loss.

    Args:
        level_weights: ``{'level6': 0.32, ..., 'level0': 6.25e-4}``; ``level0`` (if present and not
            in the predictions) is the finest predicted level upsampled bilinearly to the target size.
        flow_div: ground truth is divided by it to match the normalised predictions.
        resize_flow: ``'downsample'`` (target adaptive-avg-pooled and valid mask adaptive-max-pooled
            to each level) or ``'upsample'`` (predictions bilinearly upsampled to the target size).
        reduction: ``'sum'`` (sum over pixels / batch size) or ``'mean'`` (sum / number of valid pixels).
        max_flow: target pixels with magnitude >= max_flow (px) are invalid when a valid mask is given.

    """

    def __init__(self, *, level_weights: Mapping[str, float], flow_div: float = 20.0,
                 resize_flow: str = 'downsample', reduction: str = 'sum',
                 max_flow: float = float('inf')) -> None:
        super().__init__()
        if resize_flow not in ('downsample', 'upsample'):
            raise ValueError(f"resize_flow must be 'downsample' or 'upsample', got {resize_flow!r}")
        if reduction not in ('sum', 'mean'):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        if flow_div <= 0 or max_flow <= 0:
            raise ValueError(f'flow_div and max_flow must be > 0, got {flow_div} and {max_flow}')
        self.level_weights = dict(level_weights)
        self.flow_div = flow_div
        self.resize_flow = resize_flow
        self.reduction = reduction
        self.max_flow = max_flow

    def pixel_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B, 2, h, w) prediction and target -> (B, h, w) loss map. Subclasses override this."""
        raise NotImplementedError

    def _with_level0(self, preds: Mapping[str, torch.Tensor],
                     size: tuple[int, int]) -> dict[str, torch.Tensor]:
        preds = dict(preds)
        if 'level0' in self.level_weights and 'level0' not in preds:
            levels = sorted(int(k[5:]) for k in preds if k.startswith('level') and k[5:].isdigit())
            if not levels:
                raise ValueError(f'no levelN predictions to build level0 from (keys: {sorted(preds)})')
            finest = preds[f'level{levels[0]}']
            preds['level0'] = F.interpolate(finest, size=size, mode='bilinear', align_corners=False)
        return preds

    def forward(self, preds: Mapping[str, torch.Tensor], target: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            preds: ``'level{L}'`` -> (B, 2, H_L, W_L) normalised predictions (model output).
            target: (B, 2, H, W) ground-truth flow in px (channel 0 = +x, 1 = +y).
            valid: optional (B, H, W) mask, >= 0.5 where the ground truth is valid.

        Returns:
            Scalar loss tensor.

        Raises:
            ValueError: a weighted level is missing from ``preds`` or the target is not (B, 2, H, W).

        """
        if target.dim() != 4 or target.shape[1] != 2:
            raise ValueError(f'target must be (B, 2, H, W) flow in px, got {tuple(target.shape)}')
        height, width = target.shape[2:]
        preds = self._with_level0(preds, (height, width))
        missing = [k for k in self.level_weights if k not in preds]
        if missing:
            raise ValueError(f'predictions lack weighted levels {missing} (got {sorted(preds)})')
        if valid is None:
            valid_map = torch.ones_like(target[:, 0])
        else:
            magnitude = torch.sum(target**2, dim=1).sqrt()
            valid_map = ((valid >= 0.5) & (magnitude < self.max_flow)).to(target.dtype)
        target_div = target / self.flow_div
        loss = target.new_zeros(())
        for level, weight in self.level_weights.items():
            pred = preds[level]
            batch, _, h, w = pred.shape
            if self.resize_flow == 'downsample':
                cur_target = F.adaptive_avg_pool2d(target_div, [h, w])
                cur_valid = F.adaptive_max_pool2d(valid_map, [h, w])
            else:
                pred = F.interpolate(pred, size=(height, width), mode='bilinear', align_corners=False)
                cur_target, cur_valid = target_div, valid_map
            loss_map = self.pixel_loss(pred, cur_target) * cur_valid
            if self.reduction == 'sum':
                loss = loss + loss_map.sum() / batch * weight
            else:
                loss = loss + loss_map.sum() / (cur_valid.sum() + 1e-8) * weight
        return loss


class MultiLevelEPE(MultiLevelFlowLoss):
    """Multi-level L2 end-point error (Chairs/Things stages: p=2, reduction sum, GT downsampled).

    Args:
        level_weights: per-level weights (see :class:`MultiLevelFlowLoss`).
        p: norm degree of the end-point error.
        **kwargs: ``flow_div``, ``resize_flow`` (default ``'downsample'``), ``reduction``, ``max_flow``.

    """

    def __init__(self, *, level_weights: Mapping[str, float], p: int = 2, **kwargs: object) -> None:
        kwargs.setdefault('resize_flow', 'downsample')
        super().__init__(level_weights=level_weights, **kwargs)  # type: ignore[arg-type]
        self.p = p

    def pixel_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """End-point error map (B, h, w)."""
        return endpoint_error(pred, target, p=self.p)


class MultiLevelCharbonnier(MultiLevelFlowLoss):
    """Multi-level Charbonnier loss (fine-tunes: q=0.2, eps=0.01, predictions upsampled, reduction sum).

    Args:
        level_weights: per-level weights (see :class:`MultiLevelFlowLoss`).
        q: exponent.
        eps: additive constant.
        **kwargs: ``flow_div``, ``resize_flow`` (default ``'upsample'``), ``reduction``, ``max_flow``.

    """

    def __init__(self, *, level_weights: Mapping[str, float], q: float = 0.2, eps: float = 0.01,
                 **kwargs: object) -> None:
        kwargs.setdefault('resize_flow', 'upsample')
        super().__init__(level_weights=level_weights, **kwargs)  # type: ignore[arg-type]
        self.q = q
        self.eps = eps

    def pixel_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Charbonnier map (B, h, w)."""
        return charbonnier(pred, target, q=self.q, eps=self.eps)


def build_loss(variant: Union[str, Variant]) -> MultiLevelFlowLoss:
    """The training loss of a variant's mmflow config (docs/model.md#training).

    Args:
        variant: name, alias or :class:`Variant`.

    Returns:
        :class:`MultiLevelEPE` or :class:`MultiLevelCharbonnier` with the variant's level weights.

    """
    v = get_variant(variant)
    if v.loss == 'epe':
        return MultiLevelEPE(level_weights=v.level_weights, flow_div=v.flow_div)
    if v.loss == 'charbonnier':
        return MultiLevelCharbonnier(level_weights=v.level_weights, flow_div=v.flow_div)
    raise ValueError(f'unknown loss {v.loss!r} for variant {v.alias}')

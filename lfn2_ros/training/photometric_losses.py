# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Unsupervised flow losses: census or SSIM photometric, edge-aware smoothness, occlusion, distillation.

The losses in the style of UFlow (Jonschkowski et al. 2020) and ARFlow (Liu et al. 2020) that
``train --self-supervised`` minimises on unlabelled image pairs; docs/self_supervised.md#losses gives
the formulas and why each term is there. All functions take images as (B, 3, H, W) float BGR in
[0, 1] and flows as (B, 2, H, W) px of those images (channel 0 = +x right, 1 = +y down).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from lfn2_ros.evaluation.consistency import FB_ALPHA1, FB_ALPHA2

__all__ = [
    'LossWeights',
    'SelfSupervisedLoss',
    'census_distance',
    'edge_weights',
    'fb_visible_mask',
    'ssim_l1_distance',
    'warp_with_validity',
]

_BGR_TO_GREY = (0.114, 0.587, 0.299)
CENSUS_PATCH = 7
"""Census window, px (UFlow's 7x7)."""


@dataclass(frozen=True)
class LossWeights:
    """Weights and choices of :class:`SelfSupervisedLoss` (docs/self_supervised.md#losses).

    Attributes:
        photometric: 'census' (UFlow) or 'ssim' (ARFlow's 0.85 SSIM + 0.15 L1).
        smooth: weight of the first-order edge-aware smoothness.
        edge_constant: image-gradient scale of the smoothness weights (intensities in [0, 1]).
        distill: weight of the distillation towards the initial model (0: off).
        scales: image scales of the photometric term (1: full resolution only; 3: also 1/2 and 1/4).
        consistency: weight of the forward-backward consistency term (0: off).

    """

    photometric: str = 'census'
    smooth: float = 0.5
    edge_constant: float = 150.0
    distill: float = 0.05
    scales: int = 3
    consistency: float = 0.1

    def __post_init__(self) -> None:
        if self.photometric not in ('census', 'ssim'):
            raise ValueError(f"photometric loss must be 'census' or 'ssim', got {self.photometric!r}")
        if min(self.smooth, self.edge_constant, self.distill, self.consistency) < 0:
            raise ValueError(f'loss weights must be >= 0, got {self}')
        if self.scales < 1:
            raise ValueError(f'photometric scales must be >= 1, got {self.scales}')


def warp_with_validity(image: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``image`` at ``p + flow(p)`` (bilinear, border padding) and say where that lies in the image.

    Unlike the model's masked warp (docs/model.md#masked-warp), this one keeps a gradient everywhere
    inside the image: the loss masks the outside pixels instead of seeing zeros there.

    Args:
        image: (B, C, H, W).
        flow: (B, 2, H, W) px.

    Returns:
        ``(warped, inside)``: (B, C, H, W), and (B, 1, H, W) float 1 where the target is in the image.

    """
    b, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing='ij')
    x = xs + flow[:, 0]
    y = ys + flow[:, 1]
    grid = torch.stack((x * 2.0 / max(w - 1, 1) - 1.0, y * 2.0 / max(h - 1, 1) - 1.0), dim=-1)
    warped = F.grid_sample(image, grid, mode='bilinear', padding_mode='border', align_corners=True)
    inside = ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).to(image.dtype)
    return warped, inside.unsqueeze(1)


def _consistent(flow: torch.Tensor, other_at: torch.Tensor) -> torch.Tensor:
    """UnFlow's occlusion test on ``flow`` and the other direction's flow sampled at ``p + flow``.

    A pixel is occluded when ``|flow + other_at|^2 >= a1 (|flow|^2 + |other_at|^2) + a2`` with the
    evaluation's constants (:data:`lfn2_ros.evaluation.consistency.FB_ALPHA1`, ``FB_ALPHA2`` px^2).
    The test carries no gradient.

    Returns:
        (B, 1, H, W) float, 1 where the pixel passes.

    """
    flow, other_at = flow.detach(), other_at.detach()
    residual = (flow + other_at).pow(2).sum(1, keepdim=True)
    magnitudes = flow.pow(2).sum(1, keepdim=True) + other_at.pow(2).sum(1, keepdim=True)
    return (residual < FB_ALPHA1 * magnitudes + FB_ALPHA2).to(flow.dtype)


def fb_visible_mask(flow_fw: torch.Tensor, flow_bw: torch.Tensor) -> torch.Tensor:
    """Forward-backward consistency (UnFlow), without gradient: 1 where frame-1 pixels stay visible.

    Args:
        flow_fw: (B, 2, H, W) flow frame 1 -> frame 2, px.
        flow_bw: (B, 2, H, W) flow frame 2 -> frame 1, px.

    Returns:
        (B, 1, H, W) float mask: consistent (see :func:`_consistent`) and landing inside frame 2.

    """
    with torch.no_grad():
        bw_at, inside = warp_with_validity(flow_bw, flow_fw)
        return _consistent(flow_fw, bw_at) * inside


def _grey255(image: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_BGR_TO_GREY, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * weights).sum(1, keepdim=True) * 255.0


def _census(grey: torch.Tensor) -> torch.Tensor:
    b, _, h, w = grey.shape
    patches = F.unfold(grey, CENSUS_PATCH, padding=CENSUS_PATCH // 2).view(b, CENSUS_PATCH**2, h, w)
    diff = patches - grey
    return diff / torch.sqrt(0.81 + diff * diff)  # soft sign of each neighbour's difference


def census_distance(image1: torch.Tensor, warped2: torch.Tensor) -> torch.Tensor:
    """Robust soft Hamming distance of the 7x7 census transforms (UFlow), (B, 1, H, W).

    Census compares the signs of local intensity differences, so it ignores the brightness and
    contrast changes between frames that an L1 loss would try to explain with motion.
    """
    d = (_census(_grey255(image1)) - _census(_grey255(warped2))).pow(2)
    hamming = (d / (0.1 + d)).sum(1, keepdim=True)
    return (hamming + 0.01).pow(0.4)


def ssim_l1_distance(image1: torch.Tensor, warped2: torch.Tensor) -> torch.Tensor:
    """ARFlow's 0.85 (1 - SSIM) / 2 + 0.15 L1 over 3x3 windows, averaged over channels, (B, 1, H, W)."""
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = F.avg_pool2d(image1, 3, 1, 1), F.avg_pool2d(warped2, 3, 1, 1)
    sigma_x = F.avg_pool2d(image1 * image1, 3, 1, 1) - mu_x * mu_x
    sigma_y = F.avg_pool2d(warped2 * warped2, 3, 1, 1) - mu_y * mu_y
    sigma_xy = F.avg_pool2d(image1 * warped2, 3, 1, 1) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    ssim = numerator / ((mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2))
    dssim = ((1 - ssim) / 2).clamp(0, 1)
    return (0.85 * dssim + 0.15 * (image1 - warped2).abs()).mean(1, keepdim=True)


def edge_weights(image: torch.Tensor, edge_constant: float) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(-c |dI/dx|) and exp(-c |dI/dy|), channel-averaged: (B, 1, H, W-1) and (B, 1, H-1, W).

    Near 1 in flat regions and near 0 across image edges, where motion boundaries usually are.
    """
    gx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(1, keepdim=True)
    gy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(1, keepdim=True)
    return torch.exp(-edge_constant * gx), torch.exp(-edge_constant * gy)


def _masked_mean(value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each pair's unmasked pixels, then over the pairs: every pair weighs the same.

    A per-pair mean keeps the loss of a batch the mean of its pairs' losses, so DDP's averaged gradient
    over processes equals one process's gradient over the combined batch.
    """
    per_pair = (value * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp(min=1.0)
    return per_pair.mean()


class SelfSupervisedLoss(nn.Module):
    """Photometric + smoothness (+ consistency, + distillation) loss of a forward and a backward flow.

    Args:
        weights: :class:`LossWeights`.

    """

    def __init__(self, weights: Optional[LossWeights] = None) -> None:
        super().__init__()
        self.weights = weights or LossWeights()
        self._distance = census_distance if self.weights.photometric == 'census' else ssim_l1_distance

    def _photometric(self, img1: torch.Tensor, img2: torch.Tensor, flow: torch.Tensor,
                     other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The masked photometric distance at one scale.

        Returns:
            ``(distance, visible, other_at, inside)``: the scalar distance; the (B, 1, H, W) mask it
            used; the other direction's flow sampled at ``p + flow`` (B, 2, H, W) px, with gradient; and
            the (B, 1, H, W) in-image mask of ``p + flow``.

        """
        # One warp serves the image and the other flow: the occlusion test and the consistency term
        # need that flow at the same points (grid_sample treats each channel alike).
        both, inside = warp_with_validity(torch.cat((img2, other.to(img2.dtype)), 1), flow)
        warped, other_at = both[:, :-2], both[:, -2:]
        visible = _consistent(flow, other_at) * inside
        return _masked_mean(self._distance(img1, warped), visible), visible, other_at, inside

    def _direction(self, img1: torch.Tensor, img2: torch.Tensor, flow: torch.Tensor, other: torch.Tensor,
                   teacher: Optional[torch.Tensor]) -> dict[str, torch.Tensor]:
        photometric, visible, other_at, inside = self._photometric(img1, img2, flow, other)
        # Census is sharp: a match off by more than about 1 px sees a flat distance with no useful
        # gradient. Halved images with halved flows widen that basin (docs/self_supervised.md#losses).
        coarse = (img1, img2, flow, other)
        for _ in range(self.weights.scales - 1):
            coarse = (F.avg_pool2d(coarse[0], 2), F.avg_pool2d(coarse[1], 2),
                      F.avg_pool2d(coarse[2], 2) / 2, F.avg_pool2d(coarse[3], 2) / 2)
            photometric = photometric + self._photometric(*coarse)[0]
        terms = {'photometric': photometric / self.weights.scales}
        if self.weights.consistency > 0:
            # Pixels the occlusion mask drops get no photometric gradient; this term keeps the two
            # directions agreeing there, so they are not free to drift out of consistency.
            residual = ((flow + other_at).pow(2).sum(1, keepdim=True) + 0.01).pow(0.4)
            terms['consistency'] = _masked_mean(residual, inside)
        wx, wy = edge_weights(img1, self.weights.edge_constant)
        dx = (flow[..., :, 1:] - flow[..., :, :-1]).abs().sum(1, keepdim=True)
        dy = (flow[..., 1:, :] - flow[..., :-1, :]).abs().sum(1, keepdim=True)
        terms['smooth'] = (wx * dx).mean() / 2 + (wy * dy).mean() / 2
        if teacher is not None:
            # Where the photometric signal is weak (flat image regions, occlusions), stay with the teacher.
            weak = torch.maximum(F.pad(wx, (0, 1)) * F.pad(wy, (0, 0, 0, 1)), 1.0 - visible)
            gap = ((flow - teacher).pow(2).sum(1, keepdim=True) + 0.01).pow(0.4)
            terms['distill'] = (gap * weak).mean()
        return terms

    def forward(self, img1: torch.Tensor, img2: torch.Tensor, flow_fw: torch.Tensor, flow_bw: torch.Tensor,
                teacher_fw: Optional[torch.Tensor] = None,
                teacher_bw: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of both directions.

        Args:
            img1: (B, 3, H, W) float BGR in [0, 1].
            img2: same shape.
            flow_fw: (B, 2, H, W) flow img1 -> img2, px.
            flow_bw: (B, 2, H, W) flow img2 -> img1, px.
            teacher_fw: optional initial-model flow img1 -> img2 (distillation), px.
            teacher_bw: optional initial-model flow img2 -> img1, px.

        Returns:
            ``(loss, terms)``: the scalar loss, and each term's value (mean of the two directions).

        """
        use_teacher = self.weights.distill > 0 and teacher_fw is not None and teacher_bw is not None
        fw = self._direction(img1, img2, flow_fw, flow_bw, teacher_fw if use_teacher else None)
        bw = self._direction(img2, img1, flow_bw, flow_fw, teacher_bw if use_teacher else None)
        terms = {k: (fw[k] + bw[k]) / 2 for k in fw}
        loss = terms['photometric'] + self.weights.smooth * terms['smooth']
        if 'consistency' in terms:
            loss = loss + self.weights.consistency * terms['consistency']
        if 'distill' in terms:
            loss = loss + self.weights.distill * terms['distill']
        return loss, {k: float(v.detach()) for k, v in terms.items()}

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The three per-level units of LiteFlowNet2's decoder NetE: matching (M), sub-pixel (S), regularisation (R).

docs/model.md#decoder-units (mmflow ``liteflownet_decoder.py`` ``MatchingBlock``, ``SubpixelBlock``,
``RegularizationBlock``). All flows are normalised (full-resolution px / 20); ``multiplier``
converts them to level-L px where a warp needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from lfn2_ros.model.upsample import FixedUpsample
from lfn2_ros.ops import correlation, warp
from lfn2_ros.ops.cost_volume import CostVolume

__all__ = ['ConvAct', 'MatchingUnit', 'RegularizationUnit', 'SubpixelUnit', 'conv_stack']

NEGATIVE_SLOPE = 0.1
"""Slope of every leaky ReLU in LiteFlowNet2 (mmflow ``act_cfg``)."""


class ConvAct(nn.Module):
    """Conv2d (with bias) followed by LeakyReLU(0.1); parameters are named ``conv.weight``/``conv.bias``.

    This is the layout of mmcv's ``ConvModule`` without a norm layer, so the state_dict keys end with
    ``.conv.weight`` as in mmflow checkpoints.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        stride: stride of the convolution.
        padding: zero padding; ``kernel_size // 2`` ("same") when None.

    """

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 3, stride: int = 1,
                 padding: Optional[int] = None) -> None:
        super().__init__()
        pad = kernel_size // 2 if padding is None else padding
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H', W')."""
        return F.leaky_relu(self.conv(x), NEGATIVE_SLOPE)


def conv_stack(in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    """A Sequential of 3x3 ``ConvAct`` layers with the given output widths (keys ``layers.{i}.conv.*``)."""
    layers = []
    for width in widths:
        layers.append(ConvAct(in_channels, width, kernel_size=3))
        in_channels = width
    return nn.Sequential(*layers)


MATCHING_WIDTHS = (128, 128, 96, 64, 32)
SUBPIXEL_WIDTHS = (128, 128, 96, 64, 32)
REGULARIZATION_WIDTHS = (128, 128, 64, 64, 32, 32)


class MatchingUnit(nn.Module):
    """Matching unit NetM: correlation cost volume -> residual flow (docs/model.md#matching-unit-netm).

    flowM = up + pred_flow(layers(lrelu(corr(F1, warp(F2, up * multiplier))))), with ``up`` the
    upsampled flow of the coarser level (zero at the coarsest level). At the stride-2 level
    (level 3) the 49-channel cost volume is computed at every second pixel and brought back to full
    level resolution by the fixed ``corr_up`` deconvolution. The warp is fused into
    cost volume (the flow is passed to it).

    Args:
        kernel_size: kernel of ``pred_flow`` (3 at levels 5-6, 5 at levels 3-4).
        max_displacement: correlation range md (P = 2 md + 1 displacements per axis).
        stride: correlation output stride (2 at level 3, else 1).
        dilation_patch: spacing of the displacements in level px (2 at level 3, else 1).
        cost_volume: the :class:`~lfn2_ros.ops.cost_volume.CostVolume` to use; default
            :func:`lfn2_ros.ops.correlation` (compiled kernels, reference fallback). It holds no
            parameters, so the choice does not change the state_dict.

    """

    def __init__(self, *, kernel_size: int, max_displacement: int = 3, stride: int = 1,
                 dilation_patch: int = 1, cost_volume: CostVolume = correlation) -> None:
        super().__init__()
        self.cost_volume = cost_volume
        self.max_displacement = max_displacement
        self.stride = stride
        self.dilation_patch = dilation_patch
        corr_channels = (2 * max_displacement + 1) ** 2
        self.layers = conv_stack(corr_channels, MATCHING_WIDTHS)
        self.pred_flow = nn.Conv2d(MATCHING_WIDTHS[-1], 2, kernel_size, padding=kernel_size // 2)
        # Registered after pred_flow so the state_dict order equals mmflow's.
        self.corr_up = FixedUpsample(channels=corr_channels) if stride > 1 else nn.Identity()

    def forward(self, feat1: torch.Tensor, feat2: torch.Tensor, upflow: Optional[torch.Tensor],
                multiplier: float) -> torch.Tensor:
        """Estimate flowM.

        Args:
            feat1: (B, C, h, w) level features of image 1.
            feat2: (B, C, h, w) level features of image 2.
            upflow: (B, 2, h, w) normalised flow upsampled from the coarser level, or None at level 6.
            multiplier: normalised -> level px factor (20 / 2^(L-1)).

        Returns:
            (B, 2, h, w) normalised flow flowM.

        """
        flow_px = None if upflow is None else upflow * multiplier
        corr = self.cost_volume(feat1, feat2, flow_px, max_displacement=self.max_displacement,
                                stride=self.stride, dilation_patch=self.dilation_patch,
                                negative_slope=NEGATIVE_SLOPE)
        corr = self.corr_up(corr)
        residual = self.pred_flow(self.layers(corr))
        return residual if upflow is None else upflow + residual


class SubpixelUnit(nn.Module):
    """Sub-pixel refinement unit NetS (docs/model.md#sub-pixel-unit-nets).

    flowS = flowM + pred_flow(layers(cat(F1, warp(F2, flowM * multiplier), flowM))).

    Args:
        feat_channels: C, channels of the level features (input has 2C + 2 channels).
        kernel_size: kernel of ``pred_flow`` (3 at levels 5-6, 5 at levels 3-4).

    """

    def __init__(self, *, feat_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.layers = conv_stack(2 * feat_channels + 2, SUBPIXEL_WIDTHS)
        self.pred_flow = nn.Conv2d(SUBPIXEL_WIDTHS[-1], 2, kernel_size, padding=kernel_size // 2)

    def forward(self, feat1: torch.Tensor, feat2: torch.Tensor, flow: torch.Tensor,
                multiplier: float) -> torch.Tensor:
        """Refine flowM (B, 2, h, w, normalised) with features (B, C, h, w) -> flowS (B, 2, h, w)."""
        warped = warp(feat2, flow * multiplier)
        x = torch.cat((feat1, warped, flow), dim=1)
        return flow + self.pred_flow(self.layers(x))


class RegularizationUnit(nn.Module):
    """NetR: feature-driven local convolution (f-lcon) of the flow (docs/model.md#regularisation-unit-netr).

    The input is the brightness error ``||I1 - warp(I2, flowS)||_2`` (1 ch), the mean-free flow
    (2 ch) and the R-features G (128 ch, or the raw 192-ch features at level 6). Six 3x3 convs and
    ``dist_layer`` give k^2 distances per pixel; weights = softmax(-dist^2) over the k x k window;
    each flow component becomes the weighted sum of its zero-padded k x k neighbourhood.

    Args:
        in_channels: 1 + 2 + channels of G (131, or 195 at level 6).
        kernel_size: k, the f-lcon window (3 at levels 5-6, 5 at levels 3-4). For k > 3 the
            distance head is two separable convs (k x 1 then 1 x k), else one k x k conv.

    """

    def __init__(self, *, in_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        taps = kernel_size * kernel_size
        width = REGULARIZATION_WIDTHS[-1]
        self.layers = conv_stack(in_channels, REGULARIZATION_WIDTHS)
        if kernel_size > 3:
            half = kernel_size // 2
            self.dist_layer: nn.Module = nn.Sequential(
                nn.Conv2d(width, taps, (kernel_size, 1), padding=(half, 0)),
                nn.Conv2d(taps, taps, (1, kernel_size), padding=(0, half)),
            )
        else:
            self.dist_layer = nn.Conv2d(width, taps, kernel_size, padding=kernel_size // 2)

    def forward(self, img1: torch.Tensor, img2: torch.Tensor, rfeat: torch.Tensor, flow: torch.Tensor,
                multiplier: float) -> torch.Tensor:
        """Regularise flowS.

        Args:
            img1: (B, 3, h, w) mean-subtracted BGR image 1 resized to the level size.
            img2: (B, 3, h, w) mean-subtracted BGR image 2 resized to the level size.
            rfeat: (B, Cr, h, w) R-features G of image 1.
            flow: (B, 2, h, w) normalised flowS.
            multiplier: normalised -> level px factor.

        Returns:
            (B, 2, h, w) normalised regularised flow flowR.

        """
        batch = flow.shape[0]
        diff = torch.linalg.vector_norm(img1 - warp(img2, flow * multiplier), ord=2, dim=1, keepdim=True)
        mean = flow.reshape(batch, 2, -1).mean(dim=2, keepdim=True).view(batch, 2, 1, 1)
        x = self.layers(torch.cat((diff, flow - mean, rfeat), dim=1))
        dist = self.dist_layer(x)
        weights = F.softmax(-dist**2, dim=1)  # (B, k^2, h, w)
        pad = self.kernel_size // 2
        components = []
        for channel in range(2):  # row-major (dy, dx) window index == channel index of weights
            neighbours = F.unfold(flow[:, channel:channel + 1], self.kernel_size, padding=pad)
            components.append((weights * neighbours.view_as(weights)).sum(dim=1, keepdim=True))
        return torch.cat(components, dim=1)

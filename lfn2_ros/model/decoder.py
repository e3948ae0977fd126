# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Coarse-to-fine flow decoder NetE of LiteFlowNet2 (docs/model.md#decoder-levels)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from lfn2_ros.model.encoder import PYRAMID_CHANNELS
from lfn2_ros.model.units import ConvAct, MatchingUnit, RegularizationUnit, SubpixelUnit
from lfn2_ros.model.upsample import FixedUpsample
from lfn2_ros.ops import correlation
from lfn2_ros.ops.cost_volume import CostVolume
from lfn2_ros.processing import check_input_size

__all__ = ['FlowDecoder', 'level_multiplier']

_KERNEL = {3: 5, 4: 5, 5: 3, 6: 3}  # pred_flow kernel and f-lcon window per level (mmflow patch_size)
_CORR_STRIDE = {3: 2, 4: 1, 5: 1, 6: 1}  # stride == dilation_patch of the correlation
_RFEAT_CHANNELS = 128  # width of the first NetR conv; rfeat_layer maps narrower features to it


def level_multiplier(level: int, flow_div: float = 20.0) -> float:
    """Factor from normalised flow (full-res px / flow_div) to level-L px: flow_div * 2^(1 - L)."""
    return flow_div * 2 ** (-level + 1)


class FlowDecoder(nn.Module):
    """NetE: per level ``decoders['level{L}']`` = {rfeat_layer, NetM, NetS, NetR, upflow_layer}.

    Levels are registered fine to coarse (``level3`` first, as mmflow sorts them, so the
    state_dict order matches) and run coarse to fine. mmflow's ``feat_layer`` is an identity for
    every LiteFlowNet2 level (all features have >= 64 channels) and is omitted; ``rfeat_layer`` is
    a 1x1 conv to 128 channels at levels with fewer channels (3, 4), else an identity; NetR is
    absent at the end level when ``regularized_end`` is False; ``upflow_layer`` is the fixed x2
    deconvolution except at the end level.

    Args:
        end_level: finest decoded level (3..6).
        regularized_end: whether the end level has NetR.
        flow_div: flow normalisation (20).
        cost_volume: the cost volume every NetM uses (default :func:`lfn2_ros.ops.correlation`).

    """

    def __init__(self, *, end_level: int, regularized_end: bool, flow_div: float = 20.0,
                 cost_volume: CostVolume = correlation) -> None:
        super().__init__()
        if end_level not in _KERNEL:
            raise ValueError(f'end_level must be in 3..6, got {end_level}')
        self.end_level = end_level
        self.flow_div = flow_div
        self.levels = tuple(range(6, end_level - 1, -1))  # coarse to fine
        decoders = {}
        for level in sorted(self.levels):
            channels = PYRAMID_CHANNELS[f'level{level}']
            kernel = _KERNEL[level]
            stride = _CORR_STRIDE[level]
            entries: dict[str, nn.Module] = {}
            has_netr = level != end_level or regularized_end
            if has_netr:
                entries['rfeat_layer'] = (ConvAct(channels, _RFEAT_CHANNELS, kernel_size=1)
                                          if channels < _RFEAT_CHANNELS else nn.Identity())
            entries['NetM'] = MatchingUnit(kernel_size=kernel, max_displacement=3, stride=stride,
                                           dilation_patch=stride, cost_volume=cost_volume)
            entries['NetS'] = SubpixelUnit(feat_channels=channels, kernel_size=kernel)
            if has_netr:
                entries['NetR'] = RegularizationUnit(
                    in_channels=3 + max(channels, _RFEAT_CHANNELS), kernel_size=kernel)
            entries['upflow_layer'] = FixedUpsample(channels=2) if level != end_level else nn.Identity()
            decoders[f'level{level}'] = nn.ModuleDict(entries)
        self.decoders = nn.ModuleDict(decoders)

    def check_sizes(self, height: int, width: int) -> None:
        """Raise ValueError unless every decoded level below 6 has even size (docs/model.md#input-size-rule).

        Args:
            height: level-1 (network input) height in px.
            width: level-1 (network input) width in px.

        """
        check_input_size(height, width, self.end_level)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, pyramid1: Mapping[str, torch.Tensor],
                pyramid2: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run the level loop (docs/model.md#level-loop).

        Args:
            image1: (B, 3, H, W) mean-subtracted BGR image 1 (full network-input size).
            image2: (B, 3, H, W) mean-subtracted BGR image 2.
            pyramid1: ``'level{L}'`` -> (B, C_L, H_L, W_L) features of image 1.
            pyramid2: the same for image 2.

        Returns:
            ``{'level6': ..., ..., 'level{end}': ...}``: (B, 2, H_L, W_L) normalised flow
            (full-res px / flow_div; channel 0 = +x right, 1 = +y down) at each decoded level.

        """
        self.check_sizes(image1.shape[2], image1.shape[3])
        preds: dict[str, torch.Tensor] = {}
        upflow = None
        for level in self.levels:
            key = f'level{level}'
            units = self.decoders[key]
            feat1, feat2 = pyramid1[key], pyramid2[key]
            multiplier = level_multiplier(level, self.flow_div)
            flow = units['NetM'](feat1, feat2, upflow, multiplier)
            flow = units['NetS'](feat1, feat2, flow, multiplier)
            if 'NetR' in units:
                size = feat1.shape[2:]
                # Resized directly from the full-size image, not from the previous level (mmflow _scale_img).
                img1 = F.interpolate(image1, size=size, mode='bilinear', align_corners=False)
                img2 = F.interpolate(image2, size=size, mode='bilinear', align_corners=False)
                flow = units['NetR'](img1, img2, units['rfeat_layer'](feat1), flow, multiplier)
            preds[key] = flow
            if level != self.end_level:
                upflow = units['upflow_layer'](flow)
        return preds

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Feature pyramid extractor NetC of LiteFlowNet2, shared by both images (docs/model.md#encoder)."""

from __future__ import annotations

import torch
from torch import nn

from lfn2_ros.model.units import ConvAct

__all__ = ['FeatureEncoder', 'PYRAMID_CHANNELS']

# (number of convs, kernel of the first conv, stride of the first conv, output channels) per level 1..6
# (mmflow ``liteflownet_encoder.py`` NetC defaults as configured by the liteflownet2 model configs).
_BLOCKS = (
    (1, 7, 1, 32),
    (3, 3, 2, 32),
    (2, 3, 2, 64),
    (2, 3, 2, 96),
    (1, 3, 2, 128),
    (1, 3, 2, 192),
)

PYRAMID_CHANNELS = {f'level{i + 1}': block[3] for i, block in enumerate(_BLOCKS)}
"""Channels of each pyramid level, ``{'level1': 32, ..., 'level6': 192}``."""


class _ConvBlock(nn.Module):
    """One pyramid level: a (possibly strided) conv then stride-1 3x3 convs, all conv + LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, num_convs: int, kernel_size: int,
                 stride: int) -> None:
        super().__init__()
        layers = [ConvAct(in_channels, out_channels, kernel_size=kernel_size, stride=stride)]
        layers += [ConvAct(out_channels, out_channels, kernel_size=3) for _ in range(num_convs - 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class FeatureEncoder(nn.Module):
    """NetC: six conv blocks, block L producing pyramid level L (size ceil(H / 2^(L-1))).

    Parameters are named ``layers.{i}.layers.{j}.conv.{weight,bias}`` as in mmflow. 558,432
    parameters, identical in all variants.

    Input: (B, 3, H, W) mean-subtracted BGR image. Output: dict ``'level1'`` .. ``'level6'`` of
    (B, C_L, ceil(H / 2^(L-1)), ceil(W / 2^(L-1))) features, C = 32, 32, 64, 96, 128, 192.
    """

    def __init__(self) -> None:
        super().__init__()
        blocks = []
        in_channels = 3
        for num_convs, kernel_size, stride, out_channels in _BLOCKS:
            blocks.append(_ConvBlock(in_channels, out_channels, num_convs=num_convs,
                                     kernel_size=kernel_size, stride=stride))
            in_channels = out_channels
        self.layers = nn.ModuleList(blocks)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the 6-level pyramid of ``image`` (B, 3, H, W); see the class docstring."""
        pyramid = {}
        x = image
        for index, block in enumerate(self.layers):
            x = block(x)
            pyramid[f'level{index + 1}'] = x
        return pyramid

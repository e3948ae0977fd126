# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Fixed (non-learned) x2 upsampler of LiteFlowNet2: a depthwise 4x4 transposed convolution."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['FixedUpsample', 'upsampling_kernel']

_KERNEL_SIZE = 4  # 2 * scale - scale % 2 for scale 2
_STRIDE = 2
_PADDING = 1  # ceil((scale - 1) / 2)


def upsampling_kernel(channels: int) -> torch.Tensor:
    """The x2 kernel mmflow uses, channel-replicated, as a (channels, 1, 4, 4) float32 tensor.

    It is meant to be Caffe's ``BilinearFilter``, but mmflow (``liteflownet_decoder.py``
    ``Upsample``) computes the row coordinate of flat index ``i`` with a float division,
    ``y = (i / 4) mod 4``, so the kernel is not separable (docs/model.md#fixed-upsampling-kernel)::

        f = ceil(4 / 2) = 2, c = (2f - 1 - f mod 2) / (2f) = 0.75
        k[i] = (1 - |x / f - c|) * (1 - |y / f - c|),  x = i mod 4,  y = (i / 4) mod 4

    The checkpoints were trained with exactly these values (row 3 sums to 0.125, the whole kernel
    to 3.9375), so a textbook bilinear kernel would change the output.

    Args:
        channels: number of channels the depthwise deconvolution handles.

    Returns:
        (channels, 1, 4, 4) float32 kernel.

    """
    f = math.ceil(_KERNEL_SIZE / 2)
    c = (2 * f - 1 - f % 2) / 2.0 / f
    values = []
    for i in range(_KERNEL_SIZE * _KERNEL_SIZE):
        x = i % _KERNEL_SIZE
        y = (i / _KERNEL_SIZE) % _KERNEL_SIZE  # float division, as in mmflow
        values.append((1 - abs(x / f - c)) * (1 - abs(y / f - c)))
    kernel = torch.tensor(values, dtype=torch.float32).view(1, 1, _KERNEL_SIZE, _KERNEL_SIZE)
    return kernel.repeat(channels, 1, 1, 1)


class FixedUpsample(nn.Module):
    """Depthwise ``conv_transpose2d`` (kernel 4, stride 2, padding 1) with a fixed kernel.

    The kernel is a persistent buffer named ``weight`` so it appears in the state_dict under the
    mmflow key (``...upflow_layer.weight`` (2, 1, 4, 4), ``...NetM.corr_up.weight`` (49, 1, 4, 4)).
    Values are not rescaled: flows stay in normalised units.

    Input (B, channels, h, w) -> output (B, channels, 2h, 2w), same dtype.
    """

    weight: torch.Tensor

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer('weight', upsampling_kernel(channels), persistent=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample ``x`` (B, channels, h, w) to (B, channels, 2h, 2w)."""
        return F.conv_transpose2d(x, self.weight.to(x.dtype), stride=_STRIDE, padding=_PADDING,
                                  groups=self.channels)

    def extra_repr(self) -> str:
        """Channel count, for ``print(model)``."""
        return f'channels={self.channels}'

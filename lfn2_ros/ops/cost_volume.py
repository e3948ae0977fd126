# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The interface every cost volume implements, so the model takes one as a constructor argument.

:func:`lfn2_ros.ops.correlation` (the compiled kernels, falling back to the reference) and
:func:`lfn2_ros.ops.reference.correlation_reference` (pure PyTorch) both implement it, and so can a
user's or a benchmark's own function (docs/extension.md#definition).
"""

from __future__ import annotations

from typing import Optional, Protocol

import torch

__all__ = ['CostVolume']


class CostVolume(Protocol):
    """Leaky-ReLU'd local correlation of ``f1`` with ``f2`` warped by ``flow``.

    Args:
        f1: (N, C, H, W) float features of the first image.
        f2: (N, C, H, W) float features of the second image.
        flow: optional (N, 2, H, W) flow in level px (channel 0 = +x right, 1 = +y down) by which ``f2``
            is warped first (masked bilinear warp); None correlates ``f2`` as it is.
        max_displacement: md; P = 2 md + 1 displacements per axis.
        stride: output stride.
        dilation_patch: spacing of the displacements in level px.
        negative_slope: slope of the leaky ReLU applied to the raw channel sums.

    Returns:
        (N, P*P, ceil(H/stride), ceil(W/stride)) tensor, displacement index ph*P + pw.

    """

    def __call__(self, f1: torch.Tensor, f2: torch.Tensor, flow: Optional[torch.Tensor] = None, *,
                 max_displacement: int, stride: int, dilation_patch: int,
                 negative_slope: float) -> torch.Tensor:
        """Compute the cost volume (see the class docstring)."""
        ...

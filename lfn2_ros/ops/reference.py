# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pure-PyTorch local correlation (mmcv ``Correlation`` semantics): test oracle and CPU fallback."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from lfn2_ros.ops.warp import warp

__all__ = ['check_correlation_args', 'correlation_output_size', 'correlation_reference']


def correlation_output_size(size: int, stride: int) -> int:
    """Output extent of the correlation along one axis: ceil(size / stride) (kernel 1, no padding)."""
    return (size + stride - 1) // stride


def check_correlation_args(f1: torch.Tensor, f2: torch.Tensor, flow: Optional[torch.Tensor],
                           max_displacement: int, stride: int, dilation_patch: int) -> None:
    """Raise ValueError for shapes or settings no correlation backend accepts (shared by all of them)."""
    if f1.dim() != 4 or f1.shape != f2.shape:
        raise ValueError(f'correlation expects f1 and f2 of the same shape (N, C, H, W), got '
                         f'{tuple(f1.shape)} and {tuple(f2.shape)}')
    if flow is not None and (flow.dim() != 4 or flow.shape[1] != 2 or flow.shape[0] != f1.shape[0]
                             or flow.shape[2:] != f1.shape[2:]):
        raise ValueError(f'correlation: flow must be (N, 2, H, W) = ({f1.shape[0]}, 2, {f1.shape[2]}, '
                         f'{f1.shape[3]}), got {tuple(flow.shape)}')
    if max_displacement < 0 or stride < 1 or dilation_patch < 1:
        raise ValueError(f'correlation needs max_displacement >= 0, stride >= 1 and dilation_patch >= 1, got '
                         f'{max_displacement}, {stride} and {dilation_patch}')


def correlation_reference(
    f1: torch.Tensor,
    f2: torch.Tensor,
    flow: Optional[torch.Tensor] = None,
    *,
    max_displacement: int = 3,
    stride: int = 1,
    dilation_patch: int = 1,
    negative_slope: float = 0.1,
) -> torch.Tensor:
    """Leaky-ReLU'd correlation of ``f1`` with ``f2`` (warped by ``flow`` first when given).

    docs/extension.md#definition (mmcv ``Correlation(kernel_size=1, padding=0)`` as used by mmflow's
    ``CorrBlock`` with ``scaled_corr=False``)::

        out[n, ph * P + pw, h, w] = lrelu(sum_c f1[n, c, y, x] * g[n, c, y + dy, x + dx])
        y = h * stride, x = w * stride, dy = (ph - md) * dilation_patch, dx = (pw - md) * dilation_patch

    with P = 2 * md + 1, g = ``warp(f2, flow)`` (or ``f2``) and zero outside the image. The channel
    sum is raw (no division by C). The loop runs over the P * P displacements; only the strided
    output pixels are computed and no (C, P * P, H, W) temporary is built.

    Args:
        f1: (N, C, H, W) features of the first image at level L, float.
        f2: (N, C, H, W) features of the second image at level L, same dtype and device.
        flow: optional (N, 2, H, W) flow in level-L px (channel 0 = +x, 1 = +y) used to warp ``f2``
            (mmflow warps the whole map first, then correlates).
        max_displacement: md, largest displacement index; P = 2 * md + 1.
        stride: output stride s; output pixel (h, w) reads input pixel (h * s, w * s).
        dilation_patch: spacing d of the displacements, in level-L px.
        negative_slope: slope of the leaky ReLU applied to the raw sums.

    Returns:
        (N, P * P, ceil(H / s), ceil(W / s)) tensor in ``f1.dtype``, channel = ph * P + pw
        (ph vertical, pw horizontal displacement index).

    Raises:
        ValueError: on inconsistent shapes or arguments.

    """
    check_correlation_args(f1, f2, flow, max_displacement, stride, dilation_patch)
    if flow is not None:
        f2 = warp(f2, flow)
    n, _, h, w = f1.shape
    out_h, out_w = correlation_output_size(h, stride), correlation_output_size(w, stride)
    reach = max_displacement * dilation_patch
    f1_s = f1[:, :, ::stride, ::stride]
    f2_pad = F.pad(f2, (reach, reach, reach, reach))  # zero outside the image (mmcv bounds check)
    patch = 2 * max_displacement + 1
    out = f1.new_empty((n, patch * patch, out_h, out_w))
    span_h, span_w = (out_h - 1) * stride + 1, (out_w - 1) * stride + 1
    for ph in range(patch):
        top = reach + (ph - max_displacement) * dilation_patch
        rows = f2_pad[:, :, top:top + span_h:stride]
        for pw in range(patch):
            left = reach + (pw - max_displacement) * dilation_patch
            shifted = rows[:, :, :, left:left + span_w:stride]
            out[:, ph * patch + pw] = (f1_s * shifted).sum(dim=1)
    return F.leaky_relu(out, negative_slope)

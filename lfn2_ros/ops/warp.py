# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Backward warp of a feature map by a flow field, masked like mmflow's ``Warp(use_mask=True)``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ['warp']


def _sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """Pixel grid shifted by ``flow`` and normalised to [-1, 1] for ``grid_sample(align_corners=True)``.

    The arithmetic order follows mmflow ``mmflow/ops/warp.py`` ``coords_grid`` (add the flow to the
    integer pixel coordinates, then ``g * 2 / max(size - 1, 1) - 1``) so the sampling positions are
    bit-identical to mmflow's.

    Args:
        flow: (N, 2, H, W) displacement in px of this map; channel 0 = +x right, 1 = +y down.

    Returns:
        (N, H, W, 2) sampling grid in ``flow.dtype``, last axis (x, y).

    """
    n, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(1, h, w)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(1, h, w)
    coords = torch.cat((xs, ys), dim=0)[None]  # (1, 2, H, W), channel order (x, y)
    grid = coords + flow
    gx = grid[:, 0] * 2.0 / max(w - 1, 1) - 1.0
    gy = grid[:, 1] * 2.0 / max(h - 1, 1) - 1.0
    return torch.stack((gx, gy), dim=-1)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` at ``p + flow(p)``; zero wherever a bilinear tap falls outside the image.

    docs/model.md#masked-warp (mmflow ``Warp(align_corners=True, use_mask=True)``): bilinear
    ``grid_sample`` with zero padding and ``align_corners=True`` (exact pixel centres), then the
    same sampling of a ones tensor; output pixels whose mask is <= 0.9999 are set to 0.

    Args:
        x: (N, C, H, W) floating tensor, e.g. level-L features or a mean-subtracted image.
        flow: (N, 2, H, W) same dtype/device, displacement in level-L px (px of ``x``);
            channel 0 = +x right, channel 1 = +y down.

    Returns:
        (N, C, H, W) warped tensor, same dtype as ``x``.

    Raises:
        ValueError: if the shapes do not match.

    """
    if x.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f'warp expects x (N, C, H, W) and flow (N, 2, H, W), got {tuple(x.shape)} '
                         f'and {tuple(flow.shape)}')
    if flow.shape[0] != x.shape[0] or flow.shape[2:] != x.shape[2:]:
        raise ValueError(f'warp: flow {tuple(flow.shape)} must have the batch and spatial size of x '
                         f'{tuple(x.shape)}')
    # Reduced-precision inputs are sampled in float32 (as under autocast): a float16 grid cannot
    # resolve sub-pixel positions in images wider than ~1000 px.
    compute_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    grid = _sampling_grid(flow.to(compute_dtype))
    src = x.to(compute_dtype)
    out = F.grid_sample(src, grid, mode='bilinear', padding_mode='zeros', align_corners=True)
    # mmflow samples a ones tensor of x's full shape; every channel gives the same mask, so one is enough.
    ones = torch.ones((x.shape[0], 1) + tuple(x.shape[2:]), dtype=compute_dtype, device=x.device)
    mask = F.grid_sample(ones, grid, mode='bilinear', padding_mode='zeros', align_corners=True)
    return (out * (mask > 0.9999).to(compute_dtype)).to(x.dtype)

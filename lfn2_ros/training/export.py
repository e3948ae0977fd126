# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Export trained weights for shipping: fp16 only when it costs no accuracy and flushes no weight.

fp16 halves the file, but its smallest subnormal is 6e-8: weights below that become exactly zero,
and a level trained to tiny weights disappears. :func:`export_weights` rounds the weights to fp16,
compares the flow of both versions on probe pairs, counts the weights fp16 flushes to zero, and
writes fp32 when either check fails (``dtype='auto'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import torch

from lfn2_ros.model import load_checkpoint, save_checkpoint
from lfn2_ros.training.health import check_state_dict

__all__ = ['ARCHITECTURE', 'DEFAULT_NAME', 'compare_fp16', 'export_weights']

DEFAULT_NAME = 'lfn2_ros_default_v4'
"""Name of the weights this package trains and ships (not an mmflow model-zoo checkpoint)."""

ARCHITECTURE = 'LiteFlowNet2 (Hui et al., TPAMI 2020), full model: mmflow pre_M3S3R3 module layout'


@torch.no_grad()
def compare_fp16(model: torch.nn.Module, probes: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Flow difference and flushed weights when ``model``'s parameters are rounded to fp16.

    Args:
        model: float32 LiteFlowNet2 (left unchanged).
        probes: (img1, img2) pairs of (B, 3, H, W) float32 BGR in [0, 1].

    Returns:
        ``mean_diff_px`` (mean end-point difference of the two models' flows), ``max_diff_px``,
        ``flushed`` (nonzero fp32 weights that are zero in fp16) and ``flushed_fraction``.

    """
    from lfn2_ros.training.metrics import predict_flow

    half = load_checkpoint_like(model)
    flushed, total = 0, 0
    for (_, p32), (_, p16) in zip(model.named_parameters(), half.named_parameters(), strict=True):
        rounded = p32.detach().half().float()
        flushed += int(((p32 != 0) & (rounded == 0)).sum())
        total += p32.numel()
        p16.copy_(rounded)
    model.eval()
    half.eval()
    diffs, peak = [], 0.0
    for img1, img2 in probes:
        d = torch.linalg.vector_norm(predict_flow(model, img1, img2) - predict_flow(half, img1, img2), dim=1)
        diffs.append(float(d.mean()))
        peak = max(peak, float(d.max()))
    return {
        'mean_diff_px': sum(diffs) / max(len(diffs), 1),
        'max_diff_px': peak,
        'flushed': flushed,
        'flushed_fraction': flushed / max(total, 1),
    }


def load_checkpoint_like(model: torch.nn.Module) -> torch.nn.Module:
    """A fresh copy of a LiteFlowNet2 ``model`` (same variant, same weights)."""
    from lfn2_ros.model import LiteFlowNet2

    twin = LiteFlowNet2(model.variant)
    twin.load_state_dict(model.state_dict())
    return twin


def export_weights(
    checkpoint: Union[str, Path],
    dest: Union[str, Path],
    *,
    dtype: str = 'auto',
    name: str = DEFAULT_NAME,
    probes: Optional[list[tuple[torch.Tensor, torch.Tensor]]] = None,
    tolerance_px: float = 0.01,
    meta: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Write a checkpoint's weights for shipping, named as ours, with the architecture stated separately.

    Args:
        checkpoint: trained checkpoint (``final.pth`` or ``latest.pth``).
        dest: destination ``.pth``.
        dtype: 'float32', 'float16', or 'auto' (fp16 only if it flushes no weight and changes the mean
            flow by less than ``tolerance_px`` on the probes).
        name: ``meta['name']`` of the weights.
        probes: (img1, img2) pairs for the comparison (default: 4 generated 256x320 pairs).
        tolerance_px: largest mean flow difference accepted for fp16, px.
        meta: extra meta entries (plain data).

    Returns:
        The comparison (see :func:`compare_fp16`) with ``dtype`` chosen, ``size_bytes`` and ``health``.

    """
    if dtype not in ('auto', 'float32', 'float16'):
        raise ValueError(f"dtype must be 'auto', 'float32' or 'float16', got {dtype!r}")
    model = load_checkpoint(checkpoint).float()
    if probes is None:
        from lfn2_ros.training.pairs import heldout_batches

        probes = [(b.img1, b.img2) for b in heldout_batches(4, 256, 320, chunk=2)]
    report: dict[str, Any] = compare_fp16(model, probes)
    fp16_ok = report['flushed'] == 0 and report['mean_diff_px'] < tolerance_px
    chosen = dtype if dtype != 'auto' else ('float16' if fp16_ok else 'float32')
    health = check_state_dict(model.state_dict())
    info = {
        'name': name,
        'architecture': ARCHITECTURE,
        'variant': model.variant.alias,
        'dtype': chosen,
        'fp16_check': {k: float(v) for k, v in report.items()},
        'health': health.summary(),
        **(meta or {}),
    }
    dest = Path(dest)
    save_checkpoint(model, dest, meta=info, dtype=torch.float16 if chosen == 'float16' else None)
    return {**report, 'dtype': chosen, 'size_bytes': dest.stat().st_size, 'health': health.summary()}

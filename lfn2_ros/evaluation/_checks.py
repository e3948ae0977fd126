# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Argument checks shared by the metric modules."""

from __future__ import annotations

import numpy as np

__all__ = ['as_flow', 'as_mask']


def as_flow(flow: np.ndarray, name: str) -> np.ndarray:
    """``flow`` as a float64 (H, W, 2) array (no copy when it already is one).

    Raises:
        ValueError: ``flow`` is not (H, W, 2).

    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f'{name} must have shape (H, W, 2), got {flow.shape}')
    return flow.astype(np.float64, copy=False)


def as_mask(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``mask`` as a bool array of ``shape``.

    Raises:
        ValueError: ``mask`` has another shape.

    """
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f'{name} must have shape {shape}, got {mask.shape}')
    return mask.astype(bool)

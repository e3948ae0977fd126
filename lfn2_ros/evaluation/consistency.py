# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Self-consistency of a flow without ground truth: photometric error and forward-backward consistency.

Flows are (H, W, 2) float, px, channel 0 = u (+x right), 1 = v (+y down), defined on frame 1 and pointing to
frame 2.

- Photometric error: mean absolute difference, in 8-bit intensity units [0, 255] averaged over the
  3 channels, between frame 1 and frame 2 warped back with the flow (frame 2 sampled bilinearly at
  ``x + flow(x)``); pixels whose target falls outside frame 2 are excluded.
- Forward-backward consistency (Sundaram et al., ECCV 2010; UnFlow, AAAI 2018): pixel x is
  consistent when ``|f + b|^2 < 0.01 (|f|^2 + |b|^2) + 0.5`` with f = fwd(x), b = bwd(x + f)
  (bilinear); the rate is over pixels whose target lies inside frame 2. The flow node publishes
  the soft form of the same test, ``exp(-|f + b|^2 / (0.01 (|f|^2 + |b|^2) + 0.5))``, as confidence.
"""

from __future__ import annotations

import cv2
import numpy as np

from lfn2_ros.evaluation._checks import as_flow

__all__ = [
    'FB_ALPHA1',
    'FB_ALPHA2',
    'fb_confidence',
    'fb_consistency_mask',
    'photometric_error_map',
    'warp_back',
]

FB_ALPHA1 = 0.01
"""Forward-backward check: relative tolerance on squared magnitudes (Sundaram et al. 2010)."""
FB_ALPHA2 = 0.5
"""Forward-backward check: absolute tolerance, px^2 (Sundaram et al. 2010)."""


def _sample(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image`` at x + flow(x), bilinear; returns (sampled, inside) with inside (H, W) bool."""
    height, width = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = (gx + flow[..., 0]).astype(np.float32)
    map_y = (gy + flow[..., 1]).astype(np.float32)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    inside &= np.isfinite(map_x) & np.isfinite(map_y)
    map_x = np.where(inside, map_x, -1).astype(np.float32)
    map_y = np.where(inside, map_y, -1).astype(np.float32)
    sampled = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return sampled, inside


def warp_back(image2: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Warp frame 2 back onto frame 1 with a forward flow.

    Args:
        image2: (H, W, C) or (H, W) image of frame 2 (any dtype cv2.remap accepts).
        flow: (H, W, 2) flow from frame 1 to frame 2, px.

    Returns:
        Tuple ``(warped, inside)``: warped (H, W[, C]) float32, ``warped(x) = image2(x + flow(x))``
        bilinear; inside (H, W) bool, target inside frame 2 (warped is 0 elsewhere).

    """
    flow = as_flow(flow, 'flow').astype(np.float32)
    if image2.shape[:2] != flow.shape[:2]:
        raise ValueError(f'image2 size {image2.shape[:2]} does not match flow size {flow.shape[:2]}')
    return _sample(np.asarray(image2, dtype=np.float32), flow)


def photometric_error_map(
    image1: np.ndarray, image2: np.ndarray, flow: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel photometric error of frame 2 warped back to frame 1.

    Args:
        image1: (H, W, 3) uint8 BGR frame 1.
        image2: (H, W, 3) uint8 BGR frame 2.
        flow: (H, W, 2) flow from frame 1 to frame 2, px.

    Returns:
        Tuple ``(error, inside)``: error (H, W) float64, mean over channels of
        ``|image1 - warped image2|`` in [0, 255]; inside (H, W) bool, where the target lies in frame 2.

    """
    if image1.shape != image2.shape:
        raise ValueError(f'image1 and image2 must have the same shape, got {image1.shape} and {image2.shape}')
    warped, inside = warp_back(image2, flow)
    diff = np.abs(image1.astype(np.float64) - warped)
    error = diff.mean(axis=2) if diff.ndim == 3 else diff
    return error, inside


def _fb_residual(flow_fw: np.ndarray, flow_bw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Terms of the forward-backward test: ``|f + b|^2``, ``|f|^2 + |b|^2`` (px^2, float64) and inside.

    b is ``flow_bw`` sampled bilinearly at x + f(x); inside (H, W) bool marks targets within frame 2.
    """
    fw = as_flow(flow_fw, 'flow_fw').astype(np.float32)
    bw = as_flow(flow_bw, 'flow_bw').astype(np.float32)
    if fw.shape != bw.shape:
        raise ValueError(f'flow_fw and flow_bw must have the same shape, got {fw.shape} and {bw.shape}')
    bw_at, inside = _sample(bw, fw)
    f = fw.astype(np.float64)
    b = bw_at.astype(np.float64)
    return np.sum((f + b) ** 2, axis=2), np.sum(f**2, axis=2) + np.sum(b**2, axis=2), inside


def fb_consistency_mask(
    flow_fw: np.ndarray, flow_bw: np.ndarray, *, alpha1: float = FB_ALPHA1, alpha2: float = FB_ALPHA2
) -> tuple[np.ndarray, np.ndarray]:
    """Forward-backward consistency check.

    Args:
        flow_fw: (H, W, 2) flow frame 1 -> frame 2, px.
        flow_bw: (H, W, 2) flow frame 2 -> frame 1, px.
        alpha1: relative tolerance.
        alpha2: absolute tolerance, px^2.

    Returns:
        Tuple ``(consistent, inside)``, (H, W) bool each: ``|f + b|^2 < alpha1 (|f|^2 + |b|^2) + alpha2``
        with b sampled bilinearly at x + f; inside = target within frame 2 (consistent is False elsewhere).

    Raises:
        ValueError: the flows differ in shape or are not (H, W, 2).

    """
    residual, norm, inside = _fb_residual(flow_fw, flow_bw)
    return (residual < alpha1 * norm + alpha2) & inside, inside


def fb_confidence(
    flow_fw: np.ndarray, flow_bw: np.ndarray, *, alpha1: float = FB_ALPHA1, alpha2: float = FB_ALPHA2
) -> np.ndarray:
    """Soft forward-backward consistency on the forward flow's grid (the flow node's confidence).

    The test of :func:`fb_consistency_mask` turned into a score,
    ``exp(-|f + b|^2 / (alpha1 (|f|^2 + |b|^2) + alpha2))``: 1 for a perfectly consistent pixel,
    exp(-1) on the hard test's threshold. Pixels whose target leaves frame 2 (or whose flow is not
    finite) get 0.

    Args:
        flow_fw: (H, W, 2) flow frame 1 -> frame 2, px, on frame 1's grid.
        flow_bw: (H, W, 2) flow frame 2 -> frame 1, px, on frame 2's grid.
        alpha1: relative tolerance.
        alpha2: absolute tolerance, px^2.

    Returns:
        (H, W) float32 confidence in [0, 1] (1 = consistent).

    Raises:
        ValueError: the flows differ in shape or are not (H, W, 2).

    """
    residual, norm, inside = _fb_residual(flow_fw, flow_bw)
    with np.errstate(invalid='ignore', over='ignore'):
        confidence = np.exp(-residual / (alpha1 * norm + alpha2))
    return np.where(inside & np.isfinite(confidence), confidence, 0.0).astype(np.float32)

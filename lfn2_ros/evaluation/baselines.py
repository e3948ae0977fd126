# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Classical optical flow to compare LiteFlowNet2 with: OpenCV's Farneback method."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ['FARNEBACK_PARAMS', 'farneback_flow']

FARNEBACK_PARAMS = {
    'pyr_scale': 0.5,  # each pyramid level half the size of the previous one
    'levels': 3,
    'winsize': 15,  # averaging window, px
    'iterations': 3,  # per pyramid level
    'poly_n': 5,  # neighbourhood of the polynomial expansion, px
    'poly_sigma': 1.2,  # Gaussian smoothing of that neighbourhood
    'flags': 0,
}
"""``cv2.calcOpticalFlowFarneback`` parameters: the values of OpenCV's optical-flow tutorial."""


def farneback_flow(img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
    """Farneback flow from frame 1 to frame 2, computed on the grey images.

    Args:
        img1: (H, W, 3) uint8 BGR frame 1.
        img2: (H, W, 3) uint8 BGR frame 2.

    Returns:
        (H, W, 2) float32 flow, px (channel 0 = u, +x right; 1 = v, +y down).

    """
    grey1 = cv2.cvtColor(img1, cv2.COLOR_BGR2GRAY)
    grey2 = cv2.cvtColor(img2, cv2.COLOR_BGR2GRAY)
    return cv2.calcOpticalFlowFarneback(grey1, grey2, None, **FARNEBACK_PARAMS)

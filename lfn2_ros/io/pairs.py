# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The record of one image pair with optional ground truth: what datasets, bags and generators yield."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ['FlowPair']


@dataclass
class FlowPair:
    """Two frames and, when known, the flow between them.

    Attributes:
        img1: (H, W, 3) uint8 BGR frame 1.
        img2: (H, W, 3) uint8 BGR frame 2.
        flow: (H, W, 2) float32 ground-truth flow frame 1 -> frame 2, px (channel 0 = u, +x right;
            1 = v, +y down), or None.
        valid: (H, W) bool pixels with valid ground truth ("all"), or None (every finite pixel).
        noc: (H, W) bool valid and non-occluded pixels ("noc"), or None when unknown.
        split: the group the pair belongs to (a dataset split, a bag topic).
        name: the pair's name inside its split, e.g. ``alley_1/frame_0001`` or ``000012``.
        frames: the two source frames when the pair comes from a bag
            (:class:`lfn2_ros.io.bag_reader.BagFrame`: stamps, frame_id, raw message), else None.

    """

    img1: np.ndarray
    img2: np.ndarray
    flow: np.ndarray | None = None
    valid: np.ndarray | None = None
    noc: np.ndarray | None = None
    split: str = ''
    name: str = ''
    frames: tuple[Any, Any] | None = None

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The record of one image pair with optional ground truth, and the rules for when two frames form a pair.

:class:`FlowPair` is what datasets, bags and generators yield. :func:`stamp_break_reason` and
:func:`image_break_reason` are the pairing rules of the flow node (``node/pairing.py``) and of the
offline bag reader (``io/bag_reader.py``), kept in one place so that both pair the same frames; they are
described in docs/node.md#pairing-rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ['FlowPair', 'image_break_reason', 'stamp_break_reason']


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


def stamp_break_reason(previous_ns: int, current_ns: int, max_gap_s: float | None = None) -> str | None:
    """Why two frames with these header stamps must not be paired, or None when they may be.

    Args:
        previous_ns: header stamp of the earlier frame (frame 1 of the pair), ns.
        current_ns: header stamp of the later frame (frame 2), ns.
        max_gap_s: longest allowed interval between the two stamps, s; None = no limit (the offline
            bag reader, which sees every frame of the bag).

    Returns:
        None, or the reason: the stamp does not advance (a looped bag, a clock reset) or the gap is
        longer than ``max_gap_s``.

    """
    if current_ns <= previous_ns:
        back_s = (previous_ns - current_ns) / 1e9
        return f'stamp did not advance (went back by {back_s:.3f} s)'
    gap_s = (current_ns - previous_ns) / 1e9
    if max_gap_s is not None and gap_s > max_gap_s:
        return f'gap {gap_s:.3f} s exceeds max_pair_gap {max_gap_s:.3f} s'
    return None


def image_break_reason(previous_shape: Sequence[int], current_shape: Sequence[int], previous_encoding: str,
                       current_encoding: str) -> str | None:
    """Why two decoded frames must not be paired, or None when they may be.

    Args:
        previous_shape: shape of the earlier frame's decoded image, (H, W, 3).
        current_shape: shape of the later frame's decoded image, (H, W, 3).
        previous_encoding: encoding of the earlier input message (for compressed input, its format).
        current_encoding: encoding of the later input message.

    Returns:
        None, or the reason: the image size or the encoding changed.

    """
    if tuple(current_shape) != tuple(previous_shape):
        return f'size changed from {tuple(previous_shape[:2])} to {tuple(current_shape[:2])}'
    if current_encoding != previous_encoding:
        return f'encoding changed from {previous_encoding} to {current_encoding}'
    return None

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Public correlation op. Placeholder dispatch: the compiled extension (issue 4) plugs in here."""

from __future__ import annotations

from typing import Optional

import torch

from lfn2_ros.ops.reference import correlation_reference


def has_extension() -> bool:
    """Return True when the compiled correlation extension is loaded."""
    return False


def correlation(
    f1: torch.Tensor,
    f2: torch.Tensor,
    flow: Optional[torch.Tensor] = None,
    *,
    max_displacement: int = 3,
    stride: int = 1,
    dilation_patch: int = 1,
    negative_slope: float = 0.1,
) -> torch.Tensor:
    """Leaky-ReLU'd local correlation of f1 with f2 (optionally warped by ``flow``); see reference."""
    return correlation_reference(
        f1, f2, flow, max_displacement=max_displacement, stride=stride,
        dilation_patch=dilation_patch, negative_slope=negative_slope)

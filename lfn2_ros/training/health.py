# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Weight-health check: no dead or collapsed convolution, and a coarse cost volume that sees the image.

A level whose loss gradient is much smaller than its L2 weight-decay term dies under Adam with
coupled decay: Adam normalises the decay gradient, so such weights shrink by about the learning rate
per step whatever the decay factor, until they are zero (and an fp16 export flushes what is left).
Once a flow head is zero, the layers before it get no gradient and follow. This module finds such
levels in a state dict, and checks on a real photo that the level-6 correlation still varies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

import torch

__all__ = ['HealthReport', 'check_model', 'check_state_dict', 'cost_volume_spread']

DEAD_ABS = 1e-7
"""A conv weight whose largest |entry| is at most this is dead (all zero up to rounding)."""

COLLAPSED_REL = 1e-3
"""A conv weight whose entries' std is below this fraction of their mean |entry| is collapsed (constant)."""

COST_SPREAD_MIN = 1e-3
"""Smallest relative spread (std / mean |value|) of a healthy level-6 cost volume on a real photo."""


@dataclass
class HealthReport:
    """Result of a health check.

    Attributes:
        dead: conv weight keys that are all zero.
        collapsed: conv weight keys whose entries are (nearly) all equal.
        zero_fraction: share of all floating-point parameters that are exactly zero.
        cost_spread: relative spread of the level-6 cost volume on the probe image (None: not run).

    """

    dead: list[str] = field(default_factory=list)
    collapsed: list[str] = field(default_factory=list)
    zero_fraction: float = 0.0
    cost_spread: Optional[float] = None

    @property
    def healthy(self) -> bool:
        """No dead or collapsed layer and, when measured, a varying level-6 cost volume."""
        cost_ok = self.cost_spread is None or self.cost_spread >= COST_SPREAD_MIN
        return not self.dead and not self.collapsed and cost_ok

    def summary(self) -> str:
        """One line for logs."""
        spread = '' if self.cost_spread is None else f', level-6 cost spread {self.cost_spread:.3g}'
        names = (self.dead + self.collapsed)[:4]
        more = (
            f' ({", ".join(names)}{"..." if len(self.dead) + len(self.collapsed) > 4 else ""})'
            if names
            else ''
        )
        return (
            f'{"healthy" if self.healthy else "UNHEALTHY"}: {len(self.dead)} dead, {len(self.collapsed)} '
            f'collapsed conv layers{more}, {100 * self.zero_fraction:.1f}% zero parameters{spread}'
        )


def _is_conv_weight(key: str, value: torch.Tensor) -> bool:
    # fixed upsampling kernels are buffers, constant by design
    return (
        value.dim() == 4
        and key.endswith('.weight')
        and not key.endswith(('upflow_layer.weight', 'corr_up.weight'))
    )


def check_state_dict(state: Mapping[str, torch.Tensor]) -> HealthReport:
    """Find dead and collapsed convolutions in a LiteFlowNet2 state dict (any float dtype).

    Args:
        state: key -> tensor.

    Returns:
        :class:`HealthReport` without ``cost_spread``.

    """
    report = HealthReport()
    zeros, total = 0, 0
    for key, value in state.items():
        if not value.is_floating_point() or key.endswith(('upflow_layer.weight', 'corr_up.weight')):
            continue
        v = value.detach().float()
        zeros += int((v == 0).sum())
        total += v.numel()
        if not _is_conv_weight(key, v):
            continue
        if float(v.abs().max()) <= DEAD_ABS:
            report.dead.append(key)
        elif float(v.std()) < COLLAPSED_REL * float(v.abs().mean()):
            report.collapsed.append(key)
    report.zero_fraction = zeros / max(total, 1)
    return report


@torch.no_grad()
def cost_volume_spread(
    model: torch.nn.Module, image: torch.Tensor, shift: tuple[int, int] = (40, -25)
) -> float:
    """Relative spread of the level-6 correlation between a photo and its shifted copy.

    A dead level-6 encoder gives constant features, hence a cost volume that is the same at every
    pixel and displacement (spread 0); a working one varies with the image content.

    Args:
        model: a :class:`lfn2_ros.model.LiteFlowNet2` (eval mode is not required).
        image: (1, 3, H, W) float BGR in [0, 1], H and W >= 128.
        shift: (dx, dy) px applied to make the second image (a roll).

    Returns:
        std / mean |value| of the (1, 49, h6, w6) cost volume (0 for a constant one).

    """
    from lfn2_ros.ops import correlation

    img2 = torch.roll(image, shifts=(shift[1], shift[0]), dims=(2, 3))
    f1 = model.extract_features(image).pyramid['level6'].float()
    f2 = model.extract_features(img2).pyramid['level6'].float()
    corr = correlation(f1, f2, None, max_displacement=3, stride=1, dilation_patch=1, negative_slope=0.1)
    mean = float(corr.abs().mean())
    return float(corr.std()) / mean if mean > 0 else 0.0


def check_model(model: torch.nn.Module, probe: Optional[torch.Tensor] = None) -> HealthReport:
    """:func:`check_state_dict` of the model's weights plus, with a probe photo, :func:`cost_volume_spread`.

    Args:
        model: a LiteFlowNet2 (unwrapped).
        probe: optional (1, 3, H, W) float BGR photo in [0, 1] on the model's device.

    Returns:
        The :class:`HealthReport`.

    """
    report = check_state_dict(model.state_dict())
    if probe is not None:
        was_training = model.training
        model.eval()
        report.cost_spread = cost_volume_spread(model, probe)
        model.train(was_training)
    return report

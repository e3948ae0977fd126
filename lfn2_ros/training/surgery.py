# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Fine-tuning surgery: revive dead units of a loaded checkpoint, and train only some levels.

A checkpoint whose coarse levels died in training (every weight of a conv exactly zero, see
:mod:`lfn2_ros.training.health`) cannot recover by gradient descent alone: a zero conv passes no
gradient to the layers before it, and a unit whose first conv is dead feeds a constant to the rest.
:func:`reinit_dead_units` gives each unit holding a dead conv mmflow's initialisation again and zeroes
that unit's flow head, so the network's output is unchanged at the start of fine-tuning and the
revived level learns from there (docs/model.md#fine-tuning-surgery).

:func:`freeze_except` keeps only the parameters of chosen levels trainable, so a revived coarse level
can be trained first while the healthy finer encoder levels stay fixed and cost no backward pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from lfn2_ros.model.liteflownet2 import init_weights
from lfn2_ros.training.health import check_state_dict

__all__ = ['freeze_except', 'level_prefixes', 'parse_trainable', 'reinit_dead_units']


def _unit_of(key: str) -> str:
    """The unit owning a state-dict key: ``encoder.layers.N`` or ``decoder.decoders.levelN.NetX``."""
    parts = key.split('.')
    return '.'.join(parts[:3] if parts[0] == 'encoder' else parts[:4])


def reinit_dead_units(model: nn.Module) -> list[str]:
    """Re-initialise every unit that holds a dead conv, and zero its flow head.

    Args:
        model: a LiteFlowNet2 after loading a checkpoint.

    Returns:
        Names of the re-initialised units (empty when the model is healthy).

    """
    dead = check_state_dict(model.state_dict()).dead
    units = sorted({_unit_of(key) for key in dead})
    modules = dict(model.named_modules())
    for name in units:
        unit = modules[name]
        init_weights(unit)
        head = getattr(unit, 'pred_flow', None)
        if isinstance(head, nn.Conv2d):
            # A zero head adds zero residual flow: the unit starts as the identity on its input flow.
            nn.init.zeros_(head.weight)
            if head.bias is not None:
                nn.init.zeros_(head.bias)
    return units


def level_prefixes(level: int) -> tuple[str, str]:
    """State-dict prefixes of pyramid level ``level`` (1-6): its encoder layer and its decoder."""
    if not 1 <= level <= 6:
        raise ValueError(f'pyramid level must be 1..6, got {level}')
    return f'encoder.layers.{level - 1}.', f'decoder.decoders.level{level}.'


def parse_trainable(text: str) -> tuple[str, ...] | None:
    """Parse a ``--trainable`` entry: 'all' (None), or levels joined by '+', e.g. 'level6' or 'level5+level6'.

    Returns:
        The state-dict prefixes that stay trainable, or None for the whole model.

    """
    text = text.strip()
    if text == 'all':
        return None
    prefixes: list[str] = []
    for part in text.split('+'):
        part = part.strip()
        if not (part.startswith('level') and part[5:].isdigit()):
            raise ValueError(f"trainable must be 'all' or levels like 'level6+level5', got {text!r}")
        prefixes.extend(level_prefixes(int(part[5:])))
    return tuple(prefixes)


def freeze_except(model: nn.Module, prefixes: Sequence[str] | None) -> int:
    """Set ``requires_grad=False`` on parameters outside ``prefixes`` (None: all stay trainable).

    Returns:
        Number of trainable parameter tensors.

    Raises:
        ValueError: when no parameter matches, which would make the stage a no-op.

    """
    params: Iterable[tuple[str, torch.nn.Parameter]] = model.named_parameters()
    trainable = 0
    for name, param in params:
        keep = prefixes is None or name.startswith(tuple(prefixes))
        param.requires_grad_(keep)
        trainable += keep
    if not trainable:
        raise ValueError(f'no parameter of {type(model).__name__} matches the trainable prefixes {prefixes}')
    return trainable

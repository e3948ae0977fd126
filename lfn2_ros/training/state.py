# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Resumable training state: model, optimizer, gradient scaler, RNG states and data position, in one file.

The file is a normal checkpoint (``lfn2_ros.model.checkpoint.save_checkpoint``, loadable for inference)
whose ``extra`` entry holds the rest; everything is tensors and plain containers, so it loads with
``torch.load(weights_only=True)``. Resuming from it and running on equals running straight through
(on the CPU, bit for bit; CUDA kernels are not all deterministic).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from lfn2_ros.model import LiteFlowNet2
from lfn2_ros.model.checkpoint import read_checkpoint, save_checkpoint

__all__ = ['capture_rng', 'load_training_state', 'restore_rng', 'save_training_state']


def capture_rng() -> dict[str, Any]:
    """Torch (CPU and CUDA), numpy and Python RNG states as weights_only-loadable data."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py = random.getstate()
    state: dict[str, Any] = {
        'torch': torch.get_rng_state(),
        'numpy': {
            'kind': kind,
            'keys': torch.from_numpy(np.asarray(keys, np.int64)),
            'pos': int(pos),
            'has_gauss': int(has_gauss),
            'gauss': float(gauss),
        },
        'python': [py[0], list(py[1]), py[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state['torch'])
    n = state['numpy']
    np.random.set_state(
        (n['kind'], n['keys'].numpy().astype(np.uint32), n['pos'], n['has_gauss'], n['gauss'])
    )
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def save_training_state(
    path: Path,
    model: LiteFlowNet2,
    optimizer: torch.optim.Optimizer,
    *,
    iteration: int,
    data_position: int,
    elapsed_s: float,
    meta: dict[str, Any],
    scaler: Optional[torch.amp.GradScaler] = None,
) -> None:
    """Write the resumable state of a stage (atomically, through ``save_checkpoint``).

    Args:
        path: destination file.
        model: the unwrapped model (float32).
        optimizer: its optimizer.
        iteration: optimizer steps done in the stage.
        data_position: index of the next batch of the data stream.
        elapsed_s: training wall time of the stage so far, s.
        meta: plain-data description of the stage (variant, config...).
        scaler: the fp16 gradient scaler, if any.

    """
    extra: dict[str, Any] = {'optimizer': optimizer.state_dict(), 'rng': capture_rng()}
    if scaler is not None:
        extra['scaler'] = scaler.state_dict()
    info = {
        **meta,
        'iteration': int(iteration),
        'data_index': int(data_position),
        'elapsed_s': float(elapsed_s),
    }
    save_checkpoint(model, path, meta=info, extra=extra)


def load_training_state(
    path: Path,
    model: LiteFlowNet2,
    optimizer: torch.optim.Optimizer,
    scaler: Optional[torch.amp.GradScaler] = None,
) -> dict[str, Any]:
    """Load what :func:`save_training_state` wrote into ``model``/``optimizer``/``scaler`` and the RNGs.

    Returns:
        The meta dict (``iteration``, ``data_index``, ``elapsed_s`` and the stage description).

    """
    state, meta, extra = read_checkpoint(path)
    model.load_state_dict(state, strict=True)
    optimizer.load_state_dict(extra['optimizer'])
    if scaler is not None and 'scaler' in extra:
        scaler.load_state_dict(extra['scaler'])
    restore_rng(extra['rng'])
    return meta

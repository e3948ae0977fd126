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
from lfn2_ros.model.checkpoint import read_checkpoint, save_checkpoint, write_checkpoint

__all__ = [
    'capture_rng',
    'load_training_state',
    'restore_compact_state',
    'restore_rng',
    'save_training_state',
    'write_compact_state',
]


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


def write_compact_state(latest: Path, dest: Path, moments: str = 'bf16') -> int:
    """Write a committed-size copy of a stage's ``latest.pth``: model fp32, Adam moments in ``moments``.

    Only git-committed files survive between sessions on some machines; this keeps what a resume needs
    in one file: the fp32 weights, Adam's two moment tensors per parameter (bf16 halves them; resuming
    from bf16 moments is then close to, not bit-equal with, running straight through), the step count,
    the RNG states and the data position.

    Args:
        latest: a ``latest.pth`` written by :func:`save_training_state`.
        dest: destination file.
        moments: 'fp32' (exact resume) or 'bf16'.

    Returns:
        Size of ``dest`` in bytes.

    """
    if moments not in ('fp32', 'bf16'):
        raise ValueError(f"moments must be 'fp32' or 'bf16', got {moments!r}")
    state, meta, extra = read_checkpoint(latest)
    dtype = torch.bfloat16 if moments == 'bf16' else torch.float32
    optim = extra['optimizer']
    slim = {
        'state': {
            k: {n: (t.to(dtype) if n in ('exp_avg', 'exp_avg_sq') else t) for n, t in v.items()}
            for k, v in optim['state'].items()
        },
        'param_groups': optim['param_groups'],
    }
    write_checkpoint(dest, state, {**meta, 'moments': moments}, {**extra, 'optimizer': slim})
    return Path(dest).stat().st_size


def restore_compact_state(src: Path, latest: Path) -> None:
    """Turn a :func:`write_compact_state` file back into a resumable ``latest.pth`` (moments to fp32)."""
    state, meta, extra = read_checkpoint(src)
    for v in extra['optimizer']['state'].values():
        for n in ('exp_avg', 'exp_avg_sq'):
            v[n] = v[n].float()
    write_checkpoint(latest, state, meta, extra)

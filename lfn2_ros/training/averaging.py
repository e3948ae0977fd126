# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Average the weights of checkpoints along one run (docs/model.md#weight-averaging).

With batches of 4 the weights wander around the optimum from one checkpoint to the next: on the same
held-out pairs the EPE moves by a pixel within 100 iterations. The mean of the weights at several
checkpoints of the same run, late in the schedule, sits nearer the centre of that region than any one of
them (stochastic weight averaging, Izmailov et al., 2018). LiteFlowNet2 has no batch-norm statistics to
recompute, so the average is the whole model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import torch

from lfn2_ros.model import build_liteflownet2, get_variant, save_checkpoint
from lfn2_ros.model.checkpoint import CheckpointError, read_checkpoint

__all__ = ['average_checkpoints', 'write_average']


def average_checkpoints(
    paths: Sequence[Union[str, os.PathLike]],
) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The element-wise mean of the floating-point tensors of ``paths`` (float32, accumulated in float64).

    Args:
        paths: checkpoints of one architecture (``latest.pth`` copies, ``final.pth``, exported files).

    Returns:
        ``(state_dict, metas)``: the averaged tensors (non-float tensors are taken from the first file,
        and must be equal in all) and each file's meta, in order.

    Raises:
        CheckpointError: no path, differing keys or shapes, differing non-float tensors, or a
            non-finite value in any file.

    """
    if not paths:
        raise CheckpointError('no checkpoint to average')
    total: dict[str, torch.Tensor] = {}
    fixed: dict[str, torch.Tensor] = {}
    metas = []
    for path in paths:
        state, meta, _ = read_checkpoint(path)
        metas.append(meta)
        if total and set(state) != set(total) | set(fixed):
            raise CheckpointError(f'{path} has other keys than {paths[0]}')
        for key, value in state.items():
            if not value.is_floating_point():
                if key in fixed and not torch.equal(fixed[key], value):
                    raise CheckpointError(f'{path}: {key} differs from {paths[0]} (not a float tensor)')
                fixed.setdefault(key, value)
                continue
            if not torch.isfinite(value).all():
                raise CheckpointError(f'{path}: {key} holds NaN or inf')
            if key in total and total[key].shape != value.shape:
                raise CheckpointError(f'{path}: {key} has shape {tuple(value.shape)}, '
                                      f'{paths[0]} has {tuple(total[key].shape)}')
            total[key] = total[key] + value.double() if key in total else value.double()
    averaged = {key: (value / len(paths)).float() for key, value in total.items()}
    return {**averaged, **fixed}, metas


def write_average(paths: Sequence[Union[str, os.PathLike]], dest: Union[str, os.PathLike]) -> dict[str, Any]:
    """Average ``paths`` and save a checkpoint that loads wherever weights load.

    The meta records the averaged files and their iterations (``averaged_from``); the variant is the
    first file's.

    Returns:
        The meta written.

    """
    state, metas = average_checkpoints(paths)
    variant = metas[0].get('alias') or metas[0].get('variant')
    if variant is None:
        raise CheckpointError(f'{paths[0]} does not name its variant')
    model = build_liteflownet2(get_variant(variant))
    model.load_state_dict(state)
    iterations = [m.get('iteration') for m in metas]
    meta = {
        **{k: v for k, v in metas[-1].items() if k in ('seed', 'stage', 'trained_by', 'data')},
        'averaged_from': [
            {'file': Path(p).name, 'iteration': it} for p, it in zip(paths, iterations, strict=True)
        ],
        'iteration': max((i for i in iterations if isinstance(i, (int, float)) and math.isfinite(i)),
                         default=None),
    }
    save_checkpoint(model, dest, meta=meta)
    return meta

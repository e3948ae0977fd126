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

from lfn2_ros.model import LiteFlowNet2, load_checkpoint, save_checkpoint
from lfn2_ros.model.checkpoint import CheckpointError, read_checkpoint

__all__ = ['average_checkpoints', 'write_average']


def _mean(
    paths: Sequence[Union[str, os.PathLike]],
) -> tuple[LiteFlowNet2, dict[str, torch.Tensor], list[dict]]:
    """The first file's model, the element-wise mean of every file's state dict, and each file's meta."""
    if not paths:
        raise CheckpointError('no checkpoint to average')
    first: LiteFlowNet2 | None = None
    total: dict[str, torch.Tensor] = {}
    metas = []
    for path in paths:
        # the loader every tool uses: it checks keys, shapes and finiteness and detects the variant
        model = load_checkpoint(path)
        if first is None:
            first = model
        elif model.variant.name != first.variant.name:
            raise CheckpointError(f'{path} has other keys than {paths[0]} (variant {model.variant.alias}, '
                                  f'not {first.variant.alias}): only checkpoints of one run can be averaged')
        metas.append(read_checkpoint(path)[1])
        for key, value in model.state_dict().items():
            total[key] = total[key] + value.double() if key in total else value.double()
    return first, {key: (value / len(paths)).float() for key, value in total.items()}, metas


def average_checkpoints(
    paths: Sequence[Union[str, os.PathLike]],
) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The element-wise mean of the tensors of ``paths`` (float32, accumulated in float64).

    Args:
        paths: checkpoints of one variant (``latest.pth`` copies, ``final.pth``, exported files).

    Returns:
        ``(state_dict, metas)``: the averaged tensors and each file's meta, in order.

    Raises:
        CheckpointError: no path, a file :func:`lfn2_ros.model.load_checkpoint` refuses (wrong keys or
            shapes, NaN or inf), or files of different variants.

    """
    _, state, metas = _mean(paths)
    return state, metas


def write_average(paths: Sequence[Union[str, os.PathLike]], dest: Union[str, os.PathLike]) -> dict[str, Any]:
    """Average ``paths`` and save a checkpoint that loads wherever weights load.

    The meta records the averaged files and their iterations (``averaged_from``).

    Returns:
        The meta written.

    """
    model, state, metas = _mean(paths)
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

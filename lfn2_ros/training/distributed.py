# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""DistributedDataParallel set-up under ``torchrun`` (gloo on CPU, nccl on CUDA), a no-op otherwise.

``torchrun --nproc_per_node=N -m lfn2_ros.train ...`` sets RANK, WORLD_SIZE, LOCAL_RANK and
MASTER_ADDR/PORT; :func:`setup` reads them. Every process renders its own share of each step's batch
(``PairStream`` rank/world), DDP averages the gradients, and rank 0 alone validates and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ['DistContext', 'any_flag', 'cleanup', 'setup']


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the run.

    Attributes:
        rank: global rank (0 alone writes files).
        world: number of processes.
        local_rank: rank on this machine (the CUDA device index).
        device: the torch device of this process.

    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device('cpu')

    @property
    def main(self) -> bool:
        """Whether this is rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world > 1


def _pick_device(requested: str, local_rank: int) -> torch.device:
    if requested not in ('auto', 'cpu', 'cuda'):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == 'cuda' or (requested == 'auto' and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError('device cuda requested but CUDA is not available')
        torch.cuda.set_device(local_rank)
        return torch.device('cuda', local_rank)
    return torch.device('cpu')


def setup(requested_device: str = 'auto') -> DistContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); pick this process's device."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = _pick_device(requested_device, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend='nccl' if device.type == 'cuda' else 'gloo')
    return DistContext(rank=rank, world=world, local_rank=local_rank, device=device)


def any_flag(ctx: DistContext, flag: bool) -> bool:
    """True on every rank if ``flag`` is True on any rank (stop decisions must agree across ranks)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(ctx: DistContext) -> None:
    """Wait for all ranks (no-op in a single process)."""
    if ctx.distributed:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()

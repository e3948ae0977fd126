# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Two CPU processes under DistributedDataParallel (gloo) average to one process's gradients."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from lfn2_ros.model import build_liteflownet2
from lfn2_ros.model.losses import build_loss
from lfn2_ros.training.motion import PairConfig
from lfn2_ros.training.pairs import PairStream, render_pairs
from lfn2_ros.training.tasks import training_loss

VARIANT, H, W, PER_RANK, SEED = 'pre_M5S5R5', 64, 96, 2, 3
DATA = PairConfig(obj_count=(1, 2), max_translation_px=10.0)


def _model():
    torch.manual_seed(SEED)
    return build_liteflownet2(VARIANT).train()


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from lfn2_ros.training import distributed

    ctx = distributed.setup('cpu')
    try:
        model = _model()
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        b = PairStream(H, W, seed=SEED, config=DATA, rank=ctx.rank, world=ctx.world).next_batch(PER_RANK)
        loss, _ = training_loss(ddp, build_loss(VARIANT), b.img1, b.img2, b.flow, None)
        loss.backward()
        if rank == 0:
            torch.save({k: p.grad for k, p in model.named_parameters()}, out)
    finally:
        distributed.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one_process_over_the_combined_batch(tmp_path):
    out = tmp_path / 'grads.pt'
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    ddp_grads = torch.load(out, weights_only=True)
    # one process over the combined batch: step 0 of rank 0 and rank 1 are batch keys 0 and 1
    parts = [render_pairs(SEED, key, PER_RANK, H, W, DATA) for key in (0, 1)]
    img1, img2, flow = (torch.cat([getattr(p, n) for p in parts]) for n in ('img1', 'img2', 'flow'))
    model = _model()
    loss, _ = training_loss(model, build_loss(VARIANT), img1, img2, flow, None)
    loss.backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(ddp_grads[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert sum(float(g.abs().sum()) > 0 for g in ddp_grads.values()) == len(ddp_grads)

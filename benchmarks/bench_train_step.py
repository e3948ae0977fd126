#!/usr/bin/env python3
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One training step of the full model (forward, multi-level loss, backward, AdamW), fp32 against bf16.

The step is the trainer's own (``training.tasks.training_loss`` under ``--amp off`` / ``--amp bf16``) on
one generated batch. It prints the median step time of each precision and its ratio to fp32 measured in
the same run, and the loss each gives on the same weights and batch.

Usage::

    python benchmarks/bench_train_step.py [--threads 2] [--batch 4] [--crop 256x320] [--repeats 5]

bf16 only pays where oneDNN has bf16 kernels (``avx512_bf16`` or AMX in /proc/cpuinfo); elsewhere autocast
emulates it and is slower.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lfn2_ros.cli_args import parse_size  # noqa: E402
from lfn2_ros.devices import cpu_has_fast_bf16  # noqa: E402
from lfn2_ros.model import build_liteflownet2, get_variant  # noqa: E402
from lfn2_ros.model.losses import build_loss  # noqa: E402
from lfn2_ros.training.pairs import PairStream  # noqa: E402
from lfn2_ros.training.tasks import training_loss  # noqa: E402
from lfn2_ros.training.textures import load_photo_bank  # noqa: E402

VARIANT = 'pre_M3S3R3'


def time_steps(model: torch.nn.Module, batch, amp: str, repeats: int) -> tuple[float, float]:
    """Median seconds per step over ``repeats`` steps (after one warm-up), and the first step's loss."""
    fresh = build_liteflownet2(get_variant(VARIANT))
    fresh.load_state_dict(model.state_dict())  # the same weights for each precision
    model = fresh
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    loss_fn = build_loss(get_variant(VARIANT))
    times, first_loss = [], None
    for i in range(repeats + 1):
        start = time.perf_counter()
        loss, _ = training_loss(model, loss_fn, batch.img1, batch.img2, batch.flow, None, amp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i == 0:
            first_loss = float(loss.detach())
        else:
            times.append(time.perf_counter() - start)
    return statistics.median(times), first_loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--crop', type=parse_size, default=(256, 320))
    p.add_argument('--repeats', type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_liteflownet2(get_variant(VARIANT))
    batch = PairStream(*args.crop, seed=1, bank=load_photo_bank(limit=8)).next_batch(args.batch)
    print(f'{VARIANT}, batch {args.batch} at {args.crop[0]}x{args.crop[1]}, {args.threads} threads; '
          f'CPU has fast bf16: {cpu_has_fast_bf16()}')
    base, base_loss = time_steps(model, batch, 'off', args.repeats)
    print(f'  fp32  {base:6.2f} s/step  1.00x  loss {base_loss:.2f}')
    bf16, bf16_loss = time_steps(model, batch, 'bf16', args.repeats)
    print(f'  bf16  {bf16:6.2f} s/step  {base / bf16:.2f}x  loss {bf16_loss:.2f}')


if __name__ == '__main__':
    main()

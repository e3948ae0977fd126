# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Train LiteFlowNet2 stage-wise on generated pairs, or fine-tune a checkpoint.

Examples::

    # the paper's 5 stages on the generator, CPU-sized
    python -m lfn2_ros.train --out runs/a --iters 300,150,250,250,600 \
        --crop 160x224,160x224,192x256 --batch 8,8,4
    # fine-tune a checkpoint on a dataset directory (lfn2_ros.datasets layouts)
    python -m lfn2_ros.train --out runs/ft --stages pre_M3S3R3 --init w.pth \
        --dataset /data/Sintel --iters 1000
    # export the last stage's weights in fp16
    python -m lfn2_ros.train --out runs/a --export lfn2_ros/weights/liteflownet2_default.pth

Per-stage options take one value (all stages) or a comma-separated list (the last value repeats).
Rerunning the same command resumes: finished stages are skipped, an interrupted stage continues from its
last checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from lfn2_ros.model import get_variant

DEFAULT_ITERS = 300


def _per_stage(text: Optional[str], n: int, parse, name: str) -> list:
    if text is None:
        return [None] * n
    values = [parse(v) for v in str(text).split(',') if v.strip()]
    if not values:
        raise ValueError(f'--{name}: empty value')
    if len(values) > n:
        raise ValueError(f'--{name}: {len(values)} values for {n} stages')
    return values + [values[-1]] * (n - len(values))


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'size must be HxW, e.g. 192x256, got {text!r}') from None
    if h <= 0 or w <= 0:
        raise ValueError(f'size must be positive, got {text!r}')
    return h, w


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog='python -m lfn2_ros.train', description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, type=Path,
                   help='output directory (checkpoints, log.csv, training.png)')
    p.add_argument('--stages', default='all',
                   help="comma-separated variant aliases, or 'all' = pre_M6S6,pre_M6S6R6,pre_M5S5R5,"
                        'pre_M4S4R4,pre_M3S3R3 (default)')
    p.add_argument('--iters', default=str(DEFAULT_ITERS), help='iterations per stage')
    p.add_argument('--lr', default=None, help='Adam learning rate per stage (default: the mmflow configs)')
    p.add_argument('--crop', default='192x256', help='training crop HxW per stage, px')
    p.add_argument('--batch', default='4', help='batch size per stage')
    p.add_argument('--motion', default='default',
                   help='generated-pair distribution per stage: default, rigid (no photometric changes) or '
                        'translation (one shifted photo; a warm-up that leaves the zero-flow plateau)')
    p.add_argument('--zero-flow-heads', action='store_true',
                   help='start fresh stages with zeroed flow-predicting convolutions (faster start than '
                        "mmflow's Kaiming init)")
    p.add_argument('--time-limit-min', default=None, help='optional wall-time budget per stage, minutes')
    p.add_argument('--init', type=Path, default=None,
                   help='checkpoint initialising the first stage (fine-tune)')
    p.add_argument('--dataset', type=Path, default=None, help='train on this dataset directory instead of '
                   'generated pairs (Sintel/KITTI/FlyingChairs layouts, lfn2_ros.datasets)')
    p.add_argument('--splits', default=None, help='comma-separated dataset splits (default: all found)')
    p.add_argument('--seed', type=int, default=0, help='seed of model init and data (0 <= seed < 10^6)')
    p.add_argument('--threads', type=int, default=1, help='torch/OpenCV threads (default 1)')
    p.add_argument('--weight-decay', type=float, default=4e-4)
    p.add_argument('--log-every', type=int, default=10)
    p.add_argument('--val-every', type=int, default=100, help='held-out validation interval, iterations')
    p.add_argument('--val-count', type=int, default=8, help='held-out pairs per validation (0: none)')
    p.add_argument('--val-size', default='320x448', help='held-out pair size HxW (multiple of 32)')
    p.add_argument('--checkpoint-every', type=int, default=50)
    p.add_argument('--no-progress', action='store_true', help='no tqdm progress bar')
    p.add_argument('--export', type=Path, default=None,
                   help='after training, write the last stage as fp16 weights to this path')
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m lfn2_ros.train`` / ``ros2 run lfn2_ros train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))

    from lfn2_ros.training import trainer
    from lfn2_ros.training.data import motion_preset

    try:
        names = (trainer.FULL_SCHEDULE if args.stages == 'all'
                 else [s.strip() for s in args.stages.split(',') if s.strip()])
        aliases = [get_variant(n).alias for n in names]
        n = len(aliases)
        iters = _per_stage(args.iters, n, int, 'iters')
        lrs = _per_stage(args.lr, n, float, 'lr')
        crops = _per_stage(args.crop, n, _size, 'crop')
        batches = _per_stage(args.batch, n, int, 'batch')
        limits = _per_stage(args.time_limit_min, n, float, 'time-limit-min')
        motions = _per_stage(args.motion, n, motion_preset, 'motion')
        stages = [trainer.StageConfig(variant=a, iterations=it,
                                      lr=lr if lr is not None else trainer.CONFIG_LR.get(a, 5e-5),
                                      crop=c, batch_size=b, time_limit_s=None if t is None else t * 60.0,
                                      motion=mo)
                  for a, it, lr, c, b, t, mo in zip(aliases, iters, lrs, crops, batches, limits, motions,
                                                    strict=True)]
        cfg = trainer.TrainConfig(
            out_dir=args.out, stages=stages, init=args.init, seed=args.seed, threads=args.threads,
            weight_decay=args.weight_decay, log_every=args.log_every, val_every=args.val_every,
            val_count=args.val_count, val_size=_size(args.val_size), checkpoint_every=args.checkpoint_every,
            dataset=args.dataset, splits=args.splits.split(',') if args.splits else None,
            progress=not args.no_progress, zero_flow_heads=args.zero_flow_heads)
        final = trainer.run_training(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f'train: error: {exc}', file=sys.stderr)
        return 2
    print(f'final checkpoint: {final}')
    if args.export is not None:
        size = trainer.export_fp16(final, args.export, meta={'trained_by': 'lfn2_ros.train'})
        print(f'exported fp16 weights: {args.export} ({size / 1e6:.2f} MB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

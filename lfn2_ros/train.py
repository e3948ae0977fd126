# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Train LiteFlowNet2 stage-wise on generated pairs, or fine-tune a checkpoint.

Examples::

    # the paper's 5 stages on generated FlyingChairs-like pairs
    python -m lfn2_ros.train --out runs/a --iters 2000,1000,2000,2000,4000 --crop 256x320 --batch 4
    # the same on 4 GPUs (or CPU processes: gloo), one machine; several machines: torchrun --nnodes
    torchrun --nproc_per_node=4 -m lfn2_ros.train --out runs/a --iters 2000,1000,2000,2000,4000
    # a 100-minute session of a longer run; rerun the same command to resume exactly
    python -m lfn2_ros.train --out runs/a --iters ... --session-minutes 100 --threads 2
    # fine-tune a checkpoint on a dataset directory (lfn2_ros.io.datasets layouts)
    python -m lfn2_ros.train --out runs/ft --stages pre_M3S3R3 --init w.pth --dataset /data/Sintel \
        --iters 1000
    # export the last stage's weights (fp16 only if that costs no accuracy)
    python -m lfn2_ros.train --out runs/a --iters ... --export lfn2_ros/weights/liteflownet2_default.pth

Per-stage options take one value (all stages) or a comma-separated list (the last value repeats).
Rerunning the same command resumes: finished stages are skipped, an interrupted stage continues from its
last checkpoint with the same optimizer state, RNG states and data position.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from lfn2_ros.cli_args import parse_size
from lfn2_ros.model import get_variant

DEFAULT_ITERS = 300
SELF_SUPERVISED_LR = 1e-5


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
        return parse_size(text)
    except argparse.ArgumentTypeError as exc:  # per-stage values are parsed after argparse
        raise ValueError(str(exc)) from None


def _add_stage_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--stages', default=None,
                   help="comma-separated variant aliases, or 'all' = pre_M6S6,pre_M6S6R6,pre_M5S5R5,"
                   'pre_M4S4R4,pre_M3S3R3 (default all; with --self-supervised pre_M3S3R3)')
    p.add_argument('--iters', default=str(DEFAULT_ITERS),
                   help='iterations per stage (defines the lr schedule)')
    p.add_argument('--lr', default=None, help='learning rate per stage (default: the mmflow configs; '
                   f'self-supervised {SELF_SUPERVISED_LR})')
    p.add_argument('--crop', default='256x320', help='training crop HxW per stage, px')
    p.add_argument('--batch', default='4', help='batch size per stage and process')
    p.add_argument('--time-limit-min', default=None, help='optional wall-time budget per stage, minutes')
    p.add_argument('--trainable', default='all',
                   help="per stage: 'all' or the levels trained, e.g. level6 or level5+level6")


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--data', default='chairs',
                   help='generated-pair distribution per stage: chairs (default), '
                   'rigid (no photometric changes), chairs_still (chairs with 40 %% still pairs), '
                   'chairs_far (chairs with twice the share of 40-100 px motions, for 384x512 crops), '
                   'chairs_far_still (chairs_far with 40 %% still pairs), '
                   'chairs_half_still (chairs with 50 %% still pairs), '
                   'easy (motions to 40 px, few objects) or translation '
                   '(one plane, pure translation to 40 px: the warm-up from scratch)')
    p.add_argument('--max-motion', type=float, default=None, help='bound of the translation tail, px (100)')
    p.add_argument('--photos', type=Path, default=None,
                   help='photo folder (default $LFN2_PHOTOS or ~/.cache/lfn2_ros/photos/images)')
    p.add_argument('--no-photos', action='store_true', help='procedural textures only')
    p.add_argument('--dataset', type=Path, default=None,
                   help='train on this dataset directory instead of generated pairs '
                   '(Sintel/KITTI/FlyingChairs layouts, lfn2_ros.io.datasets)')
    p.add_argument('--splits', default=None, help='comma-separated dataset splits (default: all found)')
    p.add_argument('--val-count', type=int, default=8, help='held-out pairs per validation (0: none)')
    p.add_argument('--val-size', type=parse_size, default=(384, 512),
                   help='held-out pair size HxW (multiple of 32)')


def _add_self_supervised_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group('self-supervised fine-tuning on a bag (docs/self_supervised.md)')
    g.add_argument('--self-supervised', action='store_true',
                   help='learn from the unlabelled pairs of --bag instead of ground truth')
    g.add_argument('--bag', type=Path, default=None, help='rosbag2 directory (sqlite3 or mcap)')
    g.add_argument('--topic', default=None, help='image topic of the bag')
    g.add_argument('--gt-topic', default=None, help='optional ground-truth flow topic: before/after EPE only')
    g.add_argument('--start', type=float, default=None, help='first frame time, s from the bag start')
    g.add_argument('--end', type=float, default=None, help='end time (exclusive), s from the bag start')
    g.add_argument('--stride', type=int, default=1, help='take every N-th consecutive pair (as evaluate)')
    g.add_argument('--max-pairs', type=int, default=None, help='at most this many training pairs')
    g.add_argument('--holdout-fraction', type=float, default=0.2,
                   help='last share of the frames kept for validation and the before/after comparison')
    g.add_argument('--photometric', default='census', choices=('census', 'ssim'))
    g.add_argument('--smooth-weight', type=float, default=0.5, help='edge-aware smoothness weight')
    g.add_argument('--distill-weight', type=float, default=0.05,
                   help='weight of the distillation towards the initial model where the photometric '
                   'signal is weak (0: off)')
    g.add_argument('--photo-scales', type=int, default=3,
                   help='image scales of the photometric term: full, 1/2, 1/4, ... (1: full only)')
    g.add_argument('--consistency-weight', type=float, default=0.1,
                   help='weight of the forward-backward consistency term (0: off)')
    g.add_argument('--no-compare', action='store_true', help='skip the before/after evaluation')


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--out', required=True, type=Path,
                   help='output directory (checkpoints, log.csv, training.png)')
    p.add_argument('--init', type=Path, default=None,
                   help='checkpoint initialising the first stage (fine-tune; self-supervised default: the '
                   'embedded weights)')
    p.add_argument('--reinit-dead', action='store_true',
                   help='re-initialise units of the init checkpoint holding a dead (all-zero) conv')
    p.add_argument('--session-minutes', type=float, default=None,
                   help='stop this invocation after this many minutes with a resumable checkpoint')
    p.add_argument('--seed', type=int, default=0, help='seed of model init and data (0 <= seed < 10^6)')
    p.add_argument('--threads', '--num-threads', dest='threads', type=int, default=1,
                   help='torch threads per process (default 1)')
    p.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    p.add_argument('--amp', default='off', choices=('off', 'bf16', 'fp16'),
                   help='mixed precision (fp16: CUDA only; bf16 on the CPU is slower than fp32 here)')
    p.add_argument('--weight-decay', type=float, default=4e-4)
    p.add_argument('--coupled-decay', action='store_true',
                   help="mmflow's L2 inside Adam instead of decoupled (AdamW) decay; "
                   'it kills weakly used levels')
    p.add_argument('--zero-flow-heads', action='store_true', help='start fresh stages with zeroed flow heads')
    p.add_argument('--grad-clip', type=float, default=None, help='max global gradient norm')
    p.add_argument('--log-every', type=int, default=10)
    p.add_argument('--val-every', type=int, default=200,
                   help='validation and health-check interval, iterations')
    p.add_argument('--checkpoint-every', type=int, default=50)
    p.add_argument('--no-progress', action='store_true', help='no tqdm progress bar')
    p.add_argument('--export', type=Path, default=None,
                   help='after training, write the last stage as shipped weights (lfn2_ros_default_v4)')
    p.add_argument('--export-dtype', default='auto', choices=('auto', 'float32', 'float16'))
    p.add_argument('--carry', type=Path, default=None,
                   help='carry folder to commit between sessions (e.g. training_state): unpacked into --out '
                   'before training (when --out lacks the files), packed from it afterwards')
    p.add_argument('--carry-moments', default='fp32', choices=('fp32', 'bf16'),
                   help='precision of the Adam moments in the carry folder (bf16: a third smaller, inexact)')


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog='python -m lfn2_ros.train', description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_arguments(p)
    _add_stage_arguments(p)
    _add_data_arguments(p)
    _add_self_supervised_arguments(p)
    return p


def _self_supervised(args: argparse.Namespace):
    """The self-supervised part of the configuration, or None; ValueError on inconsistent flags."""
    from lfn2_ros.training.config import SelfSupervisedConfig
    from lfn2_ros.training.photometric_losses import LossWeights

    bag_flags = [f for f, v in (('--bag', args.bag), ('--topic', args.topic), ('--gt-topic', args.gt_topic),
                                ('--start', args.start), ('--end', args.end)) if v is not None]
    if not args.self_supervised:
        if bag_flags:
            raise ValueError(f'{", ".join(bag_flags)} need --self-supervised (supervised training reads '
                             'generated pairs or --dataset)')
        return None
    if args.bag is None or not args.topic:
        raise ValueError('--self-supervised needs --bag BAG and --topic TOPIC')
    if args.dataset is not None:
        raise ValueError('--self-supervised learns from --bag; it cannot take --dataset too')
    if args.stride < 1:
        raise ValueError(f'--stride must be >= 1, got {args.stride}')
    return SelfSupervisedConfig(
        bag=args.bag, topic=args.topic, gt_topic=args.gt_topic, start_s=args.start, end_s=args.end,
        holdout_fraction=args.holdout_fraction, stride=args.stride, max_pairs=args.max_pairs,
        val_pairs=args.val_count, val_size=args.val_size,
        losses=LossWeights(photometric=args.photometric, smooth=args.smooth_weight,
                           distill=args.distill_weight, scales=args.photo_scales,
                           consistency=args.consistency_weight),
    )


def _data_preset(name: str, max_motion: Optional[float]):
    """The generated-pair preset ``name``, its translation tail bounded by ``max_motion`` px when given."""
    from dataclasses import replace

    from lfn2_ros.training.motion import preset

    cfg = preset(name)
    return cfg if max_motion is None else replace(cfg, max_translation_px=max_motion)


def _stages(args: argparse.Namespace, self_supervised: bool) -> list:
    from lfn2_ros.training import trainer
    from lfn2_ros.training.surgery import parse_trainable

    stages = args.stages or ('pre_M3S3R3' if self_supervised else 'all')
    names = trainer.FULL_SCHEDULE if stages == 'all' else [v.strip() for v in stages.split(',') if v.strip()]
    aliases = [get_variant(n).alias for n in names]
    n = len(aliases)

    def data_of(name: str):
        return _data_preset(name, args.max_motion)

    def default_lr(alias: str) -> float:
        return SELF_SUPERVISED_LR if self_supervised else trainer.CONFIG_LR.get(alias, 5e-5)

    columns = zip(
        aliases,
        _per_stage(args.iters, n, int, 'iters'),
        _per_stage(args.lr, n, float, 'lr'),
        _per_stage(args.crop, n, _size, 'crop'),
        _per_stage(args.batch, n, int, 'batch'),
        _per_stage(args.time_limit_min, n, float, 'time-limit-min'),
        _per_stage(args.data, n, data_of, 'data'),
        _per_stage(args.trainable, n, parse_trainable, 'trainable'),
        strict=True,
    )
    return [
        trainer.StageConfig(variant=a, iterations=it, lr=lr if lr is not None else default_lr(a), crop=c,
                            batch_size=b, time_limit_s=None if t is None else t * 60.0, data=d, trainable=tr)
        for a, it, lr, c, b, t, d, tr in columns
    ]


def _config(args: argparse.Namespace):
    from lfn2_ros.default_weights import default_weights_path
    from lfn2_ros.training import trainer

    self_supervised = _self_supervised(args)
    init = args.init
    if init is None and self_supervised is not None:
        init = default_weights_path()
    return trainer.TrainConfig(
        out_dir=args.out,
        stages=_stages(args, self_supervised is not None),
        init=init,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        amp=args.amp,
        weight_decay=args.weight_decay,
        decoupled_decay=not args.coupled_decay,
        grad_clip=args.grad_clip,
        log_every=args.log_every,
        val_every=args.val_every,
        val_count=args.val_count,
        val_size=args.val_size,
        checkpoint_every=args.checkpoint_every,
        session_limit_s=None if args.session_minutes is None else args.session_minutes * 60.0,
        dataset=args.dataset,
        splits=args.splits.split(',') if args.splits else None,
        data=_data_preset('chairs', args.max_motion),
        photos=args.photos,
        use_photos=not args.no_photos and self_supervised is None,
        progress=not args.no_progress,
        zero_flow_heads=args.zero_flow_heads,
        reinit_dead=args.reinit_dead,
        self_supervised=self_supervised,
    )


def _export(args: argparse.Namespace, final: Path) -> Path:
    from lfn2_ros.training.export import export_weights

    report = export_weights(final, args.export, dtype=args.export_dtype,
                            meta={'trained_by': 'lfn2_ros.train'})
    print(
        f'exported {report["dtype"]} weights: {args.export} ({report["size_bytes"] / 1e6:.2f} MB); fp16 '
        f'check: mean flow change {report["mean_diff_px"]:.4f} px, {report["flushed"]} weights flushed; '
        f'{report["health"]}'
    )
    return args.export


def _compare(args: argparse.Namespace, cfg, weights: Path) -> None:
    """The before/after evaluation of a self-supervised run on its held-out range, printed as a table."""
    from lfn2_ros.training.bag_pairs import split_time
    from lfn2_ros.training.self_supervised import compare_before_after

    ss = cfg.self_supervised
    split_s = split_time(ss.bag, ss.topic, ss.start_s, ss.end_s, ss.holdout_fraction)
    result = compare_before_after(args.init, weights, ss, split_s, args.out / 'compare', device=args.device,
                                  num_threads=args.threads)
    print(f'held-out range {split_s:.3f} s .. {"end" if ss.end_s is None else f"{ss.end_s:g} s"}: '
          f'{result["after"]["pairs"]} pairs ({args.out / "compare" / "before_after.json"})')
    print(f'{"":24}{"before":>12}{"after":>12}')
    for key, label in (('photometric_l1', 'photometric L1 (0-255)'), ('fb_consistent_pct', 'fb consistent %'),
                       ('epe_px', 'EPE px'), ('median_flow_px', 'median |flow| px')):
        before, after = result['before'][key], result['after'][key]
        if before is not None and after is not None:
            print(f'{label:24}{before:12.4f}{after:12.4f}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m lfn2_ros.train`` (also under ``torchrun``); returns the exit status."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
    from lfn2_ros.training import trainer

    try:
        cfg = _config(args)
        if args.carry is not None and args.carry.is_dir():
            from lfn2_ros.training.carry import unpack_run

            unpack_run(args.carry, args.out)
        final = trainer.run_training(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f'train: error: {exc}', file=sys.stderr)
        return 2
    if int(os.environ.get('RANK', '0')) != 0:
        return 0
    if args.carry is not None:
        from lfn2_ros.training.carry import pack_run

        size = pack_run(args.out, args.carry, args.carry_moments)
        print(f'carry folder {args.carry}: {size / 1e6:.1f} MB (commit it to resume in a later session)')
    if final is None:
        print('session budget spent: rerun the same command to resume')
        return 0
    print(f'final checkpoint: {final}')
    weights = _export(args, final) if args.export is not None else final
    if cfg.self_supervised is not None and not args.no_compare:
        _compare(args, cfg, weights)
    return 0


if __name__ == '__main__':
    sys.exit(main())

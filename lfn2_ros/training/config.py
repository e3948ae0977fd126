# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Configuration of a training run: stages, optimiser, precision, data and checkpoint cadence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from lfn2_ros.model import get_variant
from lfn2_ros.training.motion import PairConfig
from lfn2_ros.training.photometric_losses import LossWeights

__all__ = [
    'CONFIG_LR',
    'FULL_SCHEDULE',
    'LR_MILESTONES',
    'SelfSupervisedConfig',
    'StageConfig',
    'TrainConfig',
    'lr_at',
    'stage_names',
]

FULL_SCHEDULE = ('pre_M6S6', 'pre_M6S6R6', 'pre_M5S5R5', 'pre_M4S4R4', 'pre_M3S3R3')
"""Stage order of the paper / mmflow model zoo: each stage adds one finer level."""

CONFIG_LR = {'pre_M6S6': 1e-4, 'pre_M6S6R6': 1e-4, 'pre_M5S5R5': 1e-4, 'pre_M4S4R4': 1e-4, 'pre_M3S3R3': 6e-5}
"""Adam learning rates of the mmflow configs; other variants fall back to 5e-5."""

LR_MILESTONES = (1 / 2, 2 / 3, 5 / 6)
"""Fractions of a stage at which the learning rate halves (the configs' 120k, 160k, 200k of 240k)."""


@dataclass
class SelfSupervisedConfig:
    """The bag and losses of ``train --self-supervised`` (docs/self_supervised.md).

    Attributes:
        bag: rosbag2 directory or file.
        topic: image topic.
        gt_topic: optional ground-truth flow topic, for the before/after EPE only (never trained on).
        start_s: first frame time, seconds from the bag start (None: the bag start).
        end_s: end time, exclusive (None: the bag end).
        holdout_fraction: last share of the range's frames held out for validation and the comparison.
        stride: take every ``stride``-th consecutive pair, as ``evaluate --stride``.
        max_pairs: optional cap on the training pairs.
        val_pairs: held-out pairs measured at each validation during training.
        val_size: (height, width) the held-out frames are centre-cropped to (at most), px, multiple of 32.
        losses: the loss weights.

    """

    bag: Path
    topic: str
    gt_topic: Optional[str] = None
    start_s: Optional[float] = None
    end_s: Optional[float] = None
    holdout_fraction: float = 0.2
    stride: int = 1
    max_pairs: Optional[int] = None
    val_pairs: int = 8
    val_size: tuple[int, int] = (384, 512)
    losses: LossWeights = field(default_factory=LossWeights)


@dataclass
class StageConfig:
    """One training stage.

    Attributes:
        variant: alias or config name of the architecture trained in this stage.
        iterations: optimizer steps; the learning-rate schedule depends on the iteration only, so a
            stage interrupted and resumed follows the same schedule.
        lr: learning rate before the decays.
        crop: (height, width) of training pairs, px; multiples of 32 for stages decoding level 5 or finer.
        batch_size: pairs per step and process (a distributed run's global batch is world x this).
        time_limit_s: optional wall-time budget, s: the stage ends (and writes final.pth) when it is
            spent, without changing the schedule.
        data: distribution of this stage's generated pairs (default: the run's ``TrainConfig.data``).
        trainable: state-dict prefixes of the parameters this stage trains (None: all;
            :func:`lfn2_ros.training.surgery.parse_trainable`).

    """

    variant: str
    iterations: int
    lr: float
    crop: tuple[int, int] = (256, 320)
    batch_size: int = 4
    time_limit_s: Optional[float] = None
    data: Optional[PairConfig] = None
    trainable: Optional[tuple[str, ...]] = None


@dataclass
class TrainConfig:
    """Everything a run needs besides the stages.

    Attributes:
        out_dir: output directory (checkpoints, log.csv, training.png).
        stages: the stages, run in order, each initialised from the previous one.
        init: optional checkpoint initialising the first stage (non-strict, matching shapes).
        seed: seed of model init and the data stream (0 <= seed < 10^6).
        threads: torch threads per process (CPU).
        device: 'auto' (CUDA if available), 'cpu' or 'cuda'.
        amp: mixed precision of forward and loss: 'off', 'bf16' or 'fp16' (fp16 on CUDA only, with a
            gradient scaler); weights and optimizer state stay float32.
        weight_decay: weight decay factor.
        decoupled_decay: AdamW-style decay (w -= lr * wd * w) instead of mmflow's coupled L2 in Adam,
            which shrinks every weakly used weight by about lr per step and killed the coarse levels.
        grad_clip: optional max global gradient norm.
        log_every: iterations between CSV rows.
        val_every: iterations between validations and health checks (0: only at the stage end).
        val_count: held-out pairs per validation.
        val_size: (height, width) of held-out pairs, px (multiple of 32).
        checkpoint_every: iterations between resumable checkpoints.
        session_limit_s: optional wall-time budget of this invocation: when spent, the current stage
            checkpoints and the run stops; rerunning the command resumes exactly.
        max_steps: optional cap on optimizer steps in this invocation (same effect; for tests).
        dataset: optional dataset directory (lfn2_ros.io.datasets layouts) instead of generated pairs.
        splits: optional dataset split filter.
        data: distribution of the generated pairs and of the held-out set.
        photos: photo folder for the generator (default ``$LFN2_PHOTOS`` or the fetch script's cache);
            procedural textures only when none is found.
        use_photos: set False for procedural textures only (no photo bank at all).
        progress: show a tqdm progress bar (rank 0).
        zero_flow_heads: zero the flow heads of fresh stages (off by default: with coupled decay it
            starves the layers before the heads of gradient).
        self_supervised: learn from a bag's unlabelled pairs instead of ground truth
            (docs/self_supervised.md); None: supervised.
        reinit_dead: re-initialise the units of a fresh stage that hold a dead conv after loading
            its init (:func:`lfn2_ros.training.surgery.reinit_dead_units`).

    """

    out_dir: Path
    stages: list[StageConfig]
    init: Optional[Path] = None
    seed: int = 0
    threads: int = 1
    device: str = 'auto'
    amp: str = 'off'
    weight_decay: float = 4e-4
    decoupled_decay: bool = True
    grad_clip: Optional[float] = None
    log_every: int = 10
    val_every: int = 200
    val_count: int = 8
    val_size: tuple[int, int] = (384, 512)
    checkpoint_every: int = 50
    session_limit_s: Optional[float] = None
    max_steps: Optional[int] = None
    dataset: Optional[Path] = None
    splits: Optional[Sequence[str]] = None
    data: PairConfig = field(default_factory=PairConfig)
    photos: Optional[Path] = None
    use_photos: bool = True
    progress: bool = True
    zero_flow_heads: bool = False
    reinit_dead: bool = False
    self_supervised: Optional[SelfSupervisedConfig] = None


def lr_at(base_lr: float, progress: float) -> float:
    """Learning rate at ``progress`` (iteration / stage iterations): halved at each milestone passed."""
    return base_lr * 0.5 ** sum(progress >= m for m in LR_MILESTONES)


def stage_names(stages: Sequence[StageConfig]) -> list[str]:
    """Directory names of the stages: the variant alias, with ``.2``, ``.3``... when an alias repeats."""
    seen: dict[str, int] = {}
    names = []
    for stage in stages:
        alias = get_variant(stage.variant).alias
        seen[alias] = seen.get(alias, 0) + 1
        names.append(alias if seen[alias] == 1 else f'{alias}.{seen[alias]}')
    return names

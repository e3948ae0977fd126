# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What a training run learns from: its batches, its loss and its held-out measure.

:func:`lfn2_ros.training.trainer.train_stage` owns the loop (optimizer, checkpoints, resume, DDP, logs)
and asks a task for the rest. :class:`SupervisedTask` learns from pairs with ground-truth flow
(generated pairs or a dataset) with the variant's multi-level loss; the self-supervised task
(:mod:`lfn2_ros.training.self_supervised`) learns from a bag's unlabelled pairs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, Protocol

import torch

from lfn2_ros.model import LiteFlowNet2, get_variant
from lfn2_ros.model.losses import build_loss
from lfn2_ros.training.config import StageConfig, TrainConfig
from lfn2_ros.training.metrics import evaluate_batches, mean_epe, predict_flow
from lfn2_ros.training.pairs import PairStream, heldout_batches

__all__ = ['Objective', 'SupervisedTask', 'TrainingTask', 'amp_context', 'training_loss']

Objective = Callable[[torch.nn.Module, LiteFlowNet2, Any], tuple[torch.Tensor, float]]
"""``(net, model, batch) -> (loss, batch metric)``: net is the possibly DDP-wrapped model."""


class TrainingTask(Protocol):
    """The parts of a run that depend on what it learns from."""

    train_metric: str
    """CSV column of the per-batch measure (e.g. 'train_epe')."""
    val_metric: str
    """CSV column of the held-out measure (e.g. 'val_epe')."""
    has_validation: bool
    """Whether :meth:`validate` measures anything in this process."""
    meta: dict
    """What the task learns from, recorded in the checkpoints' meta."""

    def stream(self, stage: StageConfig, position: int) -> Any:
        """The batch source of this process for the stage: ``next_batch(size)`` and ``position``."""

    def objective(self, stage: StageConfig) -> Objective:
        """The stage's loss on one batch."""

    def validate(self, model: LiteFlowNet2) -> Optional[float]:
        """The held-out measure (rank 0; None when there is no held-out set)."""


def amp_context(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for 'bf16'/'fp16' on ``device`` (a null context for 'off')."""
    if amp == 'off':
        return contextlib.nullcontext()
    if amp not in ('bf16', 'fp16'):
        raise ValueError(f"amp must be 'off', 'bf16' or 'fp16', got {amp!r}")
    if amp == 'fp16' and device.type != 'cuda':
        raise ValueError('amp fp16 needs CUDA; use bf16 on the CPU')
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == 'bf16' else torch.float16)


def training_loss(
    model: torch.nn.Module,
    loss_fn: torch.nn.Module,
    img1: torch.Tensor,
    img2: torch.Tensor,
    flow: torch.Tensor,
    valid: Optional[torch.Tensor],
    amp: str = 'off',
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Forward (under autocast when asked) and the float32 multi-level loss.

    Args:
        model: the network, possibly DDP-wrapped.
        loss_fn: the stage's loss.
        img1: (B, 3, H, W) float32 BGR in [0, 1].
        img2: same shape.
        flow: (B, 2, H, W) ground truth, px.
        valid: optional (B, H, W) mask.
        amp: 'off', 'bf16' or 'fp16'.

    Returns:
        ``(loss, outputs)``: scalar loss (mean over this process's batch of the per-pair sums) and the
        network outputs.

    """
    with amp_context(amp, img1.device):
        outputs = model(img1, img2)
    outputs = {k: v.float() for k, v in outputs.items()}
    return loss_fn(outputs, flow, valid), outputs


class SupervisedTask:
    """Pairs with ground truth: generated (:class:`PairStream`) or dataset crops; held-out generated EPE.

    Args:
        cfg: the run configuration.
        device: this process's device.
        rank: this process's rank.
        world: number of processes.
        main: whether this is rank 0 (the only one that validates).
        bank: the generator's photo bank, or None.

    """

    train_metric = 'train_epe'
    val_metric = 'val_epe'

    def __init__(self, cfg: TrainConfig, device: torch.device, rank: int, world: int, main: bool,
                 bank: Optional[torch.Tensor]) -> None:
        self.cfg, self.device, self.rank, self.world, self.bank = cfg, device, rank, world, bank
        self.val = (
            heldout_batches(cfg.val_count, *cfg.val_size, config=cfg.data, bank=bank)
            if cfg.val_count and main
            else []
        )
        self.has_validation = bool(self.val)
        self.meta = {'kind': 'supervised', 'dataset': None if cfg.dataset is None else str(cfg.dataset)}

    def stream(self, stage: StageConfig, position: int) -> Any:
        """Generated pairs (or dataset crops) at the stage's crop size, from batch ``position`` on."""
        common = {'device': self.device, 'rank': self.rank, 'world': self.world, 'position': position}
        if self.cfg.dataset is not None:
            from lfn2_ros.training.dataset_batches import DatasetStream

            return DatasetStream(Path(self.cfg.dataset), self.cfg.splits, stage.crop, self.cfg.seed, **common)
        return PairStream(*stage.crop, seed=self.cfg.seed, config=stage.data or self.cfg.data, bank=self.bank,
                          **common)

    def objective(self, stage: StageConfig) -> Objective:
        """The variant's multi-level loss; the batch metric is the end-level EPE, px."""
        loss_fn = build_loss(get_variant(stage.variant))
        amp, from_dataset = self.cfg.amp, self.cfg.dataset is not None

        def run(net: torch.nn.Module, model: LiteFlowNet2, batch: Any) -> tuple[torch.Tensor, float]:
            if from_dataset:
                img1, img2, flow, valid = batch
            else:
                img1, img2, flow, valid = batch.img1, batch.img2, batch.flow, None
            loss, outputs = training_loss(net, loss_fn, img1, img2, flow, valid, amp)
            with torch.no_grad():
                epe = mean_epe(predict_flow(model, img1, img2, outputs), flow, valid)
            return loss, epe

        return run

    def validate(self, model: LiteFlowNet2) -> Optional[float]:
        """Mean EPE, px, on the held-out generated pairs."""
        return evaluate_batches(model, self.val, self.device) if self.val else None

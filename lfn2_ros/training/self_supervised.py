# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Self-supervised fine-tuning on a bag's unlabelled pairs, and its before/after comparison.

:class:`SelfSupervisedTask` plugs into the supervised trainer's loop (resume, DDP, logs, checkpoints;
:mod:`lfn2_ros.training.trainer`): its batches are crops of the bag's training pairs
(:mod:`lfn2_ros.training.bag_pairs`), its loss
:class:`lfn2_ros.training.photometric_losses.SelfSupervisedLoss` on the forward and backward flows,
and its held-out measure the photometric loss on frames of a later time range that training never
sees. :func:`compare_before_after` then runs ``evaluate`` on that held-out range with the initial and
the fine-tuned weights (docs/self_supervised.md#before-and-after).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from lfn2_ros.model import LiteFlowNet2, build_liteflownet2, get_variant
from lfn2_ros.training.bag_pairs import BagPairs, BagPairStream, load_bag_pairs, split_time
from lfn2_ros.training.config import SelfSupervisedConfig, StageConfig, TrainConfig
from lfn2_ros.training.metrics import predict_flow
from lfn2_ros.training.photometric_losses import SelfSupervisedLoss
from lfn2_ros.training.tasks import Objective, amp_context

__all__ = ['SelfSupervisedTask', 'compare_before_after', 'summarise_evaluation']


def _centre_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The centre of ``image`` at most ``size``, cut to multiples of 32 (the model's input-size rule)."""
    h, w = image.shape[:2]
    ch, cw = (min(h, size[0]) // 32) * 32, (min(w, size[1]) // 32) * 32
    if ch < 32 or cw < 32:
        raise ValueError(f'held-out frames of {w}x{h} px are too small (at least 32x32 px)')
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return image[y0:y0 + ch, x0:x0 + cw]


def _to_tensor(images: list[np.ndarray], device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0).to(device)


class SelfSupervisedTask:
    """A bag's unlabelled pairs as a training task (:class:`lfn2_ros.training.tasks.TrainingTask`).

    Args:
        cfg: the run configuration.
        ss: the bag, ranges and losses.
        ctx: the process context (``lfn2_ros.training.distributed.setup``).
        init_state: the initial weights, the distillation teacher (None: no teacher).

    Raises:
        ValueError: unusable bag, topic or ranges (``BagError`` is a ValueError).

    """

    train_metric = 'train_photo'
    val_metric = 'val_photo'

    def __init__(self, cfg: TrainConfig, ss: SelfSupervisedConfig, ctx: Any,
                 init_state: Optional[dict[str, torch.Tensor]]) -> None:
        self.cfg, self.ss, self.ctx, self.init_state = cfg, ss, ctx, init_state
        self.split_s = split_time(ss.bag, ss.topic, ss.start_s, ss.end_s, ss.holdout_fraction)
        self.train: BagPairs = load_bag_pairs(ss.bag, ss.topic, start_s=ss.start_s, end_s=self.split_s,
                                              stride=ss.stride, max_pairs=ss.max_pairs)
        self.loss = SelfSupervisedLoss(ss.losses)
        self.val: list[tuple[torch.Tensor, torch.Tensor]] = []
        if ctx.main and ss.val_pairs > 0:
            held = load_bag_pairs(ss.bag, ss.topic, start_s=self.split_s, end_s=ss.end_s, stride=ss.stride)
            picks = np.linspace(0, len(held.pairs) - 1, min(ss.val_pairs, len(held.pairs))).round()
            for i in sorted(set(picks.astype(int).tolist())):
                img1, img2 = (_centre_crop(im, ss.val_size) for im in held.pairs[i])
                self.val.append((_to_tensor([img1], ctx.device), _to_tensor([img2], ctx.device)))
        self.has_validation = bool(self.val)
        self.meta = {'kind': 'self-supervised', 'bag': str(ss.bag), 'topic': ss.topic,
                     'start_s': ss.start_s, 'split_s': self.split_s, 'end_s': ss.end_s,
                     'train_pairs': len(self.train.pairs), 'losses': asdict(ss.losses)}

    def stream(self, stage: StageConfig, position: int) -> BagPairStream:
        """Crops of the training pairs at the stage's crop size, from batch ``position`` on."""
        return BagPairStream(self.train.pairs, stage.crop, self.cfg.seed, device=self.ctx.device,
                             rank=self.ctx.rank, world=self.ctx.world, position=position)

    def _teacher(self, stage: StageConfig) -> Optional[LiteFlowNet2]:
        if self.init_state is None or self.ss.losses.distill <= 0:
            return None
        from lfn2_ros.training.trainer import load_matching

        teacher = build_liteflownet2(get_variant(stage.variant))
        load_matching(teacher, self.init_state)
        teacher.to(self.ctx.device).eval().requires_grad_(False)
        return teacher

    def objective(self, stage: StageConfig) -> Objective:
        """The self-supervised loss of both flow directions of a batch; the metric is its photometric term."""
        teacher = self._teacher(stage)
        amp = self.cfg.amp

        def run(net: torch.nn.Module, model: LiteFlowNet2, batch: Any) -> tuple[torch.Tensor, float]:
            img1, img2 = batch
            n = img1.shape[0]
            # both directions in one forward pass: the batch [img1; img2] -> [img2; img1]
            first, second = torch.cat((img1, img2)), torch.cat((img2, img1))
            with amp_context(amp, img1.device):
                outputs = net(first, second)
            flows = predict_flow(model, first, second, {k: v.float() for k, v in outputs.items()})
            taught: tuple[Optional[torch.Tensor], Optional[torch.Tensor]] = (None, None)
            if teacher is not None:
                with torch.no_grad():
                    t = predict_flow(teacher, first, second)
                taught = (t[:n], t[n:])
            loss, terms = self.loss(img1, img2, flows[:n], flows[n:], *taught)
            return loss, terms['photometric']

        return run

    @torch.no_grad()
    def validate(self, model: LiteFlowNet2) -> Optional[float]:
        """Mean photometric term of :class:`SelfSupervisedLoss` on the held-out pairs (no distillation)."""
        if not self.val:
            return None
        was_training = model.training
        model.eval()
        total = 0.0
        for img1, img2 in self.val:
            flows = predict_flow(model, torch.cat((img1, img2)), torch.cat((img2, img1)))
            total += self.loss(img1, img2, flows[:1], flows[1:])[1]['photometric']
        model.train(was_training)
        return total / len(self.val)


def summarise_evaluation(metrics: dict) -> dict:
    """The comparison's figures from an ``evaluate`` metrics document (pooled over its splits)."""
    split = next(iter(metrics['splits'].values()))
    gt = split.get('gt')
    fb = split.get('fb_consistency')
    return {
        'pairs': metrics['pairs'],
        'photometric_l1': split['photometric']['l1_mean'],
        'photometric_l1_zero_flow': split['photometric']['l1_zero_flow_mean'],
        'fb_consistent_pct': None if fb is None else fb['consistent_pct'],
        'epe_px': None if gt is None else gt['all']['epe'],
        'median_flow_px': split['flow_magnitude']['median_px'],
    }


def compare_before_after(before: Optional[Path], after: Path, ss: SelfSupervisedConfig, split_s: float,
                         out_dir: Path, *, device: str = 'auto', num_threads: int = 1,
                         progress: bool = False) -> dict:
    """Evaluate the initial and the fine-tuned weights on the held-out range of the bag.

    Args:
        before: the initial weights (None: the embedded default weights).
        after: the fine-tuned weights.
        ss: the bag and ranges of the run.
        split_s: start of the held-out range, seconds from the bag start.
        out_dir: where ``before/``, ``after/`` (each a full ``evaluate`` output) and
            ``before_after.json`` go.
        device: the estimators' device ('auto', 'cpu', 'cuda').
        num_threads: torch threads of the estimators.
        progress: show evaluate's progress bar.

    Returns:
        ``{'held_out': {...}, 'before': {...}, 'after': {...}}`` as written to ``before_after.json``.

    """
    from lfn2_ros.evaluation.run import evaluate
    from lfn2_ros.inference import FlowEstimator

    result: dict = {'held_out': {'bag': str(ss.bag), 'topic': ss.topic, 'gt_topic': ss.gt_topic,
                                 'start_s': split_s, 'end_s': ss.end_s, 'stride': ss.stride}}
    for name, weights in (('before', before), ('after', after)):
        estimator = FlowEstimator(weights=weights, device=device, num_threads=num_threads)
        metrics = evaluate(estimator, out_dir / name, bag=ss.bag, topic=ss.topic, gt_topic=ss.gt_topic,
                           stride=ss.stride, start_s=split_s, end_s=ss.end_s, write_bag=False, fb_check=True,
                           overwrite=True, progress=progress,
                           options={'weights': str(weights) if weights else 'default'})
        result[name] = summarise_evaluation(metrics) | {'weights': str(weights) if weights else 'default'}
    (out_dir / 'before_after.json').write_text(json.dumps(result, indent=2) + '\n')
    return result

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage-wise LiteFlowNet2 training: coarse-to-fine stages, DDP, mixed precision, exact resume.

The paper's schedule trains pre_M6S6 -> pre_M6S6R6 -> pre_M5S5R5 -> pre_M4S4R4 -> pre_M3S3R3, each
stage initialised from the previous one by a non-strict load of the keys whose shapes match (mmflow
``load_from``; new levels keep mmflow's Kaiming init). Per stage: the variant's multi-level loss
(:func:`lfn2_ros.model.losses.build_loss`), Adam (betas 0.9/0.999) with decoupled weight decay by
default, learning rate halved at 1/2, 2/3 and 5/6 of the stage's iterations.

Layout of ``out_dir``: ``<stage>/latest.pth`` (resumable: model, optimizer, RNG states, data position;
also loadable for inference), ``<stage>/final.pth`` when a stage is done (a finished stage is skipped
on rerun, an interrupted one resumes exactly), ``log.csv`` and ``training.png``.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import torch

from lfn2_ros.model import LiteFlowNet2, build_liteflownet2, get_variant, save_checkpoint
from lfn2_ros.model.checkpoint import read_checkpoint
from lfn2_ros.training import distributed
from lfn2_ros.training.config import CONFIG_LR, FULL_SCHEDULE, StageConfig, TrainConfig, lr_at, stage_names
from lfn2_ros.training.health import check_model
from lfn2_ros.training.log import append_row, plot_log
from lfn2_ros.training.metrics import level_grad_norms
from lfn2_ros.training.state import load_training_state, save_training_state
from lfn2_ros.training.surgery import freeze_except, reinit_dead_units
from lfn2_ros.training.tasks import Objective, SupervisedTask, TrainingTask

__all__ = [
    'CONFIG_LR',
    'FULL_SCHEDULE',
    'StageConfig',
    'TrainConfig',
    'level_grad_norms',
    'load_matching',
    'make_optimizer',
    'run_training',
    'stage_names',
    'train_stage',
    'zero_flow_heads',
]


def load_matching(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Copy every entry of ``state`` whose key and shape exist in ``model`` (mmflow non-strict ``load_from``).

    Returns:
        ``(loaded, total)``: number of model entries loaded and in the model.

    """
    own = model.state_dict()
    loaded = 0
    for key, value in state.items():
        if key in own and tuple(own[key].shape) == tuple(value.shape):
            own[key].copy_(value.to(own[key].dtype))
            loaded += 1
    return loaded, len(own)


def zero_flow_heads(model: torch.nn.Module) -> int:
    """Zero the weights and biases of every ``pred_flow`` convolution; returns how many were zeroed."""
    count = 0
    for name, module in model.named_modules():
        if name.endswith('pred_flow') and isinstance(module, torch.nn.Conv2d):
            torch.nn.init.zeros_(module.weight)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
            count += 1
    return count


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """Adam (betas 0.9/0.999) with decoupled (AdamW) or mmflow's coupled weight decay."""
    cls = torch.optim.AdamW if cfg.decoupled_decay else torch.optim.Adam
    # only the trainable parameters: weight decay must not shrink the frozen ones (surgery.freeze_except)
    params = [p for p in model.parameters() if p.requires_grad]
    return cls(params, lr=lr, betas=(0.9, 0.999), weight_decay=cfg.weight_decay)


def _probe_photo(device: torch.device) -> Optional[torch.Tensor]:
    """A real photo never used as a texture (scikit-image ``coffee``) at 384x512, for the health check."""
    import cv2

    from lfn2_ros.training.textures import _skimage_photo

    image = _skimage_photo('coffee')
    if image is None:
        return None
    image = cv2.resize(image, (512, 384), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255.0).to(device)


class _RunShared:
    """What all stages of a run share: process context, task, probe photo, start time."""

    def __init__(self, cfg: TrainConfig, init_state: Optional[dict[str, torch.Tensor]] = None) -> None:
        self.ctx = distributed.setup(cfg.device)
        self.t_start = time.monotonic()
        self.steps = 0
        self.task = _make_task(cfg, self.ctx, init_state)
        self.probe = _probe_photo(self.ctx.device) if self.ctx.main else None

    def session_over(self, cfg: TrainConfig) -> bool:
        over = cfg.session_limit_s is not None and time.monotonic() - self.t_start >= cfg.session_limit_s
        return over or (cfg.max_steps is not None and self.steps >= cfg.max_steps)


def _make_task(cfg: TrainConfig, ctx: distributed.DistContext,
               init_state: Optional[dict[str, torch.Tensor]]) -> TrainingTask:
    if cfg.self_supervised is not None:
        from lfn2_ros.training.self_supervised import SelfSupervisedTask

        return SelfSupervisedTask(cfg, cfg.self_supervised, ctx, init_state)
    from lfn2_ros.training.textures import load_photo_bank

    bank = load_photo_bank(cfg.photos) if cfg.use_photos else None
    return SupervisedTask(cfg, ctx.device, ctx.rank, ctx.world, ctx.main, bank)


def _new_stage_model(stage: StageConfig, cfg: TrainConfig, init_state: Optional[dict[str, torch.Tensor]],
                     resuming: bool = False):
    """The stage's model: built, initialised from ``init_state`` (revived when asked) and partly frozen.

    When ``resuming``, the stage's checkpoint replaces the weights right after, so nothing is revived.
    """
    torch.manual_seed(cfg.seed)
    model = build_liteflownet2(get_variant(stage.variant))
    if cfg.zero_flow_heads:
        zero_flow_heads(model)
    if init_state is not None:
        load_matching(model, init_state)
        if cfg.reinit_dead and not resuming:
            revived = reinit_dead_units(model)
            if revived and os.environ.get('RANK', '0') == '0':
                print(f'{stage.variant}: re-initialised {len(revived)} dead units: {", ".join(revived)}')
    freeze_except(model, stage.trainable)
    return model


def train_stage(
    stage: StageConfig,
    cfg: TrainConfig,
    init_state: Optional[dict[str, torch.Tensor]],
    global_step: int = 0,
    name: Optional[str] = None,
    shared: Optional[_RunShared] = None,
) -> tuple[Path, bool]:
    """Train (or resume, or skip when finished) one stage.

    Args:
        stage: the stage.
        cfg: run configuration.
        init_state: state dict to start from (non-strict, matching shapes) when the stage starts fresh.
        global_step: steps of earlier stages (x axis of the log).
        name: directory and log name of the stage (default: the variant alias).
        shared: run-wide state (created when None).

    Returns:
        ``(path, finished)``: ``final.pth`` and True when the stage is done, or ``latest.pth`` and False
        when the session budget ran out first (rerun to resume).

    """
    shared = shared or _RunShared(cfg)
    ctx = shared.ctx
    variant = get_variant(stage.variant)
    name = name or variant.alias
    stage_dir = Path(cfg.out_dir) / name
    final, latest = stage_dir / 'final.pth', stage_dir / 'latest.pth'
    if final.exists():
        return final, True
    h, w = stage.crop
    if variant.end_level < 6 and (h % 32 or w % 32):
        raise ValueError(f'crop {h}x{w} must be multiples of 32 for {variant.alias}')
    if ctx.main:
        stage_dir.mkdir(parents=True, exist_ok=True)
    model, optimizer, scaler, resumed = _open_stage(stage, cfg, init_state, ctx, latest)
    start_it, position, elapsed0 = resumed
    net = _wrap_distributed(model, ctx)
    objective = shared.task.objective(stage)
    source = shared.task.stream(stage, position)
    stage_meta = _stage_meta(stage, cfg, shared)

    def save(it: int, path: Path) -> None:
        if ctx.main:
            save_training_state(path, model, optimizer, iteration=it, data_position=source.position,
                                elapsed_s=elapsed0 + time.monotonic() - t0, meta=stage_meta, scaler=scaler)

    t0 = time.monotonic()
    it, finished = start_it, True
    sums = {'loss': 0.0, 'metric': 0.0, 'n': 0, 't': time.monotonic()}
    bar = _progress(cfg, ctx, stage, name, start_it)
    while it < stage.iterations:
        stage_over = stage.time_limit_s is not None and elapsed0 + time.monotonic() - t0 >= stage.time_limit_s
        if distributed.any_flag(ctx, stage_over or shared.session_over(cfg)):
            finished = stage_over
            break
        lr = lr_at(stage.lr, it / max(stage.iterations, 1))
        loss, metric = _train_step(net, model, objective, optimizer, scaler,
                                   source.next_batch(stage.batch_size), cfg, lr)
        if not math.isfinite(loss):
            raise FloatingPointError(f'{variant.alias}: non-finite loss at iteration {it}')
        it += 1
        shared.steps += 1
        sums.update(metric=sums['metric'] + metric, loss=sums['loss'] + loss, n=sums['n'] + 1)
        if bar is not None:
            bar.update(1)
        last = it >= stage.iterations
        do_val = shared.task.has_validation and (last or (cfg.val_every and it % cfg.val_every == 0))
        if ctx.main and (it % cfg.log_every == 0 or do_val or last):
            _log(cfg, shared, model, name, it, global_step, lr, sums, do_val, source.position,
                 elapsed0 + time.monotonic() - t0)
        if it % cfg.checkpoint_every == 0:
            save(it, latest)
    if bar is not None:
        bar.close()
    save(it, latest)
    if finished and ctx.main:
        save_checkpoint(model, final, meta={**stage_meta, 'iteration': it, 'data_index': source.position,
                                            'elapsed_s': elapsed0 + time.monotonic() - t0})
    distributed.barrier(ctx)
    return (final if finished else latest), finished


def _wrap_distributed(model: LiteFlowNet2, ctx: distributed.DistContext) -> torch.nn.Module:
    """The model DDP-wrapped when the run has several processes, else the model itself."""
    if not ctx.distributed:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[ctx.local_rank] if ctx.device.type == 'cuda' else None)


def _stage_meta(stage: StageConfig, cfg: TrainConfig, shared: _RunShared) -> dict[str, Any]:
    """What every checkpoint of the stage records about how it was trained."""
    return {
        'stage': asdict(stage) | {'crop': list(stage.crop), 'data': asdict(stage.data or cfg.data)},
        'seed': cfg.seed,
        'world': shared.ctx.world,
        'amp': cfg.amp,
        'decoupled_decay': cfg.decoupled_decay,
        'task': shared.task.meta,
    }


def _open_stage(stage: StageConfig, cfg: TrainConfig, init_state: Optional[dict[str, torch.Tensor]], ctx: Any,
                latest: Path) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any, tuple[int, int, float]]:
    """The stage's model, optimizer and grad scaler, resumed from ``latest`` when it exists.

    Returns:
        ``(model, optimizer, scaler, (iteration, data position, elapsed s))``; zeros for a fresh stage.

    """
    torch.set_num_threads(cfg.threads)
    model = _new_stage_model(stage, cfg, init_state, resuming=latest.exists()).to(ctx.device).train()
    optimizer = make_optimizer(model, cfg, stage.lr)
    scaler = torch.amp.GradScaler('cuda') if cfg.amp == 'fp16' else None
    if not latest.exists():
        return model, optimizer, scaler, (0, 0, 0.0)
    meta = load_training_state(latest, model, optimizer, scaler)
    resumed = (int(meta['iteration']), int(meta['data_index']), float(meta['elapsed_s']))
    return model, optimizer, scaler, resumed


def _train_step(
    net: torch.nn.Module,
    model: LiteFlowNet2,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    scaler: Optional[torch.amp.GradScaler],
    batch: Any,
    cfg: TrainConfig,
    lr: float,
) -> tuple[float, float]:
    """One optimizer step at learning rate ``lr``; returns (loss, the task's batch metric)."""
    for group in optimizer.param_groups:
        group['lr'] = lr
    loss, metric = objective(net, model, batch)
    if not torch.isfinite(loss):
        return float('nan'), float('nan')
    optimizer.zero_grad(set_to_none=True)
    _backward_step(loss, model, optimizer, scaler, cfg.grad_clip)
    return float(loss.detach()), metric


def _backward_step(
    loss: torch.Tensor,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: Optional[torch.amp.GradScaler],
    grad_clip: Optional[float],
) -> None:
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def _progress(cfg: TrainConfig, ctx: distributed.DistContext, stage: StageConfig, name: str, start: int):
    if not (cfg.progress and ctx.main):
        return None
    from tqdm import tqdm

    # disable=None: off when stderr is not a terminal, so redirected logs are not flooded (the CSV log stays)
    return tqdm(total=stage.iterations, initial=start, desc=name, dynamic_ncols=True, disable=None)


def _log(
    cfg: TrainConfig,
    shared: _RunShared,
    model: LiteFlowNet2,
    name: str,
    it: int,
    global_step: int,
    lr: float,
    sums: dict[str, float],
    do_val: bool,
    position: int,
    elapsed: float,
) -> None:
    """Write one CSV row (rank 0); on validation steps also the held-out EPE and the weight health."""
    now = time.monotonic()
    row: dict[str, Any] = {
        'stage': name,
        'iteration': it,
        'global_step': global_step + it,
        'lr': lr,
        'loss': sums['loss'] / max(sums['n'], 1),
        shared.task.train_metric: sums['metric'] / max(sums['n'], 1),
        'elapsed_s': round(elapsed, 1),
        'data_index': position,
        'steps_per_s': round(sums['n'] / max(now - sums['t'], 1e-9), 4),
    }
    row.update({k: f'{v:.4g}' for k, v in level_grad_norms(model).items()})
    if do_val:
        row[shared.task.val_metric] = f'{shared.task.validate(model):.4f}'
        report = check_model(model, shared.probe)
        row['health'] = (
            'ok' if report.healthy else f'dead={len(report.dead)} collapsed={len(report.collapsed)}'
        )
        if not report.healthy:
            warnings.warn(f'{name} it {it}: {report.summary()}', RuntimeWarning, stacklevel=2)
    sums.update(loss=0.0, metric=0.0, n=0, t=now)
    csv_path = Path(cfg.out_dir) / 'log.csv'
    append_row(csv_path, row)
    if do_val:
        plot_log(csv_path, Path(cfg.out_dir) / 'training.png')


def run_training(cfg: TrainConfig) -> Optional[Path]:
    """Run (or resume) all stages in order, each initialised from the previous stage (or ``cfg.init``).

    Returns:
        Path of the last stage's ``final.pth``, or None when the session budget ran out first (rerun the
        same configuration to resume).

    """
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    if not cfg.stages:
        raise ValueError('no stages to train')
    init_state = read_checkpoint(Path(cfg.init))[0] if cfg.init else None
    shared = _RunShared(cfg, init_state)
    try:
        global_step, final = 0, None
        for stage, name in zip(cfg.stages, stage_names(cfg.stages), strict=True):
            final, finished = train_stage(stage, cfg, init_state, global_step, name=name, shared=shared)
            if not finished:
                return None
            state, meta, _ = read_checkpoint(final)
            global_step += int(meta.get('iteration', stage.iterations))
            # laid over the earlier init: a stage decoding fewer levels keeps the init's other levels
            init_state = {**init_state, **state} if init_state is not None else state
        return final
    finally:
        distributed.cleanup()

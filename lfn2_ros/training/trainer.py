# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage-wise LiteFlowNet2 training on generated pairs or a dataset directory (docs/model.md#training).

The paper's schedule trains pre_M6S6 -> pre_M6S6R6 -> pre_M5S5R5 -> pre_M4S4R4 -> pre_M3S3R3, each stage
initialised from the previous one by a non-strict load of the keys whose shapes match (mmflow
``load_from``; new levels keep their Kaiming init). Per stage: the variant's loss and level weights
(:func:`lfn2_ros.model.losses.build_loss`), Adam (betas 0.9/0.999, weight decay 4e-4), learning rate
halved at 1/2, 2/3 and 5/6 of the stage (the configs' 120k/160k/200k of 240k), progress being the
larger of the iteration and time-budget fractions.

Layout of ``out_dir``: ``<alias>/latest.pth`` (mmflow format via ``save_checkpoint``, meta holds
iteration, data index and elapsed time) with ``<alias>/latest.optim.pt`` (optimizer state), and
``<alias>/final.pth`` when a stage is done (a finished stage is skipped on rerun, an interrupted one
resumes); ``log.csv`` (one row per logged iteration) and ``training.png`` (loss and EPE curves).
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from lfn2_ros.model import LiteFlowNet2, build_liteflownet2, get_variant, save_checkpoint
from lfn2_ros.model.losses import build_loss
from lfn2_ros.training.data import MotionConfig, SyntheticFlowGenerator, heldout_pairs

__all__ = [
    'FULL_SCHEDULE',
    'StageConfig',
    'TrainConfig',
    'batch_to_tensors',
    'export_fp16',
    'load_matching',
    'predict_flow',
    'run_training',
    'stage_names',
    'train_stage',
    'zero_flow_heads',
]

FULL_SCHEDULE = ('pre_M6S6', 'pre_M6S6R6', 'pre_M5S5R5', 'pre_M4S4R4', 'pre_M3S3R3')
"""Stage order of the paper / mmflow model zoo."""

CONFIG_LR = {'pre_M6S6': 1e-4, 'pre_M6S6R6': 1e-4, 'pre_M5S5R5': 1e-4, 'pre_M4S4R4': 1e-4, 'pre_M3S3R3': 6e-5}
"""Adam learning rates of the mmflow configs (docs/model.md#training); other variants fall back to 5e-5."""

LR_MILESTONES = (1 / 2, 2 / 3, 5 / 6)
"""Fractions of a stage at which the learning rate halves (configs: 120k, 160k, 200k of 240k)."""

CSV_FIELDS = ('stage', 'iteration', 'global_step', 'lr', 'loss', 'train_epe', 'val_epe', 'elapsed_s',
              'data_index')


@dataclass
class StageConfig:
    """One training stage.

    Attributes:
        variant: alias or config name of the architecture trained in this stage.
        iterations: optimizer steps.
        lr: Adam learning rate before the decays.
        crop: (height, width) of training crops, px; multiples of 32 for stages decoding level 5 or finer.
        batch_size: pairs per step.
        time_limit_s: optional wall-time budget of the stage, s (it ends at whichever limit comes first).
        motion: distribution of this stage's generated pairs (default: the run's ``TrainConfig.motion``).

    """

    variant: str
    iterations: int
    lr: float
    crop: tuple[int, int] = (192, 256)
    batch_size: int = 4
    time_limit_s: Optional[float] = None
    motion: Optional[MotionConfig] = None


@dataclass
class TrainConfig:
    """Everything a run needs besides the stages.

    Attributes:
        out_dir: output directory (checkpoints, log.csv, training.png).
        stages: the stages, run in order.
        init: optional checkpoint initialising the first stage (fine-tuning); non-strict, matching shapes.
        seed: seed of model init and the data stream (0 <= seed < 10^6).
        threads: torch and OpenCV threads.
        weight_decay: Adam weight decay (L2, coupled, as mmflow's Adam).
        log_every: iterations between CSV rows.
        val_every: iterations between validations on the held-out set (0: only at the stage end).
        val_count: held-out pairs per validation.
        val_size: (height, width) of held-out pairs, px (multiple of 32).
        checkpoint_every: iterations between resumable checkpoints.
        dataset: optional dataset directory (lfn2_ros.datasets layouts) used instead of the generator.
        splits: optional dataset split filter.
        motion: distribution of the generated pairs and of the held-out set.
        progress: show a tqdm progress bar.
        zero_flow_heads: a stage starting fresh zeroes the flow-predicting convolutions (``pred_flow``)
            before loading its initial state, so untrained levels add no flow (mmflow starts them
            Kaiming-initialised, which puts out flows of tens of px that training must first unlearn).

    """

    out_dir: Path
    stages: list[StageConfig]
    init: Optional[Path] = None
    seed: int = 0
    threads: int = 1
    weight_decay: float = 4e-4
    log_every: int = 10
    val_every: int = 100
    val_count: int = 8
    val_size: tuple[int, int] = (320, 448)
    checkpoint_every: int = 50
    dataset: Optional[Path] = None
    splits: Optional[Sequence[str]] = None
    motion: MotionConfig = field(default_factory=MotionConfig)
    progress: bool = True
    zero_flow_heads: bool = False


# ----------------------------------------------------------------------------------------------
# tensors and evaluation


def batch_to_tensors(
    batch: dict[str, np.ndarray],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Convert a numpy batch to network tensors.

    Args:
        batch: ``img1``/``img2`` (B, H, W, 3) uint8 BGR, ``flow`` (B, H, W, 2) float32 px and optional
            ``valid`` (B, H, W) bool.

    Returns:
        ``(img1, img2, flow, valid)``: (B, 3, H, W) float32 BGR in [0, 1] twice, (B, 2, H, W) float32 px,
        (B, H, W) float32 in {0, 1}.

    """
    img1 = torch.from_numpy(batch['img1']).permute(0, 3, 1, 2).float().div_(255.0)
    img2 = torch.from_numpy(batch['img2']).permute(0, 3, 1, 2).float().div_(255.0)
    flow = torch.from_numpy(np.ascontiguousarray(batch['flow'])).permute(0, 3, 1, 2).float()
    valid = batch.get('valid')
    valid_t = torch.ones_like(flow[:, 0]) if valid is None else torch.from_numpy(valid).float()
    return img1.contiguous(), img2.contiguous(), flow.contiguous(), valid_t


def predict_flow(model: LiteFlowNet2, img1: torch.Tensor, img2: torch.Tensor,
                 outputs: Optional[dict[str, torch.Tensor]] = None) -> torch.Tensor:
    """Full-resolution flow of the model's end level (mmflow ``get_flow`` without resizing).

    Args:
        model: the network.
        img1: (B, 3, H, W) float32 BGR in [0, 1]; H, W valid for the variant (multiples of 32 work).
        img2: same shape.
        outputs: already computed ``model(img1, img2)`` (avoids a second forward).

    Returns:
        (B, 2, H, W) float32 flow, px.

    """
    if outputs is None:
        outputs = model(img1, img2)
    end = outputs[f'level{model.variant.end_level}']
    up = F.interpolate(end, size=img1.shape[-2:], mode='bilinear', align_corners=False)
    return up * model.variant.flow_div


def mean_epe(pred: torch.Tensor, gt: torch.Tensor, valid: Optional[torch.Tensor] = None) -> float:
    """Average end-point error, px, of (B, 2, H, W) flows over (B, H, W) valid pixels."""
    err = torch.linalg.vector_norm(pred - gt, dim=1)
    if valid is None:
        return float(err.mean())
    return float((err * valid).sum() / valid.sum().clamp(min=1.0))


@torch.no_grad()
def evaluate_pairs(model: LiteFlowNet2, pairs: Sequence[Any]) -> float:
    """Mean EPE, px, of ``model`` over generated pairs (all pixels), one pair at a time."""
    was_training = model.training
    model.eval()
    total = 0.0
    for pair in pairs:
        img1, img2, flow, _ = batch_to_tensors({'img1': pair.img1[None], 'img2': pair.img2[None],
                                                'flow': pair.flow[None]})
        total += mean_epe(predict_flow(model, img1, img2), flow)
    model.train(was_training)
    return total / max(len(pairs), 1)


# ----------------------------------------------------------------------------------------------
# checkpoints


def load_matching(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Copy every entry of ``state`` whose key and shape exist in ``model`` (mmflow non-strict ``load_from``).

    Args:
        model: destination.
        state: source state_dict (any float dtype; cast to the model's dtype).

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


def _read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    obj = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(obj, dict) and 'state_dict' in obj:
        return obj['state_dict'], dict(obj.get('meta') or {})
    return obj, {}


def export_fp16(checkpoint: Path, dest: Path, meta: Optional[dict[str, Any]] = None) -> int:
    """Write a checkpoint's weights as fp16 (mmflow format; fixed buffers stay float32).

    Args:
        checkpoint: source .pth (mmflow format or bare state_dict).
        dest: destination .pth.
        meta: extra meta entries (plain data).

    Returns:
        Size of ``dest`` in bytes.

    """
    state, old_meta = _read_state(Path(checkpoint))
    variant = get_variant(old_meta.get('alias') or old_meta.get('variant') or 'pre_M3S3R3')
    params = {name for name, _ in build_liteflownet2(variant).named_parameters()}
    half = {k: (v.half() if k in params and v.is_floating_point() else v.float()) for k, v in state.items()}
    info = {**old_meta, **(meta or {}), 'dtype': 'float16'}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': half, 'meta': info}, dest)
    return dest.stat().st_size


# ----------------------------------------------------------------------------------------------
# data sources


class _DatasetBatches:
    """Random crops (with horizontal flips) of a dataset directory; deterministic per (seed, index)."""

    def __init__(self, root: Path, splits: Optional[Sequence[str]], crop: tuple[int, int], seed: int) -> None:
        from lfn2_ros.io import datasets  # imported here: only dataset-directory training needs it

        self._datasets = datasets
        self.refs = datasets.list_samples(root, splits)
        if not self.refs:
            raise ValueError(f'no samples found in {root} (splits {splits})')
        self.crop = crop
        self.seed = seed
        self.index = 0

    def batch(self, size: int) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {'img1': [], 'img2': [], 'flow': [], 'valid': []}
        ch, cw = self.crop
        for _ in range(size):
            rng = np.random.default_rng([self.seed, self.index])
            self.index += 1
            sample = self._datasets.load_sample(self.refs[int(rng.integers(len(self.refs)))])
            img1, img2, flow, valid = sample.img1, sample.img2, sample.flow, sample.valid
            h, w = flow.shape[:2]
            if h < ch or w < cw:  # upscale small samples so the crop fits; flow scales with the image
                s = max(ch / h, cw / w)
                size_wh = (int(math.ceil(w * s)), int(math.ceil(h * s)))
                img1 = cv2.resize(img1, size_wh)
                img2 = cv2.resize(img2, size_wh)
                flow = cv2.resize(flow, size_wh, interpolation=cv2.INTER_NEAREST) * np.float32(s)
                valid = cv2.resize(valid.astype(np.uint8), size_wh, interpolation=cv2.INTER_NEAREST) > 0
                h, w = flow.shape[:2]
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            sl = (slice(y0, y0 + ch), slice(x0, x0 + cw))
            img1, img2, flow, valid = img1[sl], img2[sl], flow[sl], valid[sl]
            if rng.random() < 0.5:
                img1, img2, valid = img1[:, ::-1], img2[:, ::-1], valid[:, ::-1]
                flow = flow[:, ::-1] * np.array([-1.0, 1.0], np.float32)
            for key, value in zip(out, (img1, img2, flow, valid), strict=True):
                out[key].append(np.ascontiguousarray(value))
        return {k: np.stack(v) for k, v in out.items()}


# ----------------------------------------------------------------------------------------------
# training


def _lr_at(base_lr: float, progress: float) -> float:
    return base_lr * 0.5 ** sum(progress >= m for m in LR_MILESTONES)


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open('a', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def plot_log(csv_path: Path, png_path: Path) -> None:
    """Plot training loss and train/held-out EPE against the global step (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(csv_path.open()))
    if not rows:
        return
    step = np.array([int(r['global_step']) for r in rows])
    loss = np.array([float(r['loss']) for r in rows])
    epe = np.array([float(r['train_epe']) for r in rows])
    val = [(int(r['global_step']), float(r['val_epe'])) for r in rows if r['val_epe']]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.semilogy(step, loss)
    ax1.set_xlabel('step')
    ax1.set_ylabel('loss (stage weights)')
    ax2.plot(step, epe, label='train EPE (batch)', alpha=0.6)
    if val:
        ax2.plot([v[0] for v in val], [v[1] for v in val], 'o-', label='held-out EPE')
    ax2.set_xlabel('step')
    ax2.set_ylabel('EPE, px')
    ax2.legend()
    stages = {}
    for r in rows:
        stages.setdefault(r['stage'], int(r['global_step']))
    for name, s in stages.items():
        for ax in (ax1, ax2):
            ax.axvline(s, color='grey', lw=0.5)
        ax2.text(s, ax2.get_ylim()[1], name, rotation=90, va='top', fontsize=7)
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)


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


def stage_names(stages: Sequence[StageConfig]) -> list[str]:
    """Directory names of the stages: the variant alias, with ``.2``, ``.3``... when an alias repeats."""
    seen: dict[str, int] = {}
    names = []
    for stage in stages:
        alias = get_variant(stage.variant).alias
        seen[alias] = seen.get(alias, 0) + 1
        names.append(alias if seen[alias] == 1 else f'{alias}.{seen[alias]}')
    return names


def train_stage(stage: StageConfig, cfg: TrainConfig, init_state: Optional[dict[str, torch.Tensor]],
                global_step: int = 0, on_log: Optional[Callable[[dict[str, Any]], None]] = None,
                data_offset: int = 0, name: Optional[str] = None) -> Path:
    """Train (or resume, or skip when finished) one stage.

    Args:
        stage: the stage.
        cfg: run configuration.
        init_state: state_dict to start from (non-strict, matching shapes) when the stage starts fresh.
        global_step: steps of earlier stages (for the log's x axis).
        on_log: optional callback receiving each CSV row.
        data_offset: first sample index of a fresh stage (samples used by earlier stages, so stages
            see different generated pairs).
        name: directory and log name of the stage (default: the variant alias).

    Returns:
        Path of the stage's ``final.pth``.

    """
    from tqdm import tqdm

    variant = get_variant(stage.variant)
    name = name or variant.alias
    stage_dir = Path(cfg.out_dir) / name
    final, latest = stage_dir / 'final.pth', stage_dir / 'latest.pth'
    optim_path = stage_dir / 'latest.optim.pt'
    if final.exists():
        return final
    stage_dir.mkdir(parents=True, exist_ok=True)
    h, w = stage.crop
    if variant.end_level < 6 and (h % 32 or w % 32):
        raise ValueError(f'crop {h}x{w} must be multiples of 32 for {variant.alias}')

    torch.manual_seed(cfg.seed)
    model = build_liteflownet2(variant)
    model.train()
    loss_fn = build_loss(variant)
    optimizer = torch.optim.Adam(model.parameters(), lr=stage.lr, betas=(0.9, 0.999),
                                 weight_decay=cfg.weight_decay)
    start_it, data_index, elapsed0 = 0, int(data_offset), 0.0
    if latest.exists() and optim_path.exists():  # resume
        state, meta = _read_state(latest)
        model.load_state_dict(state, strict=True)
        extra = torch.load(optim_path, map_location='cpu', weights_only=True)
        optimizer.load_state_dict(extra['optimizer'])
        start_it = int(meta['iteration'])
        data_index = int(meta['data_index'])
        elapsed0 = float(meta.get('elapsed_s', 0.0))
    else:
        if cfg.zero_flow_heads:
            zero_flow_heads(model)
        if init_state is not None:
            load_matching(model, init_state)

    if cfg.dataset is not None:
        source: Any = _DatasetBatches(Path(cfg.dataset), cfg.splits, (h, w), cfg.seed)
    else:
        source = SyntheticFlowGenerator(h, w, seed=cfg.seed, config=stage.motion or cfg.motion)
    source.index = data_index
    val_pairs = heldout_pairs(cfg.val_count, *cfg.val_size, config=cfg.motion) if cfg.val_count else []
    csv_path = Path(cfg.out_dir) / 'log.csv'

    def progress_of(it: int, elapsed: float) -> float:
        frac = it / max(stage.iterations, 1)
        if stage.time_limit_s:
            frac = max(frac, elapsed / stage.time_limit_s)
        return frac

    def save(it: int, elapsed: float, path: Path) -> None:
        meta = {'iteration': it, 'data_index': source.index, 'elapsed_s': elapsed, 'seed': cfg.seed,
                'stage': asdict(stage) | {'crop': list(stage.crop)}}
        tmp = path.with_suffix('.tmp')
        save_checkpoint(model, tmp, meta=meta)
        os.replace(tmp, path)
        torch.save({'optimizer': optimizer.state_dict()}, optim_path.with_suffix('.tmp'))
        os.replace(optim_path.with_suffix('.tmp'), optim_path)

    t0 = time.monotonic() - elapsed0
    it = start_it
    bar = tqdm(total=stage.iterations, initial=start_it, desc=name, disable=not cfg.progress,
               dynamic_ncols=True)
    loss_avg, epe_avg, n_avg = 0.0, 0.0, 0
    while it < stage.iterations:
        elapsed = time.monotonic() - t0
        progress = progress_of(it, elapsed)
        if progress >= 1.0:
            break
        lr = _lr_at(stage.lr, progress)
        for group in optimizer.param_groups:
            group['lr'] = lr
        img1, img2, flow, valid = batch_to_tensors(source.batch(stage.batch_size))
        outputs = model(img1, img2)
        loss = loss_fn(outputs, flow, valid if cfg.dataset is not None else None)
        if not torch.isfinite(loss):
            raise FloatingPointError(f'{variant.alias}: non-finite loss at iteration {it}')
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        it += 1
        with torch.no_grad():
            epe = mean_epe(predict_flow(model, img1, img2, outputs), flow, valid)
        loss_avg, epe_avg, n_avg = loss_avg + float(loss.detach()), epe_avg + epe, n_avg + 1
        bar.update(1)
        bar.set_postfix(loss=f'{float(loss.detach()):.1f}', epe=f'{epe:.2f}', lr=f'{lr:.1e}')
        last = it >= stage.iterations or progress_of(it, time.monotonic() - t0) >= 1.0
        do_val = bool(val_pairs) and (last or (cfg.val_every and it % cfg.val_every == 0))
        if it % cfg.log_every == 0 or do_val or last:
            val_epe = evaluate_pairs(model, val_pairs) if do_val else None
            row = {'stage': name, 'iteration': it, 'global_step': global_step + it, 'lr': lr,
                   'loss': loss_avg / n_avg, 'train_epe': epe_avg / n_avg,
                   'val_epe': '' if val_epe is None else f'{val_epe:.4f}',
                   'elapsed_s': round(time.monotonic() - t0, 1), 'data_index': source.index}
            loss_avg, epe_avg, n_avg = 0.0, 0.0, 0
            _append_csv(csv_path, row)
            if on_log is not None:
                on_log(row)
            if val_epe is not None:
                bar.write(f'{name} it {it}: held-out EPE {val_epe:.3f} px')
                plot_log(csv_path, Path(cfg.out_dir) / 'training.png')
        if it % cfg.checkpoint_every == 0:
            save(it, time.monotonic() - t0, latest)
    bar.close()
    save(it, time.monotonic() - t0, latest)
    save(it, time.monotonic() - t0, final)
    if csv_path.exists():
        plot_log(csv_path, Path(cfg.out_dir) / 'training.png')
    return final


def run_training(cfg: TrainConfig) -> Path:
    """Run all stages in order, each initialised from the previous stage (or ``cfg.init``).

    Returns:
        Path of the last stage's ``final.pth``.

    """
    torch.set_num_threads(cfg.threads)
    cv2.setNumThreads(cfg.threads)
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    init_state = _read_state(Path(cfg.init))[0] if cfg.init else None
    global_step, data_offset = 0, 0
    final = None
    for stage, name in zip(cfg.stages, stage_names(cfg.stages), strict=True):
        final = train_stage(stage, cfg, init_state, global_step, data_offset=data_offset, name=name)
        state, meta = _read_state(final)
        global_step += int(meta.get('iteration', stage.iterations))
        data_offset = int(meta.get('data_index', data_offset))
        init_state = state
    if final is None:
        raise ValueError('no stages to train')
    return final

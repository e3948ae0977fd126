# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""LiteFlowNet2 speed per frame pair on this machine, all variants of the path measured in one run.

Rows per input size (ms per pair, median of ``--repeats`` after warm-up, random weights):
  pairwise      FlowEstimator(img1, img2): encoder twice + decoder (the baseline, ratio 1.00)
  streaming     FlowEstimator.push(frame): the previous frame's encoder pyramid is reused
  reference     pairwise with the pure-PyTorch correlation (LFN2_CORRELATION_BACKEND=reference)
  ptlflow corr  pairwise with ptlflow's default CPU cost volume (its IterSpatialCorrelationSampler when the
                spatial_correlation_sampler extension is absent), re-implemented here: warp f2, grid_sample
                the P*P displaced copies of f2 in one batch, multiply with f1 and sum over channels
  channels-last pairwise with channels_last=True (NHWC convolutions; not bit-identical to mmflow)
  bf16          pairwise with the network in bfloat16 (--bf16; only fast where oneDNN has bf16
                kernels for the CPU, otherwise torch falls back to slow loops)
  conv-only     every Conv2d of one pairwise forward, replayed alone on tensors of the same shapes:
                the lower bound of this network's arithmetic with this torch build
An mmflow row is added when mmflow imports and its LiteFlowNet2 runs on the CPU (never required; mmcv's
Correlation op has CUDA kernels only, so a stock mmflow install cannot run this model on a CPU).

Usage: python benchmarks/bench_model.py [--sizes 320x448 480x640 436x1024] [--repeats 5] [--threads 1]
                                      [--bf16]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

import lfn2_ros.model.units as units
from lfn2_ros.cli_args import parse_size
from lfn2_ros.inference import FlowEstimator
from lfn2_ros.ops.correlation import has_extension, set_backend
from lfn2_ros.ops.warp import warp


def _frames(height: int, width: int, count: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height + 8 * count, width + 8 * count, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[4 * i:4 * i + height, 3 * i:3 * i + width]) for i in range(count)]


def shifted_copies_correlation(f1: torch.Tensor, f2: torch.Tensor, flow: torch.Tensor | None = None, *,
                               max_displacement: int = 3, stride: int = 1, dilation_patch: int = 1,
                               negative_slope: float = 0.1) -> torch.Tensor:
    """ptlflow's pure-PyTorch cost volume algorithm (our code; same arguments and output as ops.correlation).

    f2 is warped by ``flow`` (level px), then sampled with grid_sample(bilinear, zeros, align_corners=True)
    at every displacement in one batch of P*P copies; the products with f1 are summed over channels at the
    strided output pixels. Returns (N, P*P, ceil(H/stride), ceil(W/stride)), leaky-ReLU'd.
    """
    if flow is not None:
        f2 = warp(f2, flow)
    n, c, h, w = f2.shape
    p = 2 * max_displacement + 1
    shifts = (torch.arange(p, dtype=f2.dtype) - max_displacement) * dilation_patch
    dy, dx = (t.reshape(-1, 1, 1) for t in torch.meshgrid(shifts, shifts, indexing='ij'))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=f2.dtype), torch.arange(w, dtype=f2.dtype), indexing='ij')
    gx = 2 * (xs + dx) / max(w - 1, 1) - 1                      # (P*P, H, W) normalised coordinates
    gy = 2 * (ys + dy) / max(h - 1, 1) - 1
    grid = torch.stack((gx, gy), dim=-1).repeat_interleave(n, dim=0)  # (P*P*N, H, W, 2)
    copies = F.grid_sample(f2.repeat(p * p, 1, 1, 1), grid, mode='bilinear', padding_mode='zeros',
                           align_corners=True).view(p * p, n, c, h, w)
    copies = copies[..., ::stride, ::stride]
    cost = (f1[:, :, ::stride, ::stride].unsqueeze(0) * copies).sum(dim=2)  # (P*P, N, oh, ow)
    return F.leaky_relu(cost.permute(1, 0, 2, 3).contiguous(), negative_slope)


def _mmflow_runner(weights: str, height: int, width: int):
    """A callable running mmflow's own LiteFlowNet2 on one pair, or the reason it cannot run here."""
    try:
        import mmflow
        from mmflow.apis import inference_model, init_model
    except Exception as exc:  # any import failure means: no peer row
        return None, f'mmflow not importable ({type(exc).__name__})'
    import os
    cfg = os.path.join(os.path.dirname(mmflow.__file__), '.mim', 'configs', 'liteflownet2',
                       'liteflownet2_pre_M3S3R3_8x1_flyingchairs_320x448.py')
    try:
        model = init_model(cfg, checkpoint=weights, device='cpu')
        img1, img2, _ = _frames(height, width)
        inference_model(model, img1, img2)
    except Exception as exc:
        return None, f'mmflow LiteFlowNet2 does not run on this CPU: {type(exc).__name__}: {exc}'[:200]
    return (lambda: inference_model(model, img1, img2)), ''


def _conv_calls(estimator: FlowEstimator, img1: np.ndarray, img2: np.ndarray) -> list:
    """(module, input shape) of every Conv2d call in one pairwise forward."""
    calls = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: calls.append((mod, args[0].shape)))
             for m in estimator.model.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        estimator(img1, img2)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def _conv_only(calls: list, dtype: torch.dtype) -> callable:
    inputs = [(m, torch.randn(shape, dtype=dtype)) for m, shape in calls]

    @torch.inference_mode()
    def run():
        for module, x in inputs:
            F.conv2d(x, module.weight, module.bias, module.stride, module.padding)
    return run


def _interleaved_medians(runs: list[tuple[str, Callable[[], object], int]],
                         repeats: int) -> list[tuple[str, float]]:
    """Median ms per pair of every run, measured round-robin (one call of each per round) after 2 warm-up
    rounds, so that a slow spell of a shared machine hits every row alike. Each run does ``pairs`` pairs."""
    for _ in range(2):
        for _, fn, _ in runs:
            fn()
    times: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    for _ in range(repeats):
        for name, fn, pairs in runs:
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3 / pairs)
    return [(name, statistics.median(times[name])) for name, _, _ in runs]


def bench_size(height: int, width: int, repeats: int, with_bf16: bool,
               mmflow_weights: str | None = None) -> list[tuple[str, float]]:
    """Return [(row name, ms per pair)] for one input size."""
    if mmflow_weights:
        estimator = FlowEstimator(weights=mmflow_weights, variant='pre_M3S3R3', device='cpu')
    else:
        torch.manual_seed(0)  # the same random network in every run (its flow reaches hundreds of px)
        estimator = FlowEstimator(random_weights=True, variant='pre_M3S3R3', device='cpu')

    def make(**kwargs) -> FlowEstimator:
        """Another estimator with the same weights."""
        est = FlowEstimator(random_weights=True, variant='pre_M3S3R3', device='cpu', **kwargs)
        est.model.load_state_dict(estimator.model.state_dict())
        return est

    img1, img2, img3 = _frames(height, width)
    exact = estimator(img1, img2)
    print(f'  flow of this network at {height}x{width}: max |flow| {np.abs(exact).max():.1f} px '
          '(differences below are float rounding amplified by it)')

    streamer = make()
    # The streaming result must equal the pairwise one bit for bit (the test suite checks it too).
    streamer.push(img1)
    assert np.array_equal(streamer.push(img2), exact)

    def streaming():
        # One push per new frame of a running stream: two new pairs per call.
        streamer.push(img3)
        streamer.push(img2)

    def reference():
        set_backend('reference')
        try:
            return estimator(img1, img2)
        finally:
            set_backend(None)

    def ptlflow_style():
        original = units.correlation
        units.correlation = shifted_copies_correlation
        try:
            return estimator(img1, img2)
        finally:
            units.correlation = original

    runs = [('pairwise', lambda: estimator(img1, img2), 1), ('streaming', streaming, 2),
            ('reference corr', reference, 1), ('ptlflow corr', ptlflow_style, 1)]
    print(f'  ptlflow-style correlation vs ours at {height}x{width}: '
          f'max |diff| {np.abs(ptlflow_style() - exact).max():.2e} px')
    print(f'  reference correlation vs ours at {height}x{width}: '
          f'max |diff| {np.abs(reference() - exact).max():.2e} px')

    if mmflow_weights:
        run, why = _mmflow_runner(mmflow_weights, height, width)
        if run is None:
            print(f'  no mmflow row: {why}')
        else:
            runs.append(('mmflow', run, 1))

    runs.append(('conv-only bound', _conv_only(_conv_calls(estimator, img1, img2), torch.float32), 1))

    for name, kwargs in (('channels-last', {'channels_last': True}), ('bf16', {'dtype': 'bf16'})):
        if name == 'bf16' and not with_bf16:
            continue
        other = make(**kwargs)
        error = np.abs(other(img1, img2) - exact)
        print(f'  {name} vs exact fp32 at {height}x{width}: max |diff| {error.max():.4f} px, '
              f'mean {error.mean():.5f} px')
        runs.append((name, lambda other=other: other(img1, img2), 1))
    return _interleaved_medians(runs, repeats)


def main() -> None:
    """Print one table per size with ratios against the pairwise path."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', type=parse_size, default=[(320, 448), (480, 640), (436, 1024)])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--bf16', action='store_true', help='add the bfloat16 row (slow without oneDNN bf16)')
    parser.add_argument('--mmflow-weights', default=None,
                        help='an mmflow pre_M3S3R3 checkpoint: run ours with it and add an mmflow row '
                             '(needs mmflow + an mmcv whose Correlation runs on the CPU)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {args.threads} thread(s), correlation backend: '
          f'{"extension" if has_extension() else "reference"}')
    for height, width in args.sizes:
        rows = bench_size(height, width, args.repeats, args.bf16, args.mmflow_weights)
        base = rows[0][1]
        print(f'\n{height}x{width} (HxW)          ms/pair   pairwise/row')
        for name, ms in rows:
            print(f'  {name:<20} {ms:9.1f}   {base / ms:6.2f}x')


if __name__ == '__main__':
    main()

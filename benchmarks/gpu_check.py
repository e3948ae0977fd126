# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Python part of scripts/gpu_check.sh: a small op workload for compute-sanitizer, and the GPU table.

Modes:
  sanitize  forward + backward of the correlation extension on small inputs (the four level configs, with and
            without a flow, fp32 and fp16), for ``compute-sanitizer --tool memcheck|racecheck``.
  table     prints, with the default weights:
              ms per pair of the full model (FlowEstimator) at each size, fp32 and fp16, pairwise
              (``est(img1, img2)``) and streaming (``est.push(frame)``), plus pairwise fp32 with the
              pure-PyTorch reference correlation;
              the correlation op per level (at the largest size's level shapes): extension vs reference,
              ms forward and forward + backward, max |diff|;
              fp16's end flow against fp32 (max and mean |diff| px, EPE vs the generated ground truth).

``--device cpu`` (the dry run of gpu_check.sh) runs the same code on the CPU with bf16 in place of fp16, so
the Python parts can be tested without a GPU; its figures mean nothing.

Usage: python benchmarks/gpu_check.py sanitize|table [--device cuda|cpu] [--sizes 448x320 ...]
       [--repeats 10] [--warmup 3]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lfn2_ros.inference import FlowEstimator  # noqa: E402
from lfn2_ros.ops.correlation import correlation, set_backend, use_backend  # noqa: E402
from lfn2_ros.ops.reference import correlation_reference  # noqa: E402
from lfn2_ros.training.data import make_pair  # noqa: E402

# The four LiteFlowNet2 levels: name, channels, max_displacement, stride, dilation_patch, level (1/2^(L-1)).
LEVELS = (('level6', 192, 3, 1, 1, 6), ('level5', 128, 3, 1, 1, 5), ('level4', 96, 3, 1, 1, 4),
          ('level3', 64, 3, 2, 2, 3))


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _time_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """Median wall time of fn in ms, synchronising the device around each call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def _forward_backward(fn: Callable[..., torch.Tensor], inputs: tuple, kw: dict) -> tuple:
    out = fn(*inputs, **kw)
    leaves = [t for t in inputs if t is not None]
    return torch.autograd.grad(out, leaves, torch.ones_like(out))


def _push_alternating(est: FlowEstimator, frames: list[np.ndarray], state: dict) -> object:
    state['i'] += 1
    return est.push(frames[state['i'] % 2])


def _half(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type == 'cuda' else torch.bfloat16


def sanitize(device: torch.device) -> None:
    """Small forward + backward runs of every kernel for compute-sanitizer."""
    gen = torch.Generator().manual_seed(0)
    for name, c, md, s, d, _ in LEVELS:
        h, w = (9, 19) if s == 2 else (5, 18)
        f1, f2 = (0.5 * torch.randn(2, 2, c // 4, h, w, generator=gen)).unbind(0)
        flow = 3.0 * torch.randn(2, 2, h, w, generator=gen)
        for dtype in (torch.float32, _half(device)):
            for fl in (None, flow):
                full = tuple(None if t is None else t.to(device, dtype).requires_grad_()
                             for t in (f1, f2, fl))
                _forward_backward(correlation, full, dict(max_displacement=md, stride=s, dilation_patch=d))
        _sync(device)
        print(f'sanitize: {name} ok', flush=True)


def _pair_images(width: int, height: int, index: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pair = make_pair(0, index, height, width, photos=())  # procedural textures: no photo download
    return pair.img1, pair.img2, pair.flow


def model_rows(device: torch.device, sizes: list[tuple[int, int]], repeats: int, warmup: int) -> None:
    """ms per pair of the full model, pairwise and streaming, fp32 and fp16 (bf16 on a CPU)."""
    print('\n| size (WxH) | dtype | pairwise ms | streaming ms | pairwise, reference corr ms |')
    print('| --- | --- | --- | --- | --- |')
    for width, height in sizes:
        img1, img2, _ = _pair_images(width, height)
        for dtype in (torch.float32, _half(device)):
            est = FlowEstimator(device=str(device), dtype=dtype)
            pairwise = _time_ms(functools.partial(est, img1, img2), device, repeats, warmup)
            est.push(img1)
            push = functools.partial(_push_alternating, est, [img1, img2], {'i': 0})
            streaming = _time_ms(push, device, repeats, warmup)
            ref = '-'
            if dtype == torch.float32:
                with use_backend('reference'), warnings.catch_warnings():
                    warnings.simplefilter('ignore', RuntimeWarning)
                    ref = f'{_time_ms(functools.partial(est, img1, img2), device, repeats, warmup):.2f}'
            name = str(dtype).replace('torch.', '')
            print(f'| {width}x{height} | {name} | {pairwise:.2f} | {streaming:.2f} | {ref} |', flush=True)


def op_rows(device: torch.device, size: tuple[int, int], repeats: int, warmup: int) -> None:
    """The correlation op per level at the level shapes of `size`: extension vs reference."""
    width, height = size
    print(f'\n| level at {width}x{height} (C, h x w) | ext fwd ms | ref fwd ms | ext fwd+bwd ms '
          '| ref fwd+bwd ms | max abs diff fwd |')
    print('| --- | --- | --- | --- | --- | --- |')
    gen = torch.Generator().manual_seed(1)
    for name, c, md, s, d, level in LEVELS:
        h, w = -(-height // 2 ** (level - 1)), -(-width // 2 ** (level - 1))
        f1, f2 = (0.5 * torch.randn(2, 1, c, h, w, generator=gen)).to(device).unbind(0)
        flow = (2.0 * torch.randn(1, 2, h, w, generator=gen)).to(device)
        kw = dict(max_displacement=md, stride=s, dilation_patch=d)
        args = (f1, f2, None if level == 6 else flow)
        full = tuple(t.detach().requires_grad_() if t is not None else None for t in args)
        fns = (correlation, correlation_reference)
        rows = [_time_ms(functools.partial(fn, *args, **kw), device, repeats, warmup) for fn in fns]
        rows += [_time_ms(functools.partial(_forward_backward, fn, full, kw), device, repeats, warmup)
                 for fn in fns]
        diff = (correlation(*args, **kw) - correlation_reference(*args, **kw)).abs().max().item()
        print(f'| {name} ({c}, {h}x{w}) | {rows[0]:.3f} | {rows[1]:.3f} | {rows[2]:.3f} | {rows[3]:.3f} '
              f'| {diff:.2e} |', flush=True)


def half_rows(device: torch.device, sizes: list[tuple[int, int]], pairs: int = 3) -> None:
    """fp16's (bf16's on a CPU) end flow against fp32 with the default weights, on generated pairs."""
    half = _half(device)
    name = str(half).replace('torch.', '')
    print(f'\n| size (WxH) | {name} vs fp32 max abs px | mean abs px | EPE fp32 px | EPE {name} px |')
    print('| --- | --- | --- | --- | --- |')
    estimators = {dt: FlowEstimator(device=str(device), dtype=dt) for dt in (torch.float32, half)}
    for width, height in sizes:
        worst, means, epes = 0.0, [], {torch.float32: [], half: []}
        for i in range(pairs):
            img1, img2, truth = _pair_images(width, height, i)
            flows = {dt: est(img1, img2) for dt, est in estimators.items()}
            diff = np.abs(flows[half] - flows[torch.float32])
            worst, means = max(worst, float(diff.max())), means + [float(diff.mean())]
            for dt, fl in flows.items():
                epes[dt].append(float(np.linalg.norm(fl - truth, axis=-1).mean()))
        print(f'| {width}x{height} | {worst:.4f} | {statistics.mean(means):.5f} | '
              f'{statistics.mean(epes[torch.float32]):.3f} | {statistics.mean(epes[half]):.3f} |', flush=True)


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split('x'))
    return width, height


def main(argv: list[str] | None = None) -> int:
    """Run one mode; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('mode', choices=('sanitize', 'table'))
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--sizes', nargs='+', type=_size, default=[(448, 320), (640, 480), (1024, 436)])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--half-pairs', type=int, default=3)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    set_backend('extension')  # fail loudly if the compiled op is missing
    if args.mode == 'sanitize':
        sanitize(device)
        return 0
    print(f'gpu_check: torch {torch.__version__}, device {device}'
          + (f' ({torch.cuda.get_device_name(device)})' if device.type == 'cuda' else ''))
    model_rows(device, args.sizes, args.repeats, args.warmup)
    op_rows(device, args.sizes[-1], args.repeats, args.warmup)
    half_rows(device, args.sizes, args.half_pairs)
    return 0


if __name__ == '__main__':
    sys.exit(main())

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""LiteFlowNet2 speed per frame pair on this machine, all variants of the path measured in one run.

Rows per input size (ms per pair, median of ``--repeats`` after warm-up, random weights):
  pairwise      FlowEstimator(img1, img2): encoder twice + decoder (the baseline, ratio 1.00)
  streaming     FlowEstimator.push(frame): the previous frame's encoder pyramid is reused
  reference     pairwise with the pure-PyTorch correlation (LFN2_CORRELATION_BACKEND=reference)
  channels-last pairwise with channels_last=True (NHWC convolutions; not bit-identical to mmflow)
  bf16          pairwise with the network in bfloat16 (--bf16; only fast where oneDNN has bf16
                kernels for the CPU, otherwise torch falls back to slow loops)
  conv-only     every Conv2d of one pairwise forward, replayed alone on tensors of the same shapes:
                the lower bound of this network's arithmetic with this torch build
mmflow and ptlflow rows are added when those packages import (never required).

Usage: python benchmarks/bench_model.py [--sizes 320x448 480x640 436x1024] [--repeats 5] [--threads 1]
                                      [--bf16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from lfn2_ros.inference import FlowEstimator
from lfn2_ros.ops.correlation import has_extension, set_backend


def _median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _frames(height: int, width: int, count: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height + 8 * count, width + 8 * count, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[4 * i:4 * i + height, 3 * i:3 * i + width]) for i in range(count)]


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


def bench_size(height: int, width: int, repeats: int, with_bf16: bool) -> list[tuple[str, float]]:
    """Return [(row name, ms per pair)] for one input size."""
    estimator = FlowEstimator(random_weights=True, variant='pre_M3S3R3', device='cpu')
    img1, img2, img3 = _frames(height, width)
    rows = [('pairwise', _median_ms(lambda: estimator(img1, img2), repeats))]

    stream = [img1, img2, img3]

    def streaming():
        # One push per new frame once the stream runs; the first push of a stream is excluded.
        for frame in stream[1:]:
            estimator.push(frame)
    estimator.push(img1)
    rows.append(('streaming', _median_ms(streaming, repeats) / 2))
    estimator.reset()
    # The streaming result must equal the pairwise one bit for bit (the test suite checks it too).
    estimator.push(img1)
    assert np.array_equal(estimator.push(img2), estimator(img1, img2))
    estimator.reset()

    set_backend('reference')
    try:
        rows.append(('reference corr', _median_ms(lambda: estimator(img1, img2), repeats)))
    finally:
        set_backend(None)

    calls = _conv_calls(estimator, img1, img2)
    rows.append(('conv-only bound', _median_ms(_conv_only(calls, torch.float32), repeats)))

    for name, kwargs in (('channels-last', {'channels_last': True}), ('bf16', {'dtype': 'bf16'})):
        if name == 'bf16' and not with_bf16:
            continue
        other = FlowEstimator(random_weights=True, variant='pre_M3S3R3', device='cpu', **kwargs)
        other.model.load_state_dict(estimator.model.state_dict())
        rows.append((name, _median_ms(lambda: other(img1, img2), repeats)))  # noqa: B023 (called now)
        error = np.abs(other(img1, img2) - estimator(img1, img2))
        print(f'  {name} vs exact fp32 (random weights) at {height}x{width}: '
              f'max |diff| {error.max():.4f} px, '
              f'mean {error.mean():.5f} px')
    return rows


def main() -> None:
    """Print one table per size with ratios against the pairwise path."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', default=['320x448', '480x640', '436x1024'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--bf16', action='store_true', help='add the bfloat16 row (slow without oneDNN bf16)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {args.threads} thread(s), correlation backend: '
          f'{"extension" if has_extension() else "reference"}')
    for size in args.sizes:
        height, width = (int(v) for v in size.split('x'))
        rows = bench_size(height, width, args.repeats, args.bf16)
        base = rows[0][1]
        print(f'\n{height}x{width} (HxW)          ms/pair   pairwise/row')
        for name, ms in rows:
            print(f'  {name:<20} {ms:9.1f}   {base / ms:6.2f}x')


if __name__ == '__main__':
    main()

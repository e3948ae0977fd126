# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""CPU speed of the fused correlation op at LiteFlowNet2's level shapes, against baselines of the same run.

For every cost-volume shape of a 448x320 and a 1024x448 input (batch 1), at 1 and 2 threads:

- fused:  lfn2 extension, warp + correlation + leaky ReLU in one op (with a flow, as levels 3-6 run it after
          the first matching pass);
- ext:    lfn2 extension without a flow (plain correlation);
- ref:    pure-PyTorch reference correlation without a flow (reference.correlation_reference);
- seq:    the unfused sequence warp(f2, flow) -> reference correlation -> leaky ReLU (what the fallback runs);
- mem:    memory-traffic lower bound of the fused op: bytes read + written (f1 at the strided pixels, f2,
          flow, output; fp32) / copy bandwidth measured here (torch copy of 64 MiB, same thread count);
- flop:   compute lower bound: 2*C*P^2*oH*oW / matmul GFLOP/s measured here (1024^3 sgemm, same threads).

Targets (docs/extension.md#tests): seq/fused >= 2 at every shape; fused/mem <= 3.
Usage: OMP_NUM_THREADS=2 python benchmarks/bench_correlation.py [--threads 1 2] [--min-time 0.3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lfn2_ros.ops.correlation import correlation, has_extension, set_backend  # noqa: E402
from lfn2_ros.ops.reference import correlation_reference  # noqa: E402
from lfn2_ros.ops.warp import warp  # noqa: E402

# level: (C, max_displacement, stride, dilation_patch, downsampling of the input)
LEVELS = {6: (192, 3, 1, 1, 32), 5: (128, 3, 1, 1, 16), 4: (96, 3, 1, 1, 8), 3: (64, 3, 2, 2, 4)}
INPUTS = ((448, 320), (1024, 448))  # (W, H)


def timeit(fn, min_time: float, min_reps: int = 5) -> float:
    """Median wall time of fn() in ms after 2 warm-ups, repeating for at least min_time seconds."""
    for _ in range(2):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def copy_bandwidth(min_time: float) -> float:
    """Bytes/s of a 64 MiB torch copy (read + write counted)."""
    src = torch.rand(16 * 1024 * 1024)
    dst = torch.empty_like(src)
    ms = timeit(lambda: dst.copy_(src), min_time)
    return 2 * src.numel() * 4 / (ms * 1e-3)


def matmul_flops(min_time: float) -> float:
    """FLOP/s of a 1024^3 float32 matmul."""
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    ms = timeit(lambda: torch.mm(a, b), min_time)
    return 2 * 1024**3 / (ms * 1e-3)


def bench(threads: int, min_time: float) -> list[dict]:
    """Measure every level shape at the given thread count."""
    torch.set_num_threads(threads)
    bw = copy_bandwidth(min_time)
    flops = matmul_flops(min_time)
    rows = []
    gen = torch.Generator().manual_seed(0)
    for w_in, h_in in INPUTS:
        for level, (c, md, s, d, down) in LEVELS.items():
            h, w = h_in // down, w_in // down
            f1 = torch.randn(1, c, h, w, generator=gen)
            f2 = torch.randn(1, c, h, w, generator=gen)
            flow = 2 * torch.randn(1, 2, h, w, generator=gen)
            kw = dict(max_displacement=md, stride=s, dilation_patch=d)
            p2, oh, ow = (2 * md + 1) ** 2, -(-h // s), -(-w // s)

            def seq(f1=f1, f2=f2, flow=flow, kw=kw):
                raw = correlation_reference(f1, warp(f2, flow), **kw, negative_slope=1.0)
                return F.leaky_relu(raw, 0.1)

            with torch.inference_mode():
                fused = timeit(lambda f1=f1, f2=f2, fl=flow, kw=kw: correlation(f1, f2, fl, **kw), min_time)
                ext = timeit(lambda f1=f1, f2=f2, kw=kw: correlation(f1, f2, **kw), min_time)
                ref = timeit(lambda f1=f1, f2=f2, kw=kw: correlation_reference(f1, f2, **kw), min_time)
                seq_ms = timeit(seq, min_time)
            traffic = 4 * (c * oh * ow + c * h * w + 2 * h * w + p2 * oh * ow)
            rows.append(dict(
                threads=threads, input=f'{w_in}x{h_in}', level=level,
                shape=f'{c}x{h}x{w}' + (' s2d2' if s == 2 else ''),
                fused=fused, ext=ext, ref=ref, seq=seq_ms, mem=1e3 * traffic / bw,
                flop=1e3 * 2 * c * p2 * oh * ow / flops, bw=bw / 1e9, gflops=flops / 1e9))
    return rows


def print_table(rows: list[dict]) -> None:
    """Print a markdown table of the results."""
    print('| thr | input | level | C x H x W | fused ms | ext ms | ref ms | seq ms | seq/fused | ref/ext '
          '| mem ms | fused/mem | flop ms | fused/flop |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['threads']} | {r['input']} | {r['level']} | {r['shape']} | {r['fused']:.3f} "
              f"| {r['ext']:.3f} | {r['ref']:.3f} | {r['seq']:.3f} | {r['seq'] / r['fused']:.1f} "
              f"| {r['ref'] / r['ext']:.1f} | {r['mem']:.3f} | {r['fused'] / r['mem']:.1f} | {r['flop']:.3f} "
              f"| {r['fused'] / r['flop']:.1f} |")
    for t in sorted({r['threads'] for r in rows}):
        r = next(r for r in rows if r['threads'] == t)
        print(f"threads={t}: copy bandwidth {r['bw']:.1f} GB/s, sgemm {r['gflops']:.0f} GFLOP/s")


def main() -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--min-time', type=float, default=0.3, help='seconds per measurement')
    args = parser.parse_args()
    set_backend('extension')
    if not has_extension():
        raise SystemExit('the lfn2 extension is not available')
    rows = []
    for t in args.threads:
        rows += bench(t, args.min_time)
    print_table(rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())

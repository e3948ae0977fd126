# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Several cameras on one model: pairs per second for 1 camera, 2 cameras batched, 2 cameras in turn.

``FlowEstimator.push_batch`` is what flow_node runs when the frames of several cameras are ready
together. Baseline, measured in the same run: one camera through the same call, and two cameras
through two single-frame calls (what a node without batching would do). Weights: random
(speed only); real frames of the synthetic texture.

Usage: python benchmarks/bench_cameras.py [--height 256] [--width 320] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lfn2_ros.inference import FlowEstimator
from lfn2_ros.node.synthetic_camera import MovingTexture


def _rate(estimator: FlowEstimator, cameras: int, rounds: int, batched: bool, scenes) -> float:
    """Flow pairs per second over ``rounds`` rounds (after one warm-up round)."""
    names = [f'cam{i}' for i in range(cameras)]
    estimator.reset()
    estimator.push_batch([scenes[i].frame(0) for i in range(cameras)], names)  # first frames: no pair
    start = None
    for k in range(1, rounds + 2):
        if k == 2:
            start = time.perf_counter()  # round 1 warms up
        frames = [scenes[i].frame(k) for i in range(cameras)]
        if batched:
            flows = estimator.push_batch(frames, names)
        else:
            flows = [estimator.push_batch([f], [n])[0] for f, n in zip(frames, names, strict=True)]
        assert all(f is not None and np.isfinite(f).all() for f in flows)
    return cameras * rounds / (time.perf_counter() - start)


def main() -> None:
    """Print pairs/s for each configuration and the 2-camera speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--height', type=int, default=256)
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    estimator = FlowEstimator(random_weights=True, device=args.device, num_threads=args.threads)
    scenes = [MovingTexture(args.height, args.width, motion_px=(2.0, 1.0), seed=s) for s in range(2)]
    one = _rate(estimator, 1, args.rounds, True, scenes)
    turn = _rate(estimator, 2, args.rounds, False, scenes)
    batch = _rate(estimator, 2, args.rounds, True, scenes)
    print(f'{args.height}x{args.width} on {estimator.device}, {args.threads} thread(s), {args.rounds} rounds')
    print(f'1 camera             : {one:6.2f} pairs/s')
    print(f'2 cameras, in turn   : {turn:6.2f} pairs/s ({turn / one:.2f}x of 1 camera)')
    print(f'2 cameras, batched   : {batch:6.2f} pairs/s ({batch / one:.2f}x of 1 camera, '
          f'{batch / turn:.2f}x of in turn)')


if __name__ == '__main__':
    main()

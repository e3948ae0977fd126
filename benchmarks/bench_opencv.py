# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Classical baselines a user might pick instead of lfn2_ros: OpenCV DIS and Farneback.

Frames: scikit-image's bundled photos (no download) warped by a smooth known motion
(lfn2_ros.evaluation.synthetic_pairs), so every method is scored against exact ground truth on the same
frames. Time is the median of ``--repeats`` calls after one warm-up, one OpenCV thread; EPE is
averaged over the photos. LiteFlowNet2 rows are added for the embedded default weights when they
are shipped (and for ``--weights``), measured in the same run.

Usage: python benchmarks/bench_opencv.py [--sizes 320x448 480x640 436x1024] [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from lfn2_ros.cli_args import parse_size
from lfn2_ros.evaluation.accuracy import mean_endpoint_error
from lfn2_ros.evaluation.baselines import farneback_flow
from lfn2_ros.evaluation.synthetic_pairs import smooth_flow, warp_photo_pair
from lfn2_ros.io.photos import load_photo

PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket')
MARGIN_PX = 32


def _pairs(height: int, width: int, max_px: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    pairs = []
    for seed, name in enumerate(PHOTOS):
        photo = cv2.resize(load_photo(name), (width + 2 * MARGIN_PX, height + 2 * MARGIN_PX),
                           interpolation=cv2.INTER_AREA)
        pairs.append(warp_photo_pair(photo, smooth_flow(height, width, max_px=max_px, seed=seed)))
    return pairs


def _dis(preset: int):
    dis = cv2.DISOpticalFlow_create(preset)

    def run(img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        return dis.calc(cv2.cvtColor(img1, cv2.COLOR_BGR2GRAY), cv2.cvtColor(img2, cv2.COLOR_BGR2GRAY), None)
    return run


def _methods(weights: str | None) -> list[tuple[str, callable]]:
    methods = [('DIS ultrafast', _dis(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)),
               ('DIS fast', _dis(cv2.DISOPTICAL_FLOW_PRESET_FAST)),
               ('DIS medium', _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)),
               ('Farneback', farneback_flow)]
    try:
        from lfn2_ros.inference import FlowEstimator

        estimator = FlowEstimator(weights=weights, device='cpu', num_threads=1)
        methods.append((f'LiteFlowNet2 ({"default" if weights is None else "--weights"})', estimator))
    except FileNotFoundError as exc:
        print(f'(no LiteFlowNet2 row: {exc})')
    return methods


def main() -> None:
    """Print, per size, ms per pair and EPE of each method, with ratios against DIS medium."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', type=parse_size, default=[(320, 448), (480, 640), (436, 1024)])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--max-px', type=float, default=6.0, help='bound of the motion |u|, |v| (px)')
    parser.add_argument('--weights', default=None, help='LiteFlowNet2 checkpoint (default: embedded)')
    args = parser.parse_args()
    cv2.setNumThreads(1)
    methods = _methods(args.weights)
    for height, width in args.sizes:
        pairs = _pairs(height, width, args.max_px)
        zero_epe = np.mean([mean_endpoint_error(np.zeros_like(gt), gt) for _, _, gt in pairs])
        rows = []
        for name, method in methods:
            img1, img2, _ = pairs[0]
            method(img1, img2)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                method(img1, img2)
                times.append((time.perf_counter() - start) * 1e3)
            epe = np.mean([mean_endpoint_error(method(a, b), gt) for a, b, gt in pairs])
            rows.append((name, statistics.median(times), epe))
        base_ms = dict((n, t) for n, t, _ in rows)['DIS medium']
        print(f'\n{height}x{width} (HxW), {len(pairs)} photos, |motion| <= {args.max_px} px, '
              f'zero-flow EPE {zero_epe:.2f} px')
        print(f'  {"method":<28} {"ms/pair":>9} {"vs DIS medium":>14} {"EPE px":>8}')
        for name, ms, epe in rows:
            print(f'  {name:<28} {ms:9.1f} {ms / base_ms:13.2f}x {epe:8.3f}')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Quality of the embedded default weights, all measured in one run at one resolution.

1. Held-out generated pairs (``lfn2_ros.training.data.heldout_pairs``, fixed seed) at 320x448:
   EPE of the model and of zero flow, over all pixels and over non-occluded pixels.
2. Real photos warped with a smooth known motion (``lfn2_ros.synthetic_pairs``), at the same
   resolution: EPE of the model, of OpenCV Farneback
   (``calcOpticalFlowFarneback(0.5, 3, 15, 3, 5, 1.2, 0)`` on grey images) and of zero flow.
   ``coffee`` and ``rocket`` are never used as training textures; the others are.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/eval_default_weights.py [--weights W] [--count 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lfn2_ros.evaluation.synthetic_pairs import smooth_flow, warp_photo_pair  # noqa: E402
from lfn2_ros.inference import FlowEstimator  # noqa: E402
from lfn2_ros.io.photos import load_photo  # noqa: E402
from lfn2_ros.training.data import EVAL_PHOTOS, heldout_pairs  # noqa: E402

DEFAULT_WEIGHTS = REPO / 'lfn2_ros' / 'weights' / 'liteflownet2_default.pth'


def epe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean end-point error, px, of (H, W, 2) flows over an optional (H, W) bool mask."""
    err = np.linalg.norm(pred.astype(np.float64) - gt, axis=2)
    return float(err[mask].mean() if mask is not None else err.mean())


def farneback(img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
    """OpenCV Farneback flow frame 1 -> frame 2 on grey images, (H, W, 2) float32 px."""
    g1 = cv2.cvtColor(img1, cv2.COLOR_BGR2GRAY)
    g2 = cv2.cvtColor(img2, cv2.COLOR_BGR2GRAY)
    return cv2.calcOpticalFlowFarneback(g1, g2, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def photo_for(name: str, height: int, width: int, margin: int) -> np.ndarray:
    """The photo, upscaled only if it cannot hold a (height + 2 margin) x (width + 2 margin) crop."""
    photo = load_photo(name)
    scale = max((height + 2 * margin) / photo.shape[0], (width + 2 * margin) / photo.shape[1], 1.0)
    if scale > 1.0:
        size = (int(np.ceil(photo.shape[1] * scale)), int(np.ceil(photo.shape[0] * scale)))
        photo = cv2.resize(photo, size, interpolation=cv2.INTER_CUBIC)
    return photo


def main(argv: list[str] | None = None) -> int:
    """Print the metrics; returns 0."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--weights', type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument('--count', type=int, default=32, help='held-out generated pairs')
    p.add_argument('--size', default='320x448', help='HxW of every pair')
    p.add_argument('--photos', default=','.join(EVAL_PHOTOS) + ',astronaut,chelsea')
    p.add_argument('--motions', type=int, default=4, help='smooth motions per photo')
    p.add_argument('--max-px', type=float, default=8.0, help='bound of the smooth motion, px')
    p.add_argument('--dtype', default='float32', help='network precision: float32, bfloat16, float16')
    p.add_argument('--skip-photos', action='store_true', help='held-out generated pairs only')
    p.add_argument('--json', type=Path, default=None, help='also write the numbers as JSON')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    height, width = (int(v) for v in args.size.split('x'))

    t0 = time.monotonic()
    est = FlowEstimator(args.weights, device='cpu', dtype=args.dtype)
    print(f'weights: {args.weights} ({args.weights.stat().st_size / 1e6:.2f} MB, {est.model_name}, '
          f'{args.dtype})')

    model_all, model_noc, zero_all, zero_noc = [], [], [], []
    for pair in heldout_pairs(args.count, height, width):
        flow = est(pair.img1, pair.img2)
        zeros = np.zeros_like(pair.flow)
        model_all.append(epe(flow, pair.flow))
        model_noc.append(epe(flow, pair.flow, pair.noc))
        zero_all.append(epe(zeros, pair.flow))
        zero_noc.append(epe(zeros, pair.flow, pair.noc))
    held = {'pairs': args.count, 'size': f'{height}x{width}',
            'model_epe': float(np.mean(model_all)), 'model_epe_noc': float(np.mean(model_noc)),
            'zero_epe': float(np.mean(zero_all)), 'zero_epe_noc': float(np.mean(zero_noc)),
            'model_epe_max_pair': float(np.max(model_all))}
    print(f'held-out generated pairs ({args.count} at {height}x{width}): '
          f'model EPE {held["model_epe"]:.3f} px (noc {held["model_epe_noc"]:.3f}), '
          f'zero flow {held["zero_epe"]:.3f} px (noc {held["zero_epe_noc"]:.3f})')

    margin = int(np.ceil(args.max_px)) + 4
    photos = {}
    for name in [] if args.skip_photos else [n for n in args.photos.split(',') if n]:
        image = photo_for(name, height, width, margin)
        rows = []
        for seed in range(args.motions):
            gt = smooth_flow(height, width, max_px=args.max_px, seed=seed)
            img1, img2, gt = warp_photo_pair(image, gt)
            rows.append((epe(est(img1, img2), gt), epe(farneback(img1, img2), gt),
                         epe(np.zeros_like(gt), gt)))
        m, f, z = (float(v) for v in np.mean(rows, axis=0))
        photos[name] = {'model_epe': m, 'farneback_epe': f, 'zero_epe': z,
                        'held_out_photo': name in EVAL_PHOTOS}
        tag = 'not in training' if name in EVAL_PHOTOS else 'training texture'
        print(f'  {name:10s} ({tag}): model {m:.3f} px, Farneback {f:.3f} px, zero {z:.3f} px')
    keys = ('model_epe', 'farneback_epe', 'zero_epe')
    mean = {}
    if photos:
        mean = {k: float(np.mean([v[k] for v in photos.values()])) for k in keys}
        print(f'warped photos ({len(photos)} photos x {args.motions} smooth motions, '
              f'|u|,|v| <= {args.max_px} px, '
              f'{height}x{width}): model EPE {mean["model_epe"]:.3f} px, '
              f'Farneback {mean["farneback_epe"]:.3f} px, zero {mean["zero_epe"]:.3f} px')
    print(f'wall time {time.monotonic() - t0:.1f} s')
    if args.json is not None:
        args.json.write_text(json.dumps({'held_out': held, 'photos': photos, 'photos_mean': mean}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Quality of the embedded default weights against zero flow and OpenCV DIS-medium, all in one run.

1. Held-out generated pairs (``lfn2_ros.training.pairs.heldout_batches``, fixed seed, FlyingChairs-like
   motions up to 100 px) at 384x512: EPE per ground-truth displacement bin (0-10, 10-40, 40-100 px)
   and overall, of the model, of DIS-medium and of zero flow, on the same pairs.
2. A real photo (scikit-image ``coffee``, never a training texture) translated by (40, -25) px at
   448x1024: median flow of the model and of DIS (should be (40, -25)).
3. Two identical frames of that photo with independent sensor noise (std 2 grey levels): median |flow|
   of the model and of DIS (should be 0).
4. Real photos warped with a smooth known motion (``lfn2_ros.synthetic_pairs``) at 384x512: EPE of the
   model, DIS-medium, Farneback and zero flow.

DIS-medium: ``cv2.DISOpticalFlow_create(DISOPTICAL_FLOW_PRESET_MEDIUM)`` on grey images.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/eval_default_weights.py [--weights W] [--count 16] [--json J]
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
from lfn2_ros.training.pairs import heldout_batches  # noqa: E402

DEFAULT_WEIGHTS = REPO / 'lfn2_ros' / 'weights' / 'liteflownet2_default.pth'
BINS = ((0.0, 10.0), (10.0, 40.0), (40.0, 100.0))
SHIFT = (40, -25)


def dis_medium(img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
    """OpenCV DIS (medium preset) flow frame 1 -> frame 2 on grey images, (H, W, 2) float32 px."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(cv2.cvtColor(img1, cv2.COLOR_BGR2GRAY), cv2.cvtColor(img2, cv2.COLOR_BGR2GRAY), None)


def farneback(img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
    """OpenCV Farneback flow on grey images, (H, W, 2) float32 px."""
    g1, g2 = (cv2.cvtColor(i, cv2.COLOR_BGR2GRAY) for i in (img1, img2))
    return cv2.calcOpticalFlowFarneback(g1, g2, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def binned(errors: dict[str, list[np.ndarray]], mags: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean EPE per method over all pixels and per displacement bin (pixels pooled over pairs)."""
    mag = np.concatenate(mags)
    out = {}
    for method, errs in errors.items():
        err = np.concatenate(errs)
        row = {'all': float(err.mean())}
        for lo, hi in BINS:
            sel = (mag >= lo) & (mag < hi)
            row[f'{lo:g}-{hi:g}'] = float(err[sel].mean()) if sel.any() else float('nan')
        out[method] = row
    out['pixels'] = {
        'all': int(mag.size),
        **{f'{lo:g}-{hi:g}': int(((mag >= lo) & (mag < hi)).sum()) for lo, hi in BINS},
    }
    return out


def heldout_section(est: FlowEstimator, count: int, height: int, width: int) -> dict:
    """Section 1: binned EPE on held-out generated pairs."""
    from lfn2_ros.training.textures import load_photo_bank

    errors: dict[str, list[np.ndarray]] = {'model': [], 'dis_medium': [], 'zero': []}
    mags = []
    for batch in heldout_batches(count, height, width, bank=load_photo_bank()):
        for i in range(batch.flow.shape[0]):
            img1, img2, gt, _ = batch.numpy_pair(i)
            mags.append(np.linalg.norm(gt, axis=2).ravel())
            for name, flow in (
                ('model', est(img1, img2)),
                ('dis_medium', dis_medium(img1, img2)),
                ('zero', np.zeros_like(gt)),
            ):
                errors[name].append(np.linalg.norm(flow - gt, axis=2).ravel())
    return binned(errors, mags)


def photo_canvas(height: int, width: int, margin: int) -> np.ndarray:
    """The held-out photo, upscaled to hold a (height + 2 margin) x (width + 2 margin) crop."""
    photo = load_photo('coffee')
    scale = max((height + 2 * margin) / photo.shape[0], (width + 2 * margin) / photo.shape[1], 1.0)
    size = (int(np.ceil(photo.shape[1] * scale)), int(np.ceil(photo.shape[0] * scale)))
    return cv2.resize(photo, size, interpolation=cv2.INTER_CUBIC)


def real_photo_section(est: FlowEstimator, height: int = 448, width: int = 1024) -> dict:
    """Sections 2 and 3: translated photo and noisy identical frames."""
    dx, dy = SHIFT
    canvas = photo_canvas(height, width, 64)
    y0, x0 = 64, 64
    img1 = canvas[y0 : y0 + height, x0 : x0 + width]
    # content at x in frame 1 is at x + (dx, dy) in frame 2
    img2 = canvas[y0 - dy : y0 - dy + height, x0 - dx : x0 - dx + width]
    rng = np.random.default_rng(0)

    def noisy(img: np.ndarray) -> np.ndarray:
        return np.clip(img + rng.normal(0, 2.0, img.shape), 0, 255).round().astype(np.uint8)

    out = {'shift': list(SHIFT), 'size': f'{height}x{width}'}
    still1, still2 = noisy(img1), noisy(img1)
    for name, fn in (('model', est), ('dis_medium', dis_medium)):
        flow = fn(img1, img2)
        out[f'{name}_translation_median'] = [float(np.median(flow[..., 0])), float(np.median(flow[..., 1]))]
        out[f'{name}_static_median_abs'] = float(np.median(np.linalg.norm(fn(still1, still2), axis=2)))
    return out


def smooth_section(
    est: FlowEstimator, height: int, width: int, max_px: float = 8.0, motions: int = 2
) -> dict:
    """Section 4: photos warped by smooth motions."""
    rows = []
    for name in ('coffee', 'rocket', 'astronaut', 'chelsea'):
        image = photo_canvas(height, width, int(max_px) + 4) if name == 'coffee' else load_photo(name)
        scale = max((height + 24) / image.shape[0], (width + 24) / image.shape[1], 1.0)
        if scale > 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        for seed in range(motions):
            gt = smooth_flow(height, width, max_px=max_px, seed=seed)
            img1, img2, gt = warp_photo_pair(image, gt)
            rows.append(
                [
                    float(np.linalg.norm(f - gt, axis=2).mean())
                    for f in (
                        est(img1, img2),
                        dis_medium(img1, img2),
                        farneback(img1, img2),
                        np.zeros_like(gt),
                    )
                ]
            )
    m = np.mean(rows, axis=0)
    return {'model': m[0], 'dis_medium': m[1], 'farneback': m[2], 'zero': m[3], 'pairs': len(rows)}


def main(argv: list[str] | None = None) -> int:
    """Print the metrics (and write them as JSON with --json); returns 0."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--weights', type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument('--count', type=int, default=16, help='held-out generated pairs')
    p.add_argument('--size', default='384x512', help='HxW of the held-out and smooth-warp pairs')
    p.add_argument('--dtype', default='float32', help='network precision: float32, bfloat16, float16')
    p.add_argument('--skip-photos', action='store_true', help='held-out generated pairs only')
    p.add_argument('--json', type=Path, default=None, help='also write the numbers as JSON')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    height, width = (int(v) for v in args.size.split('x'))
    t0 = time.monotonic()
    est = FlowEstimator(args.weights, device='cpu', dtype=args.dtype)
    print(f'weights: {args.weights} ({args.weights.stat().st_size / 1e6:.2f} MB, {args.dtype})')
    result = {'held_out': heldout_section(est, args.count, height, width)}
    held = result['held_out']
    print(
        f'held-out generated pairs ({args.count} at {height}x{width}), EPE px per |gt| bin '
        f'(pixels {held["pixels"]}):'
    )
    for method in ('model', 'dis_medium', 'zero'):
        print(f'  {method:11s} ' + '  '.join(f'{k} {v:7.3f}' for k, v in held[method].items()))
    if not args.skip_photos:
        real = result['real_photo'] = real_photo_section(est)
        for method in ('model', 'dis_medium'):
            tx, ty = real[f'{method}_translation_median']
            print(
                f'{method:11s}: photo shifted by {SHIFT} at {real["size"]}: '
                f'median flow ({tx:.2f}, {ty:.2f}); '
                f'identical noisy frames: median |flow| {real[f"{method}_static_median_abs"]:.4f} px'
            )
        smooth = result['smooth_warps'] = smooth_section(est, height, width)
        print(
            f'smooth warps of photos ({smooth["pairs"]} pairs, |u|,|v| <= 8 px): '
            f'model {smooth["model"]:.3f}, '
            f'DIS-medium {smooth["dis_medium"]:.3f}, Farneback {smooth["farneback"]:.3f}, '
            f'zero {smooth["zero"]:.3f} px'
        )
    print(f'wall time {time.monotonic() - t0:.1f} s')
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Accuracy against ground truth: end-point error, KITTI Fl and n-px outlier rates.

Flows are (H, W, 2) float, px, channel 0 = u (+x right), 1 = v (+y down), defined on frame 1 and pointing to
frame 2.

- End-point error (EPE): ``|pred - gt|_2`` per pixel, px.
- Fl (KITTI 2015 devkit, also mmflow ``optical_flow_outliers``): a pixel is an outlier when its EPE
  is > 3 px **and** > 5 % of the ground-truth magnitude. Fl-all is the outlier percentage over all
  valid ground-truth pixels.
- n-px outlier rate: percentage of valid pixels with EPE > n px (n = 1, 3, 5).

Dataset-level values pool pixels over all pairs (as mmflow's ``eval_metrics`` and the KITTI/Sintel
benchmarks do): :class:`GtCounts` keeps the sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lfn2_ros.evaluation._checks import as_flow, as_mask

__all__ = [
    'FL_ABS_THRESH_PX',
    'FL_REL_THRESH',
    'OUTLIER_THRESHOLDS_PX',
    'GtCounts',
    'endpoint_error_map',
    'gt_counts',
    'PairAccuracy',
    'mean_endpoint_error',
    'pair_accuracy',
]

FL_ABS_THRESH_PX = 3.0
"""KITTI Fl: absolute EPE threshold, px."""
FL_REL_THRESH = 0.05
"""KITTI Fl: EPE threshold relative to the ground-truth magnitude."""
OUTLIER_THRESHOLDS_PX = (1.0, 3.0, 5.0)
"""EPE thresholds of the n-px outlier rates, px."""


def endpoint_error_map(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-pixel end-point error.

    Args:
        pred: (H, W, 2) predicted flow, px.
        gt: (H, W, 2) ground-truth flow, px.

    Returns:
        (H, W) float64 EPE, px (NaN where either flow is NaN).

    Raises:
        ValueError: shapes differ or are not (H, W, 2).

    """
    pred = as_flow(pred, 'pred')
    gt = as_flow(gt, 'gt')
    if pred.shape != gt.shape:
        raise ValueError(f'pred and gt must have the same shape, got {pred.shape} and {gt.shape}')
    return np.sqrt(np.sum((pred - gt) ** 2, axis=2))


def mean_endpoint_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean end-point error of one pair, px.

    Args:
        pred: (H, W, 2) predicted flow, px.
        gt: (H, W, 2) ground-truth flow, px.
        mask: optional (H, W) bool, the pixels to average over (default all).

    Returns:
        The mean EPE over the (masked) pixels, px; NaN when a pixel in it is NaN or the mask is empty.

    Raises:
        ValueError: shapes differ or are not (H, W, 2).

    """
    epe = endpoint_error_map(pred, gt)
    if mask is not None:
        epe = epe[as_mask(mask, epe.shape, 'mask')]
    return float(epe.mean()) if epe.size else float('nan')


@dataclass
class GtCounts:
    """Pixel sums of the ground-truth metrics over one mask (pooled over pairs when added).

    Attributes:
        pixels: number of valid pixels.
        epe_sum: sum of EPE over them, px.
        fl_outliers: pixels that are KITTI Fl outliers.
        outliers: pixels with EPE > each of :data:`OUTLIER_THRESHOLDS_PX`.

    """

    pixels: int = 0
    epe_sum: float = 0.0
    fl_outliers: int = 0
    outliers: list[int] = field(default_factory=lambda: [0] * len(OUTLIER_THRESHOLDS_PX))

    def add(self, other: GtCounts) -> None:
        """Add another count in place."""
        self.pixels += other.pixels
        self.epe_sum += other.epe_sum
        self.fl_outliers += other.fl_outliers
        self.outliers = [a + b for a, b in zip(self.outliers, other.outliers, strict=True)]

    def summary(self) -> dict[str, float | int | None]:
        """Metrics of these counts: ``epe`` (px), ``fl_pct`` and ``outlier_{n}px_pct`` (%), ``pixels``.

        Values are None when there is no valid pixel.
        """
        out: dict[str, float | int | None] = {'pixels': self.pixels}
        if self.pixels == 0:
            out['epe'] = out['fl_pct'] = None
            for t in OUTLIER_THRESHOLDS_PX:
                out[f'outlier_{t:g}px_pct'] = None
            return out
        out['epe'] = self.epe_sum / self.pixels
        out['fl_pct'] = 100.0 * self.fl_outliers / self.pixels
        for t, n in zip(OUTLIER_THRESHOLDS_PX, self.outliers, strict=True):
            out[f'outlier_{t:g}px_pct'] = 100.0 * n / self.pixels
        return out


def gt_counts(epe: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> GtCounts:
    """Pixel sums of EPE, Fl and n-px outliers over ``mask``.

    Args:
        epe: (H, W) EPE map, px.
        gt: (H, W, 2) ground-truth flow, px.
        mask: (H, W) bool, the pixels to count (valid ground truth). Pixels with a non-finite EPE
            are dropped from the mask.

    Returns:
        The counts.

    """
    mask = np.asarray(mask, dtype=bool) & np.isfinite(epe)
    e = epe[mask]
    mag = np.sqrt(np.sum(np.asarray(gt, dtype=np.float64)[mask] ** 2, axis=1))
    fl = (e > FL_ABS_THRESH_PX) & (e > FL_REL_THRESH * mag)
    return GtCounts(
        pixels=int(e.size),
        epe_sum=float(e.sum()),
        fl_outliers=int(fl.sum()),
        outliers=[int((e > t).sum()) for t in OUTLIER_THRESHOLDS_PX],
    )


@dataclass
class PairAccuracy:
    """The ground-truth metrics of one pair.

    Attributes:
        epe: (H, W) float64 end-point error, px.
        valid: (H, W) bool, the counted pixels: valid and finite ground truth ("all").
        all: counts over ``valid``.
        noc: counts over the non-occluded valid pixels, or None when occlusion is unknown.

    """

    epe: np.ndarray
    valid: np.ndarray
    all: GtCounts
    noc: GtCounts | None


def pair_accuracy(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, noc: np.ndarray | None = None
) -> PairAccuracy:
    """EPE, Fl-all and n-px outlier counts of one pair, over all valid and non-occluded pixels.

    Args:
        pred: (H, W, 2) predicted flow, px.
        gt: (H, W, 2) ground-truth flow, px.
        valid: optional (H, W) bool, valid ground truth ("all"); default: pixels with finite gt.
        noc: optional (H, W) bool, valid and non-occluded pixels ("noc"); None when unknown.

    Returns:
        The EPE map, the counted mask and the counts (:meth:`GtCounts.summary` gives the metrics).

    Raises:
        ValueError: shapes do not match.

    """
    epe = endpoint_error_map(pred, gt)
    finite_gt = np.isfinite(np.asarray(gt)).all(axis=2)
    valid = finite_gt if valid is None else as_mask(valid, epe.shape, 'valid') & finite_gt
    noc_counts = None if noc is None else gt_counts(epe, gt, as_mask(noc, epe.shape, 'noc') & valid)
    return PairAccuracy(epe, valid, gt_counts(epe, gt, valid), noc_counts)

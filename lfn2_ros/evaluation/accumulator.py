# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The metrics of one split: per-pair rows and the sums pooled over its pairs.

Dataset-level values pool pixels over all pairs (as mmflow's ``eval_metrics`` and the KITTI/Sintel
benchmarks do), so a pair with more valid pixels weighs more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lfn2_ros.evaluation.accuracy import OUTLIER_THRESHOLDS_PX, GtCounts, pair_accuracy
from lfn2_ros.evaluation.consistency import FB_ALPHA1, FB_ALPHA2, fb_consistency_mask, photometric_error_map
from lfn2_ros.evaluation.stats import Histogram, flow_magnitude, flow_magnitude_stats, runtime_stats

__all__ = ['MetricAccumulator', 'PairMetrics']

Row = dict[str, float | int | None]


@dataclass
class PairMetrics:
    """The metrics of one pair.

    Attributes:
        row: the pair's CSV values: ``epe_all``, ``epe_noc``, ``fl_all_pct``, ``outlier_{1,3,5}px_pct``,
            ``photometric_l1``, ``photometric_l1_zero_flow``, ``fb_consistent_pct``,
            ``magnitude_{mean,median,p95,max}``, ``inference_ms`` (None where not computed).
        photo_map: (H, W) float64 photometric error in [0, 255], NaN where the target leaves frame 2.
        epe_map: (H, W) float64 EPE, px, NaN where the ground truth is invalid; None without ground truth.
        fb_mask: (H, W) bool forward-backward consistent pixels; None without a backward flow.

    """

    row: Row
    photo_map: np.ndarray
    epe_map: np.ndarray | None = None
    fb_mask: np.ndarray | None = None


def _empty_gt_row() -> Row:
    row: Row = {'epe_all': None, 'epe_noc': None, 'fl_all_pct': None}
    for t in OUTLIER_THRESHOLDS_PX:
        row[f'outlier_{t:g}px_pct'] = None
    return row


@dataclass
class MetricAccumulator:
    """Pooled metrics of one split, plus the per-pair rows.

    Call :meth:`add_pair` once per pair; :meth:`summary` gives the split's pooled values.
    """

    pairs: int = 0
    pairs_with_gt: int = 0
    pairs_with_noc: int = 0
    gt_all: GtCounts = field(default_factory=GtCounts)
    gt_noc: GtCounts = field(default_factory=GtCounts)
    has_noc: bool = False
    photo_sum: float = 0.0
    photo_pixels: int = 0
    photo_zero_sum: float = 0.0
    photo_zero_pixels: int = 0
    fb_consistent: int = 0
    fb_pixels: int = 0
    magnitude: Histogram = field(default_factory=lambda: Histogram(0.01, 1000.0))
    magnitude_sum: float = 0.0
    epe_hist: Histogram = field(default_factory=lambda: Histogram(0.01, 1000.0))
    photo_hist: Histogram = field(default_factory=lambda: Histogram(0.1, 256.0))
    times_ms: list[float] = field(default_factory=list)

    def add_pair(
        self,
        image1: np.ndarray,
        image2: np.ndarray,
        flow: np.ndarray,
        *,
        gt: np.ndarray | None = None,
        valid: np.ndarray | None = None,
        noc: np.ndarray | None = None,
        flow_bw: np.ndarray | None = None,
        time_ms: float | None = None,
    ) -> PairMetrics:
        """Evaluate one pair and add it to the pooled sums.

        Args:
            image1: (H, W, 3) uint8 BGR frame 1.
            image2: (H, W, 3) uint8 BGR frame 2.
            flow: (H, W, 2) predicted flow 1 -> 2, px.
            gt: optional (H, W, 2) ground truth, px.
            valid: optional (H, W) bool valid ground truth (default: finite gt).
            noc: optional (H, W) bool non-occluded valid pixels.
            flow_bw: optional (H, W, 2) predicted flow 2 -> 1 for the forward-backward check.
            time_ms: optional inference time of the pair, ms.

        Returns:
            The pair's row and error maps.

        Raises:
            ValueError: ground truth of another shape than the flow.

        """
        self.pairs += 1
        row, epe_map = _empty_gt_row(), None
        if gt is not None:
            row, epe_map = self._add_gt(flow, gt, valid, noc)
        photo_row, photo_map = self._add_photometric(image1, image2, flow)
        row.update(photo_row)
        fb_mask = None
        row['fb_consistent_pct'] = None
        if flow_bw is not None:
            row['fb_consistent_pct'], fb_mask = self._add_fb(flow, flow_bw)
        row.update(self._add_magnitude(flow))
        row['inference_ms'] = time_ms
        if time_ms is not None:
            self.times_ms.append(float(time_ms))
        return PairMetrics(row, photo_map, epe_map, fb_mask)

    def _add_gt(self, flow: np.ndarray, gt: np.ndarray, valid: np.ndarray | None,
                noc: np.ndarray | None) -> tuple[Row, np.ndarray]:
        """Add the ground-truth counts; returns the row's accuracy values and the (H, W) EPE map."""
        if gt.shape != flow.shape:
            raise ValueError(f'ground truth has shape {gt.shape}, prediction {flow.shape}')
        pair = pair_accuracy(flow, gt, valid, noc)
        self.gt_all.add(pair.all)
        self.epe_hist.add(pair.epe[pair.valid])
        self.pairs_with_gt += 1
        s_all = pair.all.summary()
        row: Row = {'epe_all': s_all['epe'], 'fl_all_pct': s_all['fl_pct'], 'epe_noc': None}
        for t in OUTLIER_THRESHOLDS_PX:
            row[f'outlier_{t:g}px_pct'] = s_all[f'outlier_{t:g}px_pct']
        if pair.noc is not None:
            self.has_noc = True
            self.pairs_with_noc += 1
            self.gt_noc.add(pair.noc)
            row['epe_noc'] = pair.noc.summary()['epe']
        return row, np.where(pair.valid, pair.epe, np.nan)

    def _add_photometric(self, image1: np.ndarray, image2: np.ndarray,
                         flow: np.ndarray) -> tuple[Row, np.ndarray]:
        """Add the photometric sums; returns the row's values and the (H, W) error map."""
        photo, inside = photometric_error_map(image1, image2, flow)
        self.photo_sum += float(photo[inside].sum())
        self.photo_pixels += int(inside.sum())
        self.photo_hist.add(photo[inside])
        zero = np.abs(image1.astype(np.float64) - image2.astype(np.float64)).mean(axis=2)
        self.photo_zero_sum += float(zero.sum())
        self.photo_zero_pixels += int(zero.size)
        row: Row = {
            'photometric_l1': float(photo[inside].mean()) if inside.any() else None,
            'photometric_l1_zero_flow': float(zero.mean()),
        }
        return row, np.where(inside, photo, np.nan)

    def _add_fb(self, flow: np.ndarray, flow_bw: np.ndarray) -> tuple[float | None, np.ndarray]:
        """Add the forward-backward counts; returns the pair's consistent % and the (H, W) mask."""
        consistent, inside = fb_consistency_mask(flow, flow_bw)
        self.fb_consistent += int(consistent.sum())
        self.fb_pixels += int(inside.sum())
        pct = 100.0 * consistent.sum() / inside.sum() if inside.any() else None
        return pct, consistent

    def _add_magnitude(self, flow: np.ndarray) -> Row:
        """Add the magnitude histogram; returns the row's ``magnitude_*`` values."""
        mag = flow_magnitude(flow)
        finite = np.isfinite(mag)
        self.magnitude.add(mag[finite])
        self.magnitude_sum += float(mag[finite].sum())
        return {f'magnitude_{key}': value for key, value in flow_magnitude_stats(flow).items()}

    def summary(self) -> dict:
        """Pooled metrics of the split (pixel-pooled over pairs), JSON-serialisable.

        Returns:
            ``{'pairs', 'pairs_with_gt', 'pairs_with_noc', 'gt': {'all': ..., 'noc': ...} or None,
            'photometric': {...},
            'fb_consistency': {...} or None, 'flow_magnitude': {...}, 'runtime': {...}}``.

        """
        # 'noc' is pooled over the pairs that have an occlusion mask, which can be fewer than 'all'
        out: dict = {'pairs': self.pairs, 'pairs_with_gt': self.pairs_with_gt,
                     'pairs_with_noc': self.pairs_with_noc}
        if self.pairs_with_gt:
            noc = self.gt_noc.summary() if self.has_noc else None
            out['gt'] = {'all': self.gt_all.summary(), 'noc': noc}
        else:
            out['gt'] = None
        out['photometric'] = {
            'l1_mean': self.photo_sum / self.photo_pixels if self.photo_pixels else None,
            'l1_zero_flow_mean': (
                self.photo_zero_sum / self.photo_zero_pixels if self.photo_zero_pixels else None
            ),
            'pixels': self.photo_pixels,
            'unit': 'mean |I1 - warp(I2)| over BGR channels, 8-bit intensity [0, 255]',
        }
        out['fb_consistency'] = None
        if self.fb_pixels:
            out['fb_consistency'] = {
                'consistent_pct': 100.0 * self.fb_consistent / self.fb_pixels,
                'pixels': self.fb_pixels,
                'alpha1': FB_ALPHA1,
                'alpha2_px2': FB_ALPHA2,
            }
        hist = self.magnitude
        out['flow_magnitude'] = {
            'mean_px': self.magnitude_sum / hist.total if hist.total else None,
            'median_px': hist.percentile(50),
            'p95_px': hist.percentile(95),
            'max_px': hist.max_seen if hist.total else None,
            'percentile_resolution_px': hist.bin_width,
        }
        out['runtime'] = runtime_stats(self.times_ms).__dict__
        return out

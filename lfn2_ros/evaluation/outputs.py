# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the evaluator writes besides the report: CSV values, flow files, the result bag, metrics.json."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from lfn2_ros.evaluation.accuracy import OUTLIER_THRESHOLDS_PX
from lfn2_ros.evaluation.stats import runtime_stats
from lfn2_ros.io.bag_writer import FlowBagWriter
from lfn2_ros.io.pairs import FlowPair

__all__ = ['CSV_COLUMNS', 'DEFINITIONS', 'csv_value', 'finite', 'flow_path', 'runtime_summary', 'thumbnail',
           'write_pair']

CSV_COLUMNS = (
    'index', 'split', 'name', 'stamp1_ns', 'stamp2_ns', 'width', 'height', 'inference_ms',
    'epe_all', 'epe_noc', 'fl_all_pct', *[f'outlier_{t:g}px_pct' for t in OUTLIER_THRESHOLDS_PX],
    'photometric_l1', 'photometric_l1_zero_flow', 'fb_consistent_pct',
    'magnitude_mean', 'magnitude_median', 'magnitude_p95', 'magnitude_max',
)
"""Columns of per_pair.csv, in order."""

DEFINITIONS = {
    'epe': 'mean end-point error |pred - gt| in px, pooled over the valid pixels of all pairs',
    'fl_pct': 'KITTI Fl: % of valid pixels with EPE > 3 px and > 5 % of |gt|',
    'outlier_Npx_pct': '% of valid pixels with EPE > N px',
    'noc': 'non-occluded valid pixels (Sintel occlusion masks, KITTI flow_noc)',
    'photometric': 'mean |I1 - I2(x + flow)| over pixels whose target is inside frame 2',
    'fb_consistency': '|f + b|^2 < 0.01 (|f|^2 + |b|^2) + 0.5 (Sundaram et al. 2010)',
}
"""The ``definitions`` entry of metrics.json."""

_THUMB_WIDTH_PX = 320
_DATASET_PERIOD_NS = 1_000_000_000  # dataset pairs are independent: one synthetic second apart
_DATASET_GAP_NS = 100_000_000  # frame 2 of a dataset pair: 0.1 s after frame 1


def csv_value(value: object) -> object:
    """One CSV cell: '' for None, floats with 6 significant digits, anything else as is."""
    if value is None:
        return ''
    if isinstance(value, float | np.floating):
        return f'{float(value):.6g}'
    return value


def finite(value: object) -> object:
    """Copy of a metrics tree with numpy scalars as Python numbers and NaN/inf as None (strict JSON)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def flow_path(flow_dir: Path, pair: FlowPair, fmt: str) -> Path:
    """``flow_dir/<split>/<name>.<fmt>`` with the split made file-name safe; creates the directory."""
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', pair.split.strip('/')) or 'split'
    path = flow_dir / safe / f'{pair.name}.{fmt}'
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A copy of ``image`` at most 320 px wide (area-averaged for uint8, nearest for float maps)."""
    if image.shape[1] <= _THUMB_WIDTH_PX:
        return image.copy()
    height = max(1, round(image.shape[0] * _THUMB_WIDTH_PX / image.shape[1]))
    interp = cv2.INTER_NEAREST if image.dtype != np.uint8 else cv2.INTER_AREA
    return cv2.resize(image, (_THUMB_WIDTH_PX, height), interpolation=interp)


def write_pair(writer: FlowBagWriter, pair: FlowPair, k: int, flow: np.ndarray, viz: np.ndarray,
               fb_mask: np.ndarray | None, model: str, last: int | None) -> int | None:
    """Write the pair's input frames (once each) and its flow to the result bag.

    Args:
        writer: the open result bag.
        pair: the pair; bag pairs copy their raw frames, dataset pairs get synthetic stamps.
        k: the pair's position in the run.
        flow: (H, W, 2) float32 flow, px.
        viz: (H, W, 3) uint8 BGR visualisation.
        fb_mask: optional (H, W) bool forward-backward consistency, written as the confidence.
        model: model name.
        last: index of the last bag frame written, or None.

    Returns:
        The index of the last bag frame written.

    """
    conf = None if fb_mask is None else fb_mask.astype(np.float32)
    if pair.frames is not None:
        f1, f2 = pair.frames
        for frame in (f1, f2):
            if last is None or frame.index > last:
                writer.write_image_raw(frame.raw, frame.bag_time_ns)
                last = frame.index
        writer.write_flow(
            flow, stamp_ns=f2.stamp_ns, previous_stamp_ns=f1.stamp_ns, frame_id=f2.frame_id,
            bag_time_ns=f2.bag_time_ns, model=model, visualization=viz, confidence=conf,
        )
        return last
    t1 = k * _DATASET_PERIOD_NS + 1
    t2 = t1 + _DATASET_GAP_NS
    writer.write_image_bgr(pair.img1, stamp_ns=t1, frame_id='camera', bag_time_ns=t1)
    writer.write_image_bgr(pair.img2, stamp_ns=t2, frame_id='camera', bag_time_ns=t2)
    writer.write_flow(
        flow, stamp_ns=t2, previous_stamp_ns=t1, frame_id='camera', bag_time_ns=t2, model=model,
        visualization=viz, confidence=conf,
    )
    return last


def runtime_summary(times_ms: list[float], pairs: int, wall_s: float) -> dict:
    """The ``runtime`` entry of metrics.json.

    Args:
        times_ms: the forward-flow time of every pair, in order, ms.
        pairs: pairs evaluated.
        wall_s: wall time of the whole loop (I/O and metrics included), s.

    Returns:
        :func:`runtime_stats` of all pairs, plus the first pair alone and the others, and the wall time.

    """
    runtime = runtime_stats(times_ms).__dict__
    # The first call pays one-off costs (allocations, kernel selection): also report without it.
    runtime['first_pair_ms'] = times_ms[0] if times_ms else None
    runtime['excluding_first_pair'] = runtime_stats(times_ms[1:]).__dict__
    runtime['wall_s'] = wall_s
    runtime['wall_throughput_pairs_per_s'] = pairs / wall_s if wall_s > 0 else None
    runtime['timed'] = (
        'forward flow only (estimator call incl. pre/post-processing); wall includes I/O and metrics'
    )
    return runtime

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The evaluation run: every pair through the estimator and the metrics, then metrics.json and the report.

Outputs in the output directory: ``metrics.json`` (pooled per split), ``per_pair.csv``, ``report.html``,
optional flow files in ``flow/`` and a rosbag2 ``bag/`` with the input images, ``/optical_flow``
(lfn2_msgs/OpticalFlow), ``/optical_flow/flow`` (32FC2) and ``/optical_flow/visualization`` (bgr8).
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lfn2_ros.evaluation import outputs
from lfn2_ros.evaluation.accumulator import MetricAccumulator
from lfn2_ros.evaluation.sources import EvaluationInput, open_input
from lfn2_ros.evaluation.visualize import flow_to_color
from lfn2_ros.io import flow_files
from lfn2_ros.io.bag_records import IMAGE_TYPE
from lfn2_ros.io.bag_writer import FlowBagWriter
from lfn2_ros.io.pairs import FlowPair

__all__ = ['Estimator', 'evaluate']

Estimator = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(img1, img2) -> flow``: (H, W, 3) uint8 BGR images to (H, W, 2) float32 px."""

_REPORT_STRIP = 4  # pairs shown as images in report.html


def _check_arguments(bag: object, dataset: object, stride: int, max_pairs: int | None,
                     save_flow: str | None) -> None:
    if (bag is None) == (dataset is None):
        raise ValueError('give exactly one input: a bag (--bag with --topic) or a dataset (--dataset)')
    if stride < 1:
        raise ValueError(f'--stride must be >= 1, got {stride}')
    if max_pairs is not None and max_pairs < 1:
        raise ValueError(f'--max-pairs must be >= 1, got {max_pairs}')
    if save_flow not in (None, 'flo', 'png', 'auto'):
        raise ValueError(f"--save-flow must be 'flo', 'png' or 'auto', got {save_flow!r}")


def _clear_previous(out: Path, write_bag: bool, fmt: str | None, overwrite: bool) -> None:
    """Remove the bag/ and flow/ of a previous run when this run writes them again (with ``overwrite``)."""
    for old, wanted in ((out / 'bag', write_bag), (out / 'flow', fmt)):
        if old.exists() and wanted:
            if not overwrite:
                raise ValueError(f'{old} exists from a previous run; use another --out or --overwrite')
            shutil.rmtree(old)


def _open_writer(path: Path, source: EvaluationInput, bag_storage: str | None) -> FlowBagWriter:
    bag = source.bag
    storage = bag_storage or (bag.storage if bag is not None else 'mcap')
    return FlowBagWriter(path, storage=storage, image_topic=bag.topic if bag is not None else '/image',
                         image_msgtype=bag.msgtype if bag is not None else IMAGE_TYPE)


@dataclass
class _PairLoop:
    """Runs each pair through the estimator and the metrics and writes its per-pair outputs."""

    estimator: Estimator
    model_name: str
    flow_dir: Path
    fmt: str | None
    writer: FlowBagWriter | None
    fb_check: bool | None
    viz_max_magnitude: float | None
    strip_at: set[int]
    accumulators: dict[str, MetricAccumulator] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    strip: list[dict] = field(default_factory=list)
    last_frame_written: int | None = None

    def flow(self, img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator(img1, img2), dtype=np.float32)

    def process(self, k: int, pair: FlowPair) -> dict:
        """Evaluate pair ``k``; returns its row (the CSV columns)."""
        t0 = time.perf_counter()
        flow = self.flow(pair.img1, pair.img2)
        time_ms = (time.perf_counter() - t0) * 1e3
        if flow.shape != (*pair.img1.shape[:2], 2):
            raise ValueError(f'estimator returned shape {flow.shape} for images {pair.img1.shape}')
        run_fb = self.fb_check if self.fb_check is not None else pair.flow is None
        flow_bw = self.flow(pair.img2, pair.img1) if run_fb else None
        acc = self.accumulators.setdefault(pair.split, MetricAccumulator())
        result = acc.add_pair(pair.img1, pair.img2, flow, gt=pair.flow, valid=pair.valid, noc=pair.noc,
                              flow_bw=flow_bw, time_ms=time_ms)
        stamps = (None, None) if pair.frames is None else (pair.frames[0].stamp_ns, pair.frames[1].stamp_ns)
        row = {**result.row, 'index': k, 'split': pair.split, 'name': pair.name, 'width': flow.shape[1],
               'height': flow.shape[0], 'stamp1_ns': stamps[0], 'stamp2_ns': stamps[1]}
        row = {c: row.get(c) for c in outputs.CSV_COLUMNS}
        self.rows.append(row)
        viz = flow_to_color(flow, self.viz_max_magnitude)
        if self.fmt:
            flow_files.write_flow(outputs.flow_path(self.flow_dir, pair, self.fmt), flow)
        if self.writer is not None:
            self.last_frame_written = outputs.write_pair(self.writer, pair, k, flow, viz, result.fb_mask,
                                                         self.model_name, self.last_frame_written)
        if k in self.strip_at:
            error = result.epe_map if pair.flow is not None else result.photo_map
            self.strip.append({
                'title': f'{pair.split} {pair.name}', 'image': outputs.thumbnail(pair.img1),
                'flow': outputs.thumbnail(viz),
                'error': outputs.thumbnail(np.asarray(error, dtype=np.float32)),
                'error_label': 'EPE (px)' if pair.flow is not None else 'photometric error (0-255)',
            })
        return row

    def run(self, source: EvaluationInput, csv_path: Path, progress: bool) -> float:
        """Evaluate every pair of ``source``, writing per_pair.csv; returns the wall time, s."""
        from tqdm import tqdm

        wall_start = time.perf_counter()
        with open(csv_path, 'w', newline='') as csv_file:
            table = csv.DictWriter(csv_file, fieldnames=outputs.CSV_COLUMNS)
            table.writeheader()
            # disable=None: tqdm turns itself off when stderr is not a terminal (logs, CI), instead of
            # writing one carriage-return update per pair into the file.
            bar = tqdm(source.pairs, total=source.total, unit='pair', disable=None if progress else True,
                       desc='evaluate', dynamic_ncols=True)
            for k, pair in enumerate(bar):
                row = self.process(k, pair)
                table.writerow({c: outputs.csv_value(v) for c, v in row.items()})
                if progress and row['epe_all'] is not None:
                    bar.set_postfix(epe=f'{row["epe_all"]:.3f}')
        return time.perf_counter() - wall_start


def evaluate(
    estimator: Estimator | None,
    out_dir: str | Path,
    *,
    make_estimator: Callable[[], Estimator] | None = None,
    bag: str | Path | None = None,
    topic: str | None = None,
    gt_topic: str | None = None,
    dataset: str | Path | None = None,
    splits: Sequence[str] | None = None,
    stride: int = 1,
    max_pairs: int | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    save_flow: str | None = None,
    write_bag: bool | None = None,
    bag_storage: str | None = None,
    fb_check: bool | None = None,
    viz_max_magnitude: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
    strict: bool = False,
    options: dict | None = None,
) -> dict:
    """Run the evaluation and write every output.

    Args:
        estimator: callable ``(img1, img2) -> flow`` on (H, W, 3) uint8 BGR images returning
            (H, W, 2) float32 px (a :class:`lfn2_ros.inference.FlowEstimator` or a test double);
            its ``model_name`` attribute, when present, names the model. None: built by
            ``make_estimator`` once the inputs are checked (so input errors come before model loading).
        out_dir: output directory (created).
        make_estimator: zero-argument factory used when ``estimator`` is None.
        bag: rosbag2 directory; exclusive with ``dataset``.
        topic: image topic of the bag.
        gt_topic: optional ground-truth flow topic of the bag (32FC2, stamped with frame 2).
        dataset: Sintel, KITTI or FlyingChairs directory.
        splits: dataset splits to keep (default all).
        stride: evaluate every ``stride``-th consecutive pair.
        max_pairs: stop after this many pairs.
        start_s: bag only: skip frames earlier than this, seconds from the bag start.
        end_s: bag only: skip frames at or after this, seconds from the bag start.
        save_flow: None, ``'flo'``, ``'png'`` (KITTI 16-bit) or ``'auto'`` (png for KITTI, else flo).
        write_bag: write the result bag; None = yes for bag input, no for datasets.
        bag_storage: ``'mcap'`` or ``'sqlite3'``; None = the input bag's (mcap for datasets).
        fb_check: run the backward flow for the forward-backward consistency (doubles the cost);
            None = only for pairs without ground truth.
        viz_max_magnitude: flow magnitude (px) at full colour in visualisations; None = per pair.
        overwrite: replace the outputs of a previous run in ``out_dir``.
        progress: show a tqdm progress bar on stderr.
        strict: stop at the first pair that cannot be formed (a corrupt frame, a stamp going backwards,
            a change of size or encoding, unusable ground truth, a frame missing from a dataset); by
            default such pairs are listed under ``input.skipped`` and the others evaluated.
        options: extra entries recorded under ``options`` in metrics.json.

    Returns:
        The content of metrics.json.

    Raises:
        ValueError: bad arguments, or no pair could be evaluated; ``BagError`` / ``DatasetError``
            (ValueErrors) for unusable inputs.

    """
    _check_arguments(bag, dataset, stride, max_pairs, save_flow)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = open_input(bag=bag, topic=topic, gt_topic=gt_topic, dataset=dataset, splits=splits,
                        stride=stride, max_pairs=max_pairs, start_s=start_s, end_s=end_s, strict=strict)
    write_bag = bag is not None if write_bag is None else write_bag
    fmt = ('png' if source.layout == 'kitti' else 'flo') if save_flow == 'auto' else save_flow
    loop, wall_s = _run_pairs(source, out, estimator, make_estimator, fmt=fmt, write_bag=write_bag,
                              bag_storage=bag_storage, overwrite=overwrite, fb_check=fb_check,
                              viz_max_magnitude=viz_max_magnitude, progress=progress)
    skipped = source.info.get('skipped') or []
    # A bag's skips come from its index (stamps) and from the reading (decoding): list them in pair order.
    skipped.sort(key=lambda s: (s['split'], s['pair']))
    if not loop.rows:  # metrics and a report over nothing would hide the failure
        first = f'; the first: {skipped[0]["split"]} {skipped[0]["pair"]}: {skipped[0]["reason"]}' \
            if skipped else ''
        raise ValueError(f'no pair could be evaluated ({len(skipped)} skipped){first}')
    run_options = {'stride': stride, 'max_pairs': max_pairs, 'save_flow': fmt, 'fb_check': fb_check,
                   'write_bag': bool(write_bag), 'strict': strict, **(options or {})}
    metrics = _metrics_document(loop, wall_s, source, run_options, write_bag=write_bag, fmt=fmt)
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=2, allow_nan=False) + '\n')
    from lfn2_ros.evaluation.report import write_report  # matplotlib loads only for the report

    write_report(out / 'report.html', metrics, loop.rows, loop.strip, loop.accumulators)
    return metrics


def _run_pairs(source: EvaluationInput, out: Path, estimator: Estimator | None,
               make_estimator: Callable[[], Estimator] | None, *, fmt: str | None, write_bag: bool,
               bag_storage: str | None, overwrite: bool, fb_check: bool | None,
               viz_max_magnitude: float | None, progress: bool) -> tuple[_PairLoop, float]:
    """Prepare the outputs, build the estimator if needed, evaluate every pair; closes ``source``."""
    writer = None
    try:
        _clear_previous(out, write_bag, fmt, overwrite)
        if estimator is None:
            if make_estimator is None:
                raise ValueError('give an estimator or make_estimator')
            estimator = make_estimator()
        if write_bag:
            writer = _open_writer(out / 'bag', source, bag_storage)
        total = source.total
        strip_at = set(np.linspace(0, total - 1, min(_REPORT_STRIP, total)).round().astype(int).tolist())
        loop = _PairLoop(estimator, str(getattr(estimator, 'model_name', type(estimator).__name__)),
                         out / 'flow', fmt, writer, fb_check, viz_max_magnitude, strip_at)
        wall_s = loop.run(source, out / 'per_pair.csv', progress)
    finally:
        if writer is not None:
            writer.close()
        source.close()
    return loop, wall_s


def _metrics_document(loop: _PairLoop, wall_s: float, source: EvaluationInput, options: dict, *,
                      write_bag: bool, fmt: str | None) -> dict:
    """The content of metrics.json (strict JSON: NaN and inf as null)."""
    times_ms = [t for acc in loop.accumulators.values() for t in acc.times_ms]
    return outputs.finite({
        'tool': 'lfn2_ros.evaluate',
        'model': loop.model_name,
        'device': str(getattr(loop.estimator, 'device', 'unknown')),
        'input': source.info,
        'pairs': len(loop.rows),
        'options': options,
        'splits': {name: acc.summary() for name, acc in loop.accumulators.items()},
        'runtime': outputs.runtime_summary(times_ms, len(loop.rows), wall_s),
        'outputs': {'metrics': 'metrics.json', 'per_pair': 'per_pair.csv', 'report': 'report.html',
                    'bag': 'bag' if write_bag else None, 'flow_dir': 'flow' if fmt else None},
        'definitions': outputs.DEFINITIONS,
    })

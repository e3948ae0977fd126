# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluate LiteFlowNet2 on a rosbag2 bag or a flow dataset: metrics, flow files, a result bag, a report.

Examples::

    python -m lfn2_ros.evaluate --bag run1/ --topic /camera/image_raw --weights lfn2.pth --out eval/
    python -m lfn2_ros.evaluate --dataset MPI-Sintel/ --split sintel_final --weights lfn2.pth --out sintel/
    python -m lfn2_ros.evaluate --dataset KITTI2015/ --weights lfn2.pth --save-flow --out kitti/

Bags are read offline with ``rosbags`` (no ROS runtime): every consecutive pair of the image topic
is processed in order, deterministically, unlike a live ``ros2 bag play`` that drops frames.

Outputs in ``--out``: ``metrics.json`` (pooled per split), ``per_pair.csv``, ``report.html``,
optional flow files in ``flow/`` and a rosbag2 ``bag/`` with the input images, ``/optical_flow``
(lfn2_msgs/OpticalFlow), ``/optical_flow/flow`` (32FC2) and ``/optical_flow/visualization`` (bgr8).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lfn2_ros import bag_io, bag_writer, datasets, flow_io
from lfn2_ros.metrics import OUTLIER_THRESHOLDS_PX, MetricAccumulator, runtime_stats
from lfn2_ros.visualize import flow_to_color

__all__ = ['CSV_COLUMNS', 'build_parser', 'evaluate', 'main']

Estimator = Callable[[np.ndarray, np.ndarray], np.ndarray]

CSV_COLUMNS = (
    'index', 'split', 'name', 'stamp1_ns', 'stamp2_ns', 'width', 'height', 'inference_ms',
    'epe_all', 'epe_noc', 'fl_all_pct', *[f'outlier_{t:g}px_pct' for t in OUTLIER_THRESHOLDS_PX],
    'photometric_l1', 'photometric_l1_zero_flow', 'fb_consistent_pct',
    'magnitude_mean', 'magnitude_median', 'magnitude_p95', 'magnitude_max',
)
_REPORT_STRIP = 4  # pairs shown as images in report.html
_THUMB_WIDTH_PX = 320


@dataclass
class _Pair:
    """One pair to evaluate, from a bag or a dataset."""

    split: str
    name: str
    img1: np.ndarray
    img2: np.ndarray
    gt: np.ndarray | None = None
    valid: np.ndarray | None = None
    noc: np.ndarray | None = None
    frame1: bag_io.BagFrame | None = None
    frame2: bag_io.BagFrame | None = None


def _dataset_pairs(refs: Sequence[datasets.SampleRef]) -> Iterator[_Pair]:
    for ref in refs:
        s = datasets.load_sample(ref)
        yield _Pair(s.split, s.name, s.img1, s.img2, s.flow, s.valid, s.noc)


def _bag_pairs(source: bag_io.BagSource, ids: Sequence[int]) -> Iterator[_Pair]:
    for p in source.iter_pairs(ids):
        name = f'{p.pair_index:06d}'
        yield _Pair(
            source.topic, name, p.frame1.image, p.frame2.image, p.gt_flow, frame1=p.frame1, frame2=p.frame2
        )


def _flow_path(flow_dir: Path, pair: _Pair, fmt: str) -> Path:
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', pair.split.strip('/')) or 'split'
    path = flow_dir / safe / f'{pair.name}.{fmt}'
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _thumb(image: np.ndarray) -> np.ndarray:
    if image.shape[1] <= _THUMB_WIDTH_PX:
        return image.copy()
    height = max(1, round(image.shape[0] * _THUMB_WIDTH_PX / image.shape[1]))
    interp = cv2.INTER_NEAREST if image.dtype != np.uint8 else cv2.INTER_AREA
    return cv2.resize(image, (_THUMB_WIDTH_PX, height), interpolation=interp)


def _csv_value(value: object) -> object:
    if value is None:
        return ''
    if isinstance(value, float | np.floating):
        return f'{float(value):.6g}'
    return value


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
        options: extra entries recorded under ``options`` in metrics.json.

    Returns:
        The content of metrics.json.

    Raises:
        ValueError: bad arguments; ``bag_io.BagError`` / ``datasets.DatasetError`` (ValueErrors)
            for unusable inputs.

    """
    if (bag is None) == (dataset is None):
        raise ValueError('give exactly one input: a bag (--bag with --topic) or a dataset (--dataset)')
    if stride < 1:
        raise ValueError(f'--stride must be >= 1, got {stride}')
    if max_pairs is not None and max_pairs < 1:
        raise ValueError(f'--max-pairs must be >= 1, got {max_pairs}')
    if save_flow not in (None, 'flo', 'png', 'auto'):
        raise ValueError(f"--save-flow must be 'flo', 'png' or 'auto', got {save_flow!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = None
    if bag is not None:
        if not topic:
            raise ValueError('--topic is required with --bag (the image topic to evaluate)')
        source = bag_io.BagSource(bag, topic, gt_topic=gt_topic, start_s=start_s, end_s=end_s)
        ids = source.pair_indices(stride, max_pairs)
        total = len(ids)
        pairs = _bag_pairs(source, ids)
        input_info = {
            'type': 'rosbag2', 'path': str(bag), 'storage': source.storage, 'topic': topic,
            'gt_topic': gt_topic, 'frames_in_range': source.num_frames, 'start_s': start_s, 'end_s': end_s,
        }
        layout = 'bag'
    else:
        if start_s is not None or end_s is not None or gt_topic or topic:
            raise ValueError('--start/--end/--topic/--gt-topic apply to bags only, not to --dataset')
        refs = datasets.list_samples(dataset, splits)[::stride][:max_pairs]
        total = len(refs)
        pairs = _dataset_pairs(refs)
        layout = datasets.detect_layout(dataset)
        input_info = {
            'type': 'dataset', 'path': str(dataset), 'layout': layout,
            'splits': sorted({r.split for r in refs}),
        }
    if write_bag is None:
        write_bag = bag is not None
    fmt = save_flow
    if fmt == 'auto':
        fmt = 'png' if layout == 'kitti' else 'flo'
    bag_out = out / 'bag'
    flow_dir = out / 'flow'
    writer = None
    try:
        for old, wanted in ((bag_out, write_bag), (flow_dir, fmt)):
            if old.exists() and wanted:
                if not overwrite:
                    raise ValueError(f'{old} exists from a previous run; use another --out or --overwrite')
                shutil.rmtree(old)
        if estimator is None:
            if make_estimator is None:
                raise ValueError('give an estimator or make_estimator')
            estimator = make_estimator()
        if write_bag:
            storage = bag_storage or (source.storage if source is not None else 'mcap')
            writer = bag_writer.FlowBagWriter(
                bag_out, storage=storage, image_topic=topic if source is not None else '/image',
                image_msgtype=source.msgtype if source is not None else bag_io.IMAGE_TYPE,
            )
    except BaseException:
        if source is not None:
            source.close()
        raise
    model_name = str(getattr(estimator, 'model_name', type(estimator).__name__))
    strip_at = set(np.linspace(0, total - 1, min(_REPORT_STRIP, total)).round().astype(int).tolist())
    accumulators: dict[str, MetricAccumulator] = {}
    rows: list[dict] = []
    strip: list[dict] = []
    last_image_written = None
    wall_start = time.perf_counter()
    try:
        from tqdm import tqdm

        with open(out / 'per_pair.csv', 'w', newline='') as csv_file:
            table = csv.DictWriter(csv_file, fieldnames=CSV_COLUMNS)
            table.writeheader()
            bar = tqdm(
                pairs, total=total, unit='pair', disable=not progress, desc='evaluate', dynamic_ncols=True
            )
            for k, pair in enumerate(bar):
                t0 = time.perf_counter()
                flow = np.asarray(estimator(pair.img1, pair.img2), dtype=np.float32)
                time_ms = (time.perf_counter() - t0) * 1e3
                if flow.shape != (*pair.img1.shape[:2], 2):
                    raise ValueError(f'estimator returned shape {flow.shape} for images {pair.img1.shape}')
                run_fb = fb_check if fb_check is not None else pair.gt is None
                flow_bw = np.asarray(estimator(pair.img2, pair.img1), dtype=np.float32) if run_fb else None
                acc = accumulators.setdefault(pair.split, MetricAccumulator())
                row = acc.add_pair(
                    pair.img1, pair.img2, flow, gt=pair.gt, valid=pair.valid, noc=pair.noc,
                    flow_bw=flow_bw, time_ms=time_ms,
                )
                row.update(
                    index=k, split=pair.split, name=pair.name, width=flow.shape[1], height=flow.shape[0],
                    stamp1_ns=pair.frame1.stamp_ns if pair.frame1 else None,
                    stamp2_ns=pair.frame2.stamp_ns if pair.frame2 else None,
                )
                table.writerow({c: _csv_value(row.get(c)) for c in CSV_COLUMNS})
                rows.append({c: row.get(c) for c in CSV_COLUMNS})
                viz = flow_to_color(flow, viz_max_magnitude)
                if fmt:
                    flow_io.write_flow(_flow_path(flow_dir, pair, fmt), flow)
                if writer is not None:
                    last_image_written = _write_pair(
                        writer, pair, k, flow, viz, row, model_name, last_image_written
                    )
                if k in strip_at:
                    error = row.get('_epe_map') if pair.gt is not None else row.get('_photo_map')
                    strip.append({
                        'title': f'{pair.split} {pair.name}', 'image': _thumb(pair.img1), 'flow': _thumb(viz),
                        'error': _thumb(np.asarray(error, dtype=np.float32)),
                        'error_label': 'EPE (px)' if pair.gt is not None else 'photometric error (0-255)',
                    })
                if progress and row.get('epe_all') is not None:
                    bar.set_postfix(epe=f'{row["epe_all"]:.3f}')
    finally:
        if writer is not None:
            writer.close()
        if source is not None:
            source.close()
    wall_s = time.perf_counter() - wall_start

    all_times = [t for acc in accumulators.values() for t in acc.times_ms]
    runtime = runtime_stats(all_times).__dict__
    # The first call pays one-off costs (allocations, kernel selection): also report without it.
    runtime['first_pair_ms'] = all_times[0] if all_times else None
    runtime['excluding_first_pair'] = runtime_stats(all_times[1:]).__dict__
    runtime['wall_s'] = wall_s
    runtime['wall_throughput_pairs_per_s'] = len(rows) / wall_s if wall_s > 0 else None
    runtime['timed'] = (
        'forward flow only (estimator call incl. pre/post-processing); wall includes I/O and metrics'
    )
    metrics = {
        'tool': 'lfn2_ros.evaluate',
        'model': model_name,
        'device': str(getattr(estimator, 'device', 'unknown')),
        'input': input_info,
        'pairs': len(rows),
        'options': {
            'stride': stride, 'max_pairs': max_pairs, 'save_flow': fmt, 'fb_check': fb_check,
            'write_bag': bool(write_bag), **(options or {}),
        },
        'splits': {name: acc.summary() for name, acc in accumulators.items()},
        'runtime': runtime,
        'outputs': {
            'metrics': 'metrics.json', 'per_pair': 'per_pair.csv', 'report': 'report.html',
            'bag': 'bag' if write_bag else None, 'flow_dir': 'flow' if fmt else None,
        },
        'definitions': {
            'epe': 'mean end-point error |pred - gt| in px, pooled over the valid pixels of all pairs',
            'fl_pct': 'KITTI Fl: % of valid pixels with EPE > 3 px and > 5 % of |gt|',
            'outlier_Npx_pct': '% of valid pixels with EPE > N px',
            'noc': 'non-occluded valid pixels (Sintel occlusion masks, KITTI flow_noc)',
            'photometric': 'mean |I1 - I2(x + flow)| over pixels whose target is inside frame 2',
            'fb_consistency': '|f + b|^2 < 0.01 (|f|^2 + |b|^2) + 0.5 (Sundaram et al. 2010)',
        },
    }
    metrics = _finite(metrics)
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=2, allow_nan=False) + '\n')
    from lfn2_ros.report import write_report

    write_report(out / 'report.html', metrics, rows, strip, accumulators)
    return metrics


def _finite(value: object) -> object:
    """Copy of a metrics tree with numpy scalars as Python numbers and NaN/inf as None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _write_pair(
    writer: bag_writer.FlowBagWriter, pair: _Pair, k: int, flow: np.ndarray, viz: np.ndarray,
    row: dict, model: str, last: object,
) -> object:
    """Write the pair's input frames (once each) and its flow; returns the key of the last frame written."""
    conf = row.get('_fb_mask')
    conf = None if conf is None else conf.astype(np.float32)
    if pair.frame1 is not None:
        for frame in (pair.frame1, pair.frame2):
            if last is None or frame.index > last:
                writer.write_image_raw(frame.raw, frame.bag_time_ns)
                last = frame.index
        f1, f2 = pair.frame1, pair.frame2
        writer.write_flow(
            flow, stamp_ns=f2.stamp_ns, previous_stamp_ns=f1.stamp_ns, frame_id=f2.frame_id,
            bag_time_ns=f2.bag_time_ns, model=model, visualization=viz, confidence=conf,
        )
        return last
    # Dataset pairs are independent: frame 1 at k s, frame 2 at k s + 0.1 s (synthetic stamps).
    t1 = k * 1_000_000_000 + 1
    t2 = t1 + 100_000_000
    writer.write_image_bgr(pair.img1, stamp_ns=t1, frame_id='camera', bag_time_ns=t1)
    writer.write_image_bgr(pair.img2, stamp_ns=t2, frame_id='camera', bag_time_ns=t2)
    writer.write_flow(
        flow, stamp_ns=t2, previous_stamp_ns=t1, frame_id='camera', bag_time_ns=t2, model=model,
        visualization=viz, confidence=conf,
    )
    return last


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``python -m lfn2_ros.evaluate``.

    Returns:
        The parser.

    """
    p = argparse.ArgumentParser(
        prog='evaluate',
        description='Evaluate LiteFlowNet2 optical flow on a rosbag2 bag (image topic, optional 32FC2 '
        'ground truth) or on a Sintel / KITTI 2012/2015 / FlyingChairs directory.',
    )
    src = p.add_argument_group('input (one of --bag or --dataset)')
    src.add_argument('--bag', help='rosbag2 directory (sqlite3 or mcap)')
    src.add_argument('--topic', help='image topic in the bag (sensor_msgs/Image or CompressedImage)')
    src.add_argument(
        '--gt-topic', help='ground-truth flow topic (32FC2 sensor_msgs/Image or lfn2_msgs/OpticalFlow), '
        'stamped with the second frame of each pair',
    )
    src.add_argument('--dataset', help='Sintel, KITTI 2012/2015 or FlyingChairs directory')
    src.add_argument(
        '--split', action='append',
        help='dataset split to evaluate, e.g. sintel_final (repeatable; default all)',
    )
    model = p.add_argument_group('model (as the flow_node parameters)')
    model.add_argument('--weights', help='checkpoint (.pth); default: the embedded default weights')
    model.add_argument('--variant', default='auto', help="mmflow config name or alias (default: 'auto')")
    model.add_argument('--device', default='auto', help="'auto' (default), 'cpu', 'cuda' or 'cuda:N'")
    model.add_argument(
        '--precision', default='fp32', choices=('fp32', 'fp16', 'bf16'),
        help='network precision (fp16: CUDA only)',
    )
    model.add_argument(
        '--network-size', type=int, nargs=2, metavar=('H', 'W'), help='fixed network input size, px'
    )
    model.add_argument(
        '--random-weights', action='store_true',
        help='FOR TESTING ONLY: use an untrained, randomly initialised model instead of --weights',
    )
    sel = p.add_argument_group('pairs')
    sel.add_argument(
        '--stride', type=int, default=1, help='evaluate every N-th consecutive pair (default 1: all)'
    )
    sel.add_argument('--max-pairs', type=int, help='stop after this many pairs')
    sel.add_argument('--start', type=float, help='bags: first frame time, seconds from the bag start')
    sel.add_argument('--end', type=float, help='bags: end time (exclusive), seconds from the bag start')
    sel.add_argument(
        '--fb-check', action=argparse.BooleanOptionalAction, default=None,
        help='forward-backward consistency (runs the model twice per pair); '
        'default: only without ground truth',
    )
    outg = p.add_argument_group('outputs')
    outg.add_argument('--out', required=True, help='output directory')
    outg.add_argument(
        '--save-flow', nargs='?', const='auto', choices=('auto', 'flo', 'png'),
        help='write each flow to OUT/flow/ (.flo, or KITTI 16-bit png; auto: png for KITTI)',
    )
    outg.add_argument(
        '--bag-out', dest='write_bag', action=argparse.BooleanOptionalAction, default=None,
        help='write the result rosbag2 OUT/bag (default: yes for bag input, no for datasets)',
    )
    outg.add_argument(
        '--no-bag', dest='write_bag', action='store_false', default=None, help='same as --no-bag-out'
    )
    outg.add_argument(
        '--bag-storage', choices=('mcap', 'sqlite3'), help='result bag storage (default: as the input)'
    )
    outg.add_argument('--viz-max-magnitude', type=float, metavar='PX', help='flow magnitude at full colour')
    outg.add_argument(
        '--overwrite', action='store_true', help="replace a previous run's bag/ and flow/ in --out"
    )
    outg.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        0 on success, 1 on an error a user can act on (message on stderr, no traceback); argparse
        exits with 2 on malformed arguments.

    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s: %(message)s')
    try:
        if (args.bag is None) == (args.dataset is None):
            raise ValueError('give exactly one input: --bag BAG --topic TOPIC, or --dataset DIR')
        if args.bag is not None and not args.topic:
            raise ValueError('--topic is required with --bag (the image topic to evaluate)')
        if args.random_weights and args.weights:
            raise ValueError('--random-weights (testing only) and --weights are exclusive')

        def make_estimator() -> Estimator:
            # torch is imported only now: input errors are reported without loading it.
            from lfn2_ros.inference import FlowEstimator

            return FlowEstimator(
                None if args.random_weights else args.weights,
                variant=args.variant,
                device=args.device,
                dtype=args.precision,
                network_size=args.network_size,
                random_weights=args.random_weights,
            )

        metrics = evaluate(
            None, args.out, make_estimator=make_estimator, bag=args.bag, topic=args.topic,
            gt_topic=args.gt_topic, dataset=args.dataset, splits=args.split, stride=args.stride,
            max_pairs=args.max_pairs, start_s=args.start, end_s=args.end,
            save_flow=args.save_flow, write_bag=args.write_bag, bag_storage=args.bag_storage,
            fb_check=args.fb_check, viz_max_magnitude=args.viz_max_magnitude, overwrite=args.overwrite,
            progress=not args.no_progress,
            options={
                'weights': args.weights, 'random_weights': args.random_weights,
                'precision': args.precision, 'network_size': args.network_size,
            },
        )
    except (ValueError, FileNotFoundError, TypeError, OSError) as exc:
        print(f'evaluate: error: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('evaluate: interrupted', file=sys.stderr)
        return 130
    print(_summary_text(metrics, args.out))
    return 0


def _summary_text(metrics: dict, out: str) -> str:
    lines = [f'{metrics["pairs"]} pairs, model {metrics["model"]} on {metrics["device"]}; outputs in {out}']
    for name, split in metrics['splits'].items():
        parts = [f'{name}:']
        gt = split.get('gt')
        if gt:
            parts.append(f'EPE {gt["all"]["epe"]:.3f} px, Fl-all {gt["all"]["fl_pct"]:.2f} %')
            if gt.get('noc') and gt['noc']['epe'] is not None:
                parts.append(f'EPE noc {gt["noc"]["epe"]:.3f} px')
        photo = split['photometric']['l1_mean']
        if photo is not None:
            parts.append(f'photometric {photo:.2f}')
        if split.get('fb_consistency'):
            parts.append(f'fb-consistent {split["fb_consistency"]["consistent_pct"]:.1f} %')
        lines.append(' '.join(parts))
    rt = metrics['runtime']
    if rt['mean_ms'] is not None:
        lines.append(
            f'runtime {rt["mean_ms"]:.1f} ms mean, {rt["median_ms"]:.1f} median, {rt["p95_ms"]:.1f} p95, '
            f'{rt["throughput_pairs_per_s"]:.2f} pairs/s'
        )
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())

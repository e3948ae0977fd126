# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluate LiteFlowNet2 on a rosbag2 bag or a flow dataset: metrics, flow files, a result bag, a report.

Examples::

    python -m lfn2_ros.evaluate --bag run1/ --topic /camera/image_raw --weights lfn2.pth --out eval/
    python -m lfn2_ros.evaluate --dataset MPI-Sintel/ --split sintel_final --weights lfn2.pth --out sintel/
    python -m lfn2_ros.evaluate --dataset KITTI2015/ --weights lfn2.pth --save-flow --out kitti/

Bags are read offline with ``rosbags`` (no ROS runtime): every consecutive pair of the image topic
is processed in order, deterministically, unlike a live ``ros2 bag play`` that drops frames. Pairs are
formed as the flow node forms them (docs/node.md#pairing-rules). A pair that cannot be formed or read
(a corrupt frame, a stamp going backwards, a change of size or encoding, unusable ground truth, a frame
missing from a dataset) is skipped and listed with its reason in metrics.json, the report and the
summary; ``--strict`` stops at the first one instead. Errors are one line on stderr (exit status 1);
``--debug`` adds the traceback.

Outputs in ``--out``: ``metrics.json`` (pooled per split), ``per_pair.csv``, ``report.html``,
optional flow files in ``flow/`` and a rosbag2 ``bag/`` with the input images, ``/optical_flow``
(lfn2_msgs/OpticalFlow), ``/optical_flow/flow`` (32FC2) and ``/optical_flow/visualization`` (bgr8).
This module is the command line; the run itself is :func:`lfn2_ros.evaluation.run.evaluate`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from lfn2_ros.evaluation.run import Estimator, evaluate

__all__ = ['build_parser', 'main']


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
    _add_input_arguments(p)
    _add_model_arguments(p)
    _add_pair_arguments(p)
    _add_output_arguments(p)
    p.add_argument('--num-threads', type=int, default=None, metavar='N',
                   help="torch CPU threads (default: torch's; 1 on small shared CPUs)")
    p.add_argument('--strict', action='store_true',
                   help='stop at the first pair that cannot be formed or read (corrupt frame, stamp going '
                   'backwards, size or encoding change, bad ground truth); default: skip and list it')
    p.add_argument('--debug', action='store_true', help='print the traceback of an error, not only its line')
    return p


def _add_input_arguments(p: argparse.ArgumentParser) -> None:
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


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
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


def _add_pair_arguments(p: argparse.ArgumentParser) -> None:
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


def _add_output_arguments(p: argparse.ArgumentParser) -> None:
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
    outg.add_argument('--no-progress', action='store_true',
                      help='no progress bar (it is off anyway when stderr is not a terminal)')


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        0 on success, 1 on an error a user can act on (one line on stderr; the traceback too with
        ``--debug``); argparse exits with 2 on malformed arguments.

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
                num_threads=args.num_threads,
            )

        metrics = evaluate(
            None, args.out, make_estimator=make_estimator, bag=args.bag, topic=args.topic,
            gt_topic=args.gt_topic, dataset=args.dataset, splits=args.split, stride=args.stride,
            max_pairs=args.max_pairs, start_s=args.start, end_s=args.end,
            save_flow=args.save_flow, write_bag=args.write_bag, bag_storage=args.bag_storage,
            fb_check=args.fb_check, viz_max_magnitude=args.viz_max_magnitude, overwrite=args.overwrite,
            progress=not args.no_progress, strict=args.strict,
            options={
                'weights': args.weights, 'random_weights': args.random_weights,
                'precision': args.precision, 'network_size': args.network_size,
            },
        )
    except (ValueError, FileNotFoundError, TypeError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f'evaluate: error: {" ".join(str(exc).split())}', file=sys.stderr)  # one line, always
        return 1
    except KeyboardInterrupt:
        print('evaluate: interrupted', file=sys.stderr)
        return 130
    print(_summary_text(metrics, args.out))
    return 0


def _summary_text(metrics: dict, out: str) -> str:
    lines = [f'{metrics["pairs"]} pairs, model {metrics["model"]} on {metrics["device"]}; outputs in {out}']
    skipped = metrics['input'].get('skipped') or []
    if skipped:
        lines.append(f'{len(skipped)} pairs skipped (listed in metrics.json and the report), e.g. '
                     f'{skipped[0]["split"]} {skipped[0]["pair"]}: {skipped[0]["reason"]}')
    lines.extend(f'warning: {w}' for w in metrics['input'].get('warnings') or [])
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

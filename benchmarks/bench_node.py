# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""flow_node under a live camera: what the node adds on top of the estimator.

The synthetic camera publishes at ``--rate`` Hz (default 30) for ``--seconds`` (default 60) at
``--width`` x ``--height`` (default 640x480) into flow_node, all in one process over real DDS. The
summary topic reports, per published flow, the estimator's own time, the end-to-end latency
(publication time minus the camera stamp), the receive latency (DDS + executor, stamp to callback) and
the queue time (how long the newest frame waited for the worker, busy with the previous pair: about half
a camera period on average whenever the model is slower than the camera). The node's own overhead is
latency - estimator - queue time (transport, decoding, pairing, message building, publication).
Memory: the process RSS sampled every ``--rss-every`` seconds from the first flow to the end.

Baseline of the ratios: the estimator's median time measured in the same run.
Weights: the embedded default, ``--weights PATH``, or ``--random-weights`` (speed only).

Usage: python benchmarks/bench_node.py [--seconds 60] [--rate 30] [--width 640] [--height 480]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from lfn2_msgs.msg import OpticalFlowSummary
from lfn2_ros.node.flow_node import FlowNode, build_estimator
from lfn2_ros.node.synthetic_camera import SyntheticCamera


def _rss_mb() -> float:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


class _Probe(Node):
    def __init__(self) -> None:
        super().__init__('bench_probe')
        self.summaries: list[OpticalFlowSummary] = []
        self.rss_first_mb = float('nan')
        self.create_subscription(OpticalFlowSummary, 'optical_flow/summary', self._on_summary, 100)

    def _on_summary(self, msg: OpticalFlowSummary) -> None:
        if not self.summaries:
            self.rss_first_mb = _rss_mb()
        self.summaries.append(msg)


def main() -> None:
    """Run the camera and the node for the given time and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seconds', type=float, default=60.0)
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--weights', default='')
    parser.add_argument('--random-weights', action='store_true', help='untrained model (speed only)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--rss-every', type=float, default=5.0, help='RSS sampling period, s')
    args = parser.parse_args()

    def factory(params):
        if args.random_weights:
            from lfn2_ros.inference import FlowEstimator

            return FlowEstimator(random_weights=True, device='cpu', num_threads=args.threads)
        return build_estimator(params)

    rclpy.init(args=[])
    executor = MultiThreadedExecutor(num_threads=3)
    flow = FlowNode(estimator_factory=factory, parameter_overrides=[
        Parameter('weights', value=args.weights), Parameter('device', value='cpu'),
        Parameter('num_threads', value=args.threads), Parameter('publish_visualization', value=False)])
    probe = _Probe()
    frames = int(args.seconds * args.rate)
    camera = SyntheticCamera(parameter_overrides=[
        Parameter('rate', value=args.rate), Parameter('width', value=args.width),
        Parameter('height', value=args.height), Parameter('num_frames', value=frames)])
    nodes = [flow, probe, camera]
    for node in nodes:
        executor.add_node(node)
    start = time.monotonic()
    rss_samples: list[tuple[float, float]] = []  # (s since start, MB), from the first flow on
    try:
        while camera.frames_published < frames and time.monotonic() - start < args.seconds * 3:
            executor.spin_once(timeout_sec=0.05)
            now = time.monotonic() - start
            if probe.summaries and (not rss_samples or now - rss_samples[-1][0] >= args.rss_every):
                rss_samples.append((now, _rss_mb()))
        wall_s = time.monotonic() - start
        rss_end = _rss_mb()
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()

    summaries = probe.summaries
    if len(summaries) < 4:
        raise SystemExit(f'bench_node: only {len(summaries)} flows arrived')
    inference = np.array([s.inference_time for s in summaries]) * 1e3
    latency = np.array([s.end_to_end_latency for s in summaries]) * 1e3
    skipped = np.array([s.frames_skipped for s in summaries])
    queued = np.array([s.queue_time for s in summaries]) * 1e3
    received = np.array([s.receive_latency for s in summaries]) * 1e3
    overhead = latency - inference - queued
    quarter = max(len(summaries) // 4, 1)
    est = float(np.median(inference))
    print(f'{frames} frames {args.width}x{args.height} at {args.rate:g} Hz in {wall_s:.1f} s; '
          f'{len(summaries)} flows ({len(summaries) / wall_s:.2f} Hz); torch threads {args.threads}')
    print(f'  estimator time (baseline)   median {est:8.1f} ms')
    print(f'  end-to-end latency          median {np.median(latency):8.1f} ms  '
          f'p95 {np.percentile(latency, 95):8.1f} ms  p95/estimator {np.percentile(latency, 95) / est:5.2f}x')
    print(f'  queue time (worker busy)    median {np.median(queued):8.1f} ms  '
          f'p95 {np.percentile(queued, 95):8.1f} ms  (camera period {1e3 / args.rate:.1f} ms)')
    print(f'  receive latency (DDS)       median {np.median(received):8.1f} ms  '
          f'p95 {np.percentile(received, 95):8.1f} ms  (included in the overhead)')
    print(f'  node overhead (lat-est-q)   median {np.median(overhead):8.1f} ms  '
          f'p95 {np.percentile(overhead, 95):8.1f} ms')
    print(f'  frames skipped per flow     median {np.median(skipped):8.1f}      total {skipped.sum()}')
    print(f'  latency first/last quarter  {np.median(latency[:quarter]):8.1f} / '
          f'{np.median(latency[-quarter:]):8.1f} ms')
    print(f'  RSS after first flow / end  {probe.rss_first_mb:8.1f} / {rss_end:8.1f} MB')
    print('  RSS over the run (s: MB)    ' + ', '.join(f'{t:.0f}: {mb:.0f}' for t, mb in rss_samples))


if __name__ == '__main__':
    main()

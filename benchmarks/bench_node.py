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
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

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


def _parser() -> argparse.ArgumentParser:
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
    parser.add_argument('--input-qos', default='sensor_data',
                        help="the node's input_qos (sensor_data: best effort, which loses large images over "
                             'Fast DDS UDP fragments under load; reliable: every frame arrives)')
    parser.add_argument('--camera-in-process', action='store_true',
                        help='run the camera in this process (default: its own process, as on a robot; '
                             'in one process its rendering competes with the node for the GIL)')
    return parser


@dataclass
class _Run:
    """What one run measured."""

    frames: int
    summaries: list
    wall_s: float
    frames_in: int
    rss_first_mb: float
    rss_end_mb: float
    rss_samples: list[tuple[float, float]]  # (s since start, MB), from the first flow on
    camera_where: str


def _run(args: argparse.Namespace) -> _Run:
    """Spin the camera, flow_node and the probe until the camera is done."""

    def factory(params):
        if args.random_weights:
            from lfn2_ros.inference import FlowEstimator

            return FlowEstimator(random_weights=True, device='cpu', num_threads=args.threads)
        return build_estimator(params)

    rclpy.init(args=[])
    executor = MultiThreadedExecutor(num_threads=3)
    flow = FlowNode(estimator_factory=factory, parameter_overrides=[
        Parameter('weights', value=args.weights), Parameter('device', value='cpu'),
        Parameter('num_threads', value=args.threads), Parameter('publish_visualization', value=False),
        Parameter('input_qos', value=args.input_qos)])
    flow.autostart()
    probe = _Probe()
    frames = int(args.seconds * args.rate)
    camera_params = {'rate': args.rate, 'width': args.width, 'height': args.height, 'num_frames': frames}
    nodes = [flow, probe]
    camera = camera_process = None
    if args.camera_in_process:
        camera = SyntheticCamera(
            parameter_overrides=[Parameter(k, value=v) for k, v in camera_params.items()])
        nodes.append(camera)
    else:
        ros_args = [a for k, v in camera_params.items() for a in ('-p', f'{k}:={v}')]
        camera_process = subprocess.Popen([sys.executable, '-m', 'lfn2_ros.node.synthetic_camera',
                                           '--ros-args', *ros_args])
    for node in nodes:
        executor.add_node(node)
    start = time.monotonic()
    rss_samples: list[tuple[float, float]] = []

    def camera_running() -> bool:
        if camera is not None:
            return camera.frames_published < frames
        # The camera process needs a few seconds to start; it then publishes for args.seconds.
        return time.monotonic() - start < args.seconds + 5.0 and camera_process.poll() is None

    try:
        while camera_running() and time.monotonic() - start < args.seconds * 3:
            executor.spin_once(timeout_sec=0.05)
            now = time.monotonic() - start
            if probe.summaries and (not rss_samples or now - rss_samples[-1][0] >= args.rss_every):
                rss_samples.append((now, _rss_mb()))
        wall_s = time.monotonic() - start
        rss_end = _rss_mb()
        frames_in = flow.frames_received
    finally:
        if camera_process is not None:
            camera_process.send_signal(signal.SIGINT)
            camera_process.wait(timeout=10)
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    where = 'in this process' if camera is not None else 'in its own process'
    return _Run(frames, probe.summaries, wall_s, frames_in, probe.rss_first_mb, rss_end, rss_samples, where)


def _report(args: argparse.Namespace, run: _Run) -> None:
    """Print the table of one run."""
    summaries, wall_s, frames_in, rss_samples = run.summaries, run.wall_s, run.frames_in, run.rss_samples
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
    print(f'{run.frames} frames {args.width}x{args.height} at {args.rate:g} Hz (camera {run.camera_where}) '
          f'in {wall_s:.1f} s; {len(summaries)} flows ({len(summaries) / wall_s:.2f} Hz); '
          f'torch threads {args.threads}')
    print(f"  frames reaching the node    {frames_in} ({frames_in / wall_s:.1f} Hz over the run)")
    print(f'  estimator time (baseline)   median {est:8.1f} ms')
    print(f'  end-to-end latency          median {np.median(latency):8.1f} ms  '
          f'p95 {np.percentile(latency, 95):8.1f} ms  p95/estimator {np.percentile(latency, 95) / est:5.2f}x')
    print(f'  queue time (worker busy)    median {np.median(queued):8.1f} ms  '
          f'p95 {np.percentile(queued, 95):8.1f} ms  (camera period {1e3 / args.rate:.1f} ms)')
    print(f'  receive latency (DDS)       median {np.median(received):8.1f} ms  '
          f'p95 {np.percentile(received, 95):8.1f} ms  (included in the overhead)')
    print(f'  node overhead (lat-est-q)   median {np.median(overhead):8.1f} ms  '
          f'p95 {np.percentile(overhead, 95):8.1f} ms')
    handling = overhead - received
    print(f'  node handling (... - recv)  median {np.median(handling):8.1f} ms  '
          f'p95 {np.percentile(handling, 95):8.1f} ms  (decode, pairing, messages, publication)')
    print(f'  frames skipped per flow     median {np.median(skipped):8.1f}      total {skipped.sum()}  '
          f'(input QoS {args.input_qos})')
    print(f'  latency first/last quarter  {np.median(latency[:quarter]):8.1f} / '
          f'{np.median(latency[-quarter:]):8.1f} ms')
    print(f'  RSS after first flow / end  {run.rss_first_mb:8.1f} / {run.rss_end_mb:8.1f} MB')
    print('  RSS over the run (s: MB)    ' + ', '.join(f'{t:.0f}: {mb:.0f}' for t, mb in rss_samples))
    steady = [(t, mb) for t, mb in rss_samples if t >= rss_samples[0][0] + 10.0]  # after the warm-up
    if len(steady) >= 4:
        t, mb = np.array(steady).T
        half = len(t) // 2
        print(f'  RSS trend after 10 s        {np.polyfit(t, mb, 1)[0] * 60:+.1f} MB/min (least squares); '
              f'median first/second half {np.median(mb[:half]):.0f} / {np.median(mb[half:]):.0f} MB')



def main() -> None:
    """Run the camera and the node for the given time and print the table."""
    args = _parser().parse_args()
    _report(args, _run(args))


if __name__ == '__main__':
    main()

# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``make demo``: the synthetic camera and flow_node in one process, over real DDS.

Publishes a fixed number of synthetic frames with a known motion, runs the flow node on them
(the real FlowEstimator with the embedded default weights, or ``--weights``), writes each input
frame beside the colour-coded flow as PNG (and an MP4 when OpenCV has a writer) to ``demo_out/``,
and prints throughput, inference time and latency. Without weights it says what is missing and
exits non-zero; it never substitutes another model.

Usage: ``python -m lfn2_ros.node.demo [--frames N] [--rate HZ] [--width PX] [--height PX]
[--motion DX DY] [--weights PATH] [--device DEV] [--out DIR]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from lfn2_msgs.msg import OpticalFlow, OpticalFlowSummary
from lfn2_ros.evaluation.visualize import flow_to_color
from lfn2_ros.node.conversions import image_to_bgr8, time_to_ns
from lfn2_ros.node.flow_node import FlowNode, StartupError
from lfn2_ros.node.synthetic_camera import SyntheticCamera

__all__ = ['main']


class _Collector(Node):
    """Keeps the input frames, flows and summaries the demo writes and measures."""

    def __init__(self) -> None:
        super().__init__('demo_collector')
        self.frames: dict[int, np.ndarray] = {}
        self.flows: list[tuple[int, int, np.ndarray, float]] = []  # stamp, previous, flow, receive time
        self.summaries: list[OpticalFlowSummary] = []
        self.create_subscription(Image, 'image', self._on_image, 100)
        self.create_subscription(OpticalFlow, 'optical_flow', self._on_flow, 100)
        self.create_subscription(OpticalFlowSummary, 'optical_flow/summary', self.summaries.append, 100)

    def _on_image(self, msg: Image) -> None:
        self.frames[time_to_ns(msg.header.stamp)] = image_to_bgr8(msg)

    def _on_flow(self, msg: OpticalFlow) -> None:
        flow = np.frombuffer(msg.flow.data, np.float32).reshape(msg.flow.height, msg.flow.width, 2)
        self.flows.append((time_to_ns(msg.header.stamp), time_to_ns(msg.previous_stamp), flow.copy(),
                           time.monotonic()))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='lfn2_ros.node.demo', description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=40, help='camera frames to publish (default 40)')
    parser.add_argument('--rate', type=float, default=10.0, help='camera rate in Hz (default 10)')
    parser.add_argument('--width', type=int, default=320, help='image width in px (default 320)')
    parser.add_argument('--height', type=int, default=240, help='image height in px (default 240)')
    parser.add_argument('--motion', type=float, nargs=2, default=(3.0, 1.5), metavar=('DX', 'DY'),
                        help='scene motion in px per frame (+x right, +y down; default 3 1.5)')
    parser.add_argument('--weights', default='', help='checkpoint path (default: the embedded weights)')
    parser.add_argument('--device', default='auto', help='auto | cpu | cuda[:N] (default auto)')
    parser.add_argument('--out', type=Path, default=Path('demo_out'), help='output folder (default demo_out)')
    return parser.parse_args(argv)


def _write_outputs(collector: _Collector, out: Path, rate: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    writer = None
    written = 0
    for index, (_, previous, flow, _) in enumerate(collector.flows):
        frame = collector.frames.get(previous)
        if frame is None:
            continue
        color = flow_to_color(flow)
        cv2.imwrite(str(out / f'pair_{index:04d}_input.png'), frame)
        cv2.imwrite(str(out / f'pair_{index:04d}_flow.png'), color)
        side = np.hstack([frame, color])
        if writer is None:
            fourcc = cv2.VideoWriter_fourcc(*'mp4v')
            writer = cv2.VideoWriter(str(out / 'demo.mp4'), fourcc, max(rate / 2, 1.0), side.shape[1::-1])
            if not writer.isOpened():
                print('demo: OpenCV has no MP4 writer here; PNGs only')
        if writer.isOpened():
            writer.write(side)
        written += 1
    if writer is not None:
        writer.release()
    return written


def _report(collector: _Collector, args: argparse.Namespace, written: int) -> None:
    flows = collector.flows
    span = flows[-1][3] - flows[0][3] if len(flows) > 1 else float('nan')
    latency = np.array([s.end_to_end_latency for s in collector.summaries]) * 1e3
    inference = np.array([s.inference_time for s in collector.summaries]) * 1e3
    skipped = sum(s.frames_skipped for s in collector.summaries)
    mean_u = np.nanmedian([s.mean_u for s in collector.summaries])
    mean_v = np.nanmedian([s.mean_v for s in collector.summaries])
    print(f'demo: {len(flows)} flows from {args.frames} frames ({skipped} skipped while the model was busy)')
    print(f'demo: throughput {(len(flows) - 1) / span:.2f} flows/s; inference {np.mean(inference):.1f} ms '
          f'(median {np.median(inference):.1f}); latency mean {np.mean(latency):.1f} ms, '
          f'p95 {np.percentile(latency, 95):.1f} ms')
    print(f'demo: median flow ({mean_u:.2f}, {mean_v:.2f}) px per pair; scene motion {tuple(args.motion)} px '
          'per frame (times 1 + skipped frames)')
    print(f'demo: wrote {written} input/flow PNG pairs to {args.out}/')


def main(argv: list[str] | None = None) -> int:
    """Run the demo.

    Args:
        argv: command-line arguments without the program name; None = ``sys.argv[1:]``.

    Returns:
        0 on success; 1 when the model cannot be loaded (e.g. no default weights) or no flow arrived.

    """
    args = _parse(argv)
    rclpy.init(args=[])
    nodes: list[Node] = []
    executor = MultiThreadedExecutor(num_threads=3)
    try:
        try:
            flow_node = FlowNode(parameter_overrides=[
                Parameter('weights', value=args.weights), Parameter('device', value=args.device),
                Parameter('publish_visualization', value=False)])
        except StartupError as exc:
            print(f'demo: {exc}', file=sys.stderr)
            print('demo: the demo needs trained LiteFlowNet2 weights: the embedded default '
                  '(lfn2_ros/weights/liteflownet2_default.pth) or --weights PATH', file=sys.stderr)
            return 1
        collector = _Collector()
        camera = SyntheticCamera(parameter_overrides=[
            Parameter('rate', value=args.rate), Parameter('width', value=args.width),
            Parameter('height', value=args.height), Parameter('motion_x', value=args.motion[0]),
            Parameter('motion_y', value=args.motion[1]), Parameter('num_frames', value=args.frames)])
        nodes = [flow_node, collector, camera]
        for node in nodes:
            executor.add_node(node)
        print(f'demo: {args.frames} frames {args.width}x{args.height} at {args.rate} Hz through '
              f'{flow_node.model_name()} on {flow_node.device_name()}')
        last_change, count = time.monotonic(), 0
        while rclpy.ok():
            executor.spin_once(timeout_sec=0.05)
            if len(collector.flows) != count:
                last_change, count = time.monotonic(), len(collector.flows)
            # Done once every frame is out and the worker has been quiet for a while.
            if camera.frames_published >= args.frames and time.monotonic() - last_change > 5.0:
                break
        if not collector.flows:
            print('demo: no optical flow was received', file=sys.stderr)
            return 1
        written = _write_outputs(collector, args.out, args.rate)
        _report(collector, args, written)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    raise SystemExit(main())

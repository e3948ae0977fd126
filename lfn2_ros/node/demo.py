# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``make demo``: a camera over a real photo with objects moving on their own, through flow_node over DDS.

The scene (node/demo_scene.py): scikit-image's coffee photo seen by a translating camera
(``--motion``), a cat and an astronaut cut-out each moving with its own motion. Frames are published
at ``--rate`` into the flow node (the real FlowEstimator with the embedded default weights, or
``--weights``); the demo writes, per flow, the input frame | the flow | the true flow side by side as PNG
(and an MP4 when OpenCV has a writer) to ``demo_out/``, and prints the end-point error against the
known motion (all pixels, objects, background) beside the zero-flow baseline, plus throughput and
latency. Without weights it says what is missing and exits non-zero; it never substitutes another model.

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
from std_msgs.msg import Header

from lfn2_msgs.msg import OpticalFlow, OpticalFlowSummary
from lfn2_ros.evaluation.visualize import flow_to_color
from lfn2_ros.node.conversions import array_to_image, ns_to_time, time_to_ns
from lfn2_ros.node.demo_scene import PhotoScene
from lfn2_ros.node.flow_node import FlowNode, StartupError
from lfn2_ros.node.qos import PUBLISHER_QOS

__all__ = ['main']


class _SceneCamera(Node):
    """Publishes the scene's frames at ``rate`` Hz, stamped ``start + index / rate``."""

    def __init__(self, scene: PhotoScene, rate: float, frames: int) -> None:
        super().__init__('demo_camera')
        self.scene, self.rate, self.frames = scene, rate, frames
        self.start_ns = self.get_clock().now().nanoseconds
        self.frames_published = 0
        qos = PUBLISHER_QOS['reliable']
        self._pub = self.create_publisher(Image, 'image', qos)
        self._timer = self.create_timer(1.0 / rate, self._tick)

    def index(self, stamp_ns: int) -> int:
        """Frame index of a stamp."""
        return round((stamp_ns - self.start_ns) * self.rate / 1e9)

    def _tick(self) -> None:
        if self.frames_published >= self.frames:
            self._timer.cancel()
            return
        k = self.frames_published
        header = Header(stamp=ns_to_time(self.start_ns + round(k * 1e9 / self.rate)), frame_id='demo_camera')
        self._pub.publish(array_to_image(self.scene.frame(k), header))
        self.frames_published += 1


class _Collector(Node):
    """Keeps the flows and summaries the demo writes and measures."""

    def __init__(self) -> None:
        super().__init__('demo_collector')
        self.flows: list[tuple[int, int, np.ndarray, float]] = []  # stamp, previous, flow, receive time
        self.summaries: list[OpticalFlowSummary] = []
        self.create_subscription(OpticalFlow, 'optical_flow', self._on_flow, 100)
        self.create_subscription(OpticalFlowSummary, 'optical_flow/summary', self.summaries.append, 100)

    def _on_flow(self, msg: OpticalFlow) -> None:
        flow = np.frombuffer(msg.flow.data, np.float32).reshape(msg.flow.height, msg.flow.width, 2)
        self.flows.append((time_to_ns(msg.header.stamp), time_to_ns(msg.previous_stamp), flow.copy(),
                           time.monotonic()))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='lfn2_ros.node.demo', description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=24, help='camera frames to publish (default 24)')
    parser.add_argument('--rate', type=float, default=2.0,
                        help='camera rate in Hz (default 2: a CPU model keeps up; raise it on a GPU)')
    parser.add_argument('--width', type=int, default=320, help='image width in px (default 320)')
    parser.add_argument('--height', type=int, default=240, help='image height in px (default 240)')
    parser.add_argument('--motion', type=float, nargs=2, default=(3.0, 1.5), metavar=('DX', 'DY'),
                        help='camera (background) motion in px per frame (+x right, +y down; default 3 1.5)')
    parser.add_argument('--weights', default='', help='checkpoint path (default: the embedded weights)')
    parser.add_argument('--device', default='auto', help='auto | cpu | cuda[:N] (default auto)')
    parser.add_argument('--out', type=Path, default=Path('demo_out'), help='output folder (default demo_out)')
    return parser.parse_args(argv)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def _evaluate(collector: _Collector, camera: _SceneCamera) -> list[dict]:
    """Per flow: the indices, the true flow and the EPE (all, objects, background, zero flow)."""
    results = []
    for stamp, previous, flow, _ in collector.flows:
        first, second = camera.index(previous), camera.index(stamp)
        truth, on_object = camera.scene.flow(first, second)
        epe = np.linalg.norm(flow - truth, axis=2)
        zero = np.linalg.norm(truth, axis=2)
        results.append({'first': first, 'second': second, 'flow': flow, 'truth': truth,
                        'epe': float(epe.mean()),
                        'epe_objects': float(epe[on_object].mean()) if on_object.any() else float('nan'),
                        'epe_background': float(epe[~on_object].mean()), 'zero': float(zero.mean())})
    return results


def _write_outputs(results: list[dict], camera: _SceneCamera, out: Path, rate: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    writer = None
    scale = max(float(np.abs(r['truth']).max()) for r in results) if results else None
    for index, result in enumerate(results):
        frame = camera.scene.frame(result['first'])
        color = flow_to_color(result['flow'], max_magnitude=scale)
        truth = flow_to_color(result['truth'], max_magnitude=scale)
        cv2.imwrite(str(out / f'pair_{index:04d}_input.png'), frame)
        cv2.imwrite(str(out / f'pair_{index:04d}_flow.png'), color)
        side = np.hstack([_label(frame, f'input {result["first"]} -> {result["second"]}'),
                          _label(color, f'flow, EPE {result["epe"]:.2f} px'), _label(truth, 'true flow')])
        cv2.imwrite(str(out / f'pair_{index:04d}_side.png'), side)
        if writer is None:
            fourcc = cv2.VideoWriter_fourcc(*'mp4v')
            writer = cv2.VideoWriter(str(out / 'demo.mp4'), fourcc, max(rate / 2, 1.0), side.shape[1::-1])
            if not writer.isOpened():
                print('demo: OpenCV has no MP4 writer here; PNGs only')
        if writer.isOpened():
            writer.write(side)
    if writer is not None:
        writer.release()
    return len(results)


def _report(collector: _Collector, results: list[dict], args: argparse.Namespace, written: int) -> None:
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
    print(f'demo: median flow ({mean_u:.2f}, {mean_v:.2f}) px per pair; camera motion {tuple(args.motion)} '
          'px per frame (times 1 + skipped frames)')
    mean = {key: float(np.nanmean([r[key] for r in results])) for key in
            ('epe', 'epe_objects', 'epe_background', 'zero')}
    print(f'demo: EPE against the known motion {mean["epe"]:.2f} px '
          f'(moving objects {mean["epe_objects"]:.2f}, background {mean["epe_background"]:.2f}); '
          f'zero flow would be {mean["zero"]:.2f} px')
    print(f'demo: wrote {written} input | flow | true flow PNGs to {args.out}/')


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
                Parameter('publish_visualization', value=False), Parameter('input_qos', value='reliable'),
                # A CPU model is slower than the camera: pair frames up to 10 frames apart (the true
                # flow is known for any gap) instead of restarting after the default 0.5 s.
                Parameter('max_pair_gap', value=max(0.5, 10.0 / args.rate))])
            nodes.append(flow_node)
            flow_node.autostart()
        except StartupError as exc:
            print(f'demo: {exc}', file=sys.stderr)
            print('demo: the demo needs trained LiteFlowNet2 weights: the embedded default '
                  '(lfn2_ros/weights/liteflownet2_default.pth) or --weights PATH', file=sys.stderr)
            return 1
        collector = _Collector()
        camera = _SceneCamera(PhotoScene(args.height, args.width, tuple(args.motion)), args.rate, args.frames)
        nodes += [collector, camera]
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
        results = _evaluate(collector, camera)
        written = _write_outputs(results, camera, args.out, args.rate)
        _report(collector, results, args, written)
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

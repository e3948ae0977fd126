# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Helpers for in-process ROS graph tests: an isolated context spun in a thread, and a probe node."""

from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from lfn2_msgs.msg import OpticalFlow, OpticalFlowSummary
from lfn2_ros.node.conversions import array_to_image, ns_to_time


def wait_for(predicate, timeout_s: float = 10.0, period_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period_s)
    return predicate()


class Graph:
    """One rclpy context with a multi-threaded executor spinning in a thread."""

    def __init__(self, num_threads: int = 2) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=num_threads, context=self.context)
        self.nodes: list[Node] = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown races end the spin thread
            pass

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        for node in self.nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)


class Probe(Node):
    """Publishes images on ``image`` and records every output of the flow node."""

    def __init__(self, context, image_topic: str = 'image', light: bool = False, prefix: str = '',
                 name: str = 'probe') -> None:
        super().__init__(name, context=context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, image_topic, qos)
        self.flows: list[OpticalFlow] = []
        self.plain: list[Image] = []
        self.summaries: list[OpticalFlowSummary] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.light = light  # keep metadata only (memory tests must not measure the probe's own storage)
        self.create_subscription(OpticalFlow, f'{prefix}optical_flow', self._on_flow, 50)
        self.create_subscription(Image, f'{prefix}optical_flow/flow', self._on_plain, 50)
        self.create_subscription(OpticalFlowSummary, f'{prefix}optical_flow/summary', self.summaries.append,
                                 50)
        self.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 50)

    def _on_flow(self, msg: OpticalFlow) -> None:
        if self.light:
            msg.flow.data = b''
            msg.confidence.data = b''
        self.flows.append(msg)

    def _on_plain(self, msg: Image) -> None:
        if self.light:
            msg.data = b''
        self.plain.append(msg)

    def image(self, array: np.ndarray, stamp_ns: int, frame_id: str = 'cam_optical', encoding=None) -> Image:
        msg = array_to_image(array, Header(stamp=ns_to_time(stamp_ns), frame_id=frame_id))
        if encoding is not None:
            msg.encoding = encoding
        return msg


def flow_array(image: Image) -> np.ndarray:
    assert image.encoding == '32FC2'
    return np.frombuffer(image.data, np.float32).reshape(image.height, image.width, 2)
